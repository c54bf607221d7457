"""The graph on production storage, as deploy/dagster/dagster.prod.yaml and the prod resources
describe it: the Dagster instance (runs, events, schedules) on a real PostgreSQL, the Delta lake
and the published location on an S3 API (moto's server on loopback), MLflow with a PostgreSQL
backend store and its artifacts on S3. Plus what several pods writing one Delta table on S3 at
once must not do: lose a commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from attrition_platform.contracts.audit_logs import PREDICTION_LOG, read_log
from attrition_platform.contracts.object_store import s3_client_from_env
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.resources.alerts import Alerts
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.mlflow_registry import MlflowRegistry
from attrition_platform.resources.published import PublishedLocation
from attrition_platform_tests.defs.conftest import materialize_snapshot, materialize_training
from attrition_platform_tests.s3_server import new_bucket, s3_options, s3_server  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PROD_INSTANCE = ROOT / "deploy" / "dagster" / "dagster.prod.yaml"
# Small enough for a minute of work, large enough for a time-aware split with a test window.
HRIS = HrisSource(employees=300, months=10, end_date="2026-11-01", seed=23)


def _create_database(server_url: str, name: str) -> str:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.engine.make_url(server_url).set(database=name))


@pytest.fixture(scope="module")
def world(postgres_url: str, s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: F811
    """One production-shaped run of the graph: every snapshot, then training."""
    suffix = uuid.uuid4().hex[:8]
    dagster_db = _create_database(postgres_url, f"dagster_{suffix}")
    mlflow_db = _create_database(postgres_url, f"mlflow_{suffix}")
    options = s3_options(s3_server)
    bucket = new_bucket(options)
    url = sa.engine.make_url(dagster_db)
    env = {
        **options,
        # what the chart's pods get: PostgreSQL from the environment (Vault), TLS off here only
        "DAGSTER_PG_HOST": url.host or "", "DAGSTER_PG_PORT": str(url.port), "DAGSTER_PG_USER": url.username or "",
        "DAGSTER_PG_PASSWORD": "unused-trust-auth", "DAGSTER_PG_DB": url.database or "", "PGSSLMODE": "disable",
        "ATTRITION_LOG_BUCKET": bucket,
    }
    patch = pytest.MonkeyPatch()
    for k, v in env.items():
        patch.setenv(k, v)
    patch.delenv("AWS_SESSION_TOKEN", raising=False)
    home = tmp_path_factory.mktemp("prod")
    config = yaml.safe_load(PROD_INSTANCE.read_text())
    # A pod per run needs a cluster: runs here execute in process (`dg.materialize`); the
    # launcher's config is checked against its schema by test_dagster_chart.py.
    config.pop("run_launcher")
    config["compute_logs"]["config"]["endpoint_url"] = s3_server  # AWS itself needs none
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    instance = dg.DagsterInstance.from_config(str(home))
    resources = {
        "hris": HRIS,
        "alerts": Alerts(jsonl_path=str(home / "alerts.jsonl"), slack_webhook_url="", pagerduty_routing_key=""),
        "lake": DeltaLake(root=f"s3://{bucket}/lake"),
        "published": PublishedLocation(uri=f"s3://{bucket}/serving"),
        "mlflow": MlflowRegistry(tracking_uri=mlflow_db, artifact_location=f"s3://{bucket}/mlflow"),
    }
    try:
        snapshots = [materialize_snapshot(resources, d.isoformat(), instance) for d in HRIS.extract_dates()]
        training = materialize_training(resources, instance)
        yield {"instance": instance, "resources": resources, "bucket": bucket, "options": options,
               "dagster_db": dagster_db, "mlflow_db": mlflow_db, "snapshots": snapshots, "training": training}
    finally:
        instance.dispose()
        patch.undo()


def _keys(options: dict[str, str], bucket: str, prefix: str) -> list[str]:
    pages = s3_client_from_env(options).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_the_prod_instance_keeps_runs_events_and_schedules_in_postgresql(world: dict[str, Any]) -> None:
    instance: dg.DagsterInstance = world["instance"]
    assert all(r.success for r in world["snapshots"]) and world["training"].success
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    runs = instance.get_runs()
    assert len(runs) == len(world["snapshots"]) + 1 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    engine = sa.create_engine(world["dagster_db"])
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"runs", "event_logs", "jobs", "job_ticks", "instigators"} <= tables
        in_db = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()
        materialized = conn.execute(sa.text(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
            "AND asset_key = :key"), {"key": dg.AssetKey("candidate_model").to_string()}).scalar_one()
    engine.dispose()
    assert in_db == len(runs) and materialized == 1
    # partitions of the snapshot assets are recorded per date
    latest = instance.get_latest_materialization_event(dg.AssetKey("employee_features"))
    assert latest is not None and latest.dagster_event.partition == HRIS.extract_dates()[-1].isoformat()


def test_the_lake_and_the_model_live_on_s3_and_mlflow_in_postgresql(world: dict[str, Any]) -> None:
    bucket, options = world["bucket"], world["options"]
    for table in ("hris_employees", "employee_features", "training_set"):
        log = _keys(options, bucket, f"lake/{table}/_delta_log/")
        assert any(k.endswith(".json") for k in log), table
    lake: DeltaLake = world["resources"]["lake"]
    assert lake.version("employee_features") == len(world["snapshots"]) - 1  # one commit per snapshot
    mlflow: MlflowRegistry = world["resources"]["mlflow"]
    version = mlflow.client().get_model_version_by_alias("attrition", "challenger")
    bundle = ModelBundle.from_mlflow(mlflow.model_uri("challenger"), mlflow.tracking_uri)
    assert bundle.metadata["model_version"] == str(version.version)
    run_id = bundle.metadata["mlflow_run_id"]
    artifacts = _keys(options, bucket, "mlflow/")
    assert any(run_id in k or "models/" in k for k in artifacts) and any(k.endswith("booster.ubj") for k in artifacts)
    engine = sa.create_engine(world["mlflow_db"])
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM runs WHERE run_uuid = :id"), {"id": run_id}).scalar_one()
        alias = conn.execute(sa.text("SELECT version FROM registered_model_aliases WHERE alias = 'challenger'")).scalar_one()
    engine.dispose()
    assert stored == 1 and str(alias) == str(version.version)


WRITER = textwrap.dedent(
    """
    import sys, uuid, datetime as dt
    from attrition_platform.contracts.audit_logs import PredictionRecord, append_predictions
    from attrition_platform.contracts.storage_options import storage_options_from_env
    lake, writer, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for b in range(batches):
        rows = [PredictionRecord(f"{writer}-{b}-{i}-{uuid.uuid4().hex[:6]}", dt.datetime.now(dt.timezone.utc),
                                 f"pod-{writer}", 7, "1", "live", None, 0.25, "low", ()) for i in range(2)]
        append_predictions(lake, rows, storage_options_from_env())
    print("done")
    """
)


def test_pods_appending_to_one_delta_log_on_s3_at_once_lose_no_commit(s3_server: str, tmp_path: Path) -> None:  # noqa: F811
    """Three writers (three serving pods' audit flushes) append 12 batches each to the same
    prediction_log on S3 at the same moment. deltalake commits through S3's conditional put
    (If-None-Match): a writer that loses the race for a log version retries on the next, so
    every batch lands once, and no DynamoDB lock is needed."""
    options = s3_options(s3_server)
    bucket = new_bucket(options)
    lake = f"s3://{bucket}/lake"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ATTRITION_"))} | options
    writers = [
        subprocess.Popen([sys.executable, str(script), lake, str(w), "12"], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(3)
    ]
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "done", err[-2000:]
    log = read_log(lake, PREDICTION_LOG, storage_options=options)
    ids = log["prediction_id"]
    assert len(ids) == 3 * 12 * 2 and len(set(ids)) == len(ids)
    assert {i.split("-")[0] for i in ids} == {"0", "1", "2"}
    commits = [k for k in _keys(options, bucket, f"lake/{PREDICTION_LOG}/_delta_log/") if k.endswith(".json")]
    assert len(commits) >= 3 * 12  # one commit per batch (plus the table's creation)
    print(json.dumps({"commits": len(commits)}))
