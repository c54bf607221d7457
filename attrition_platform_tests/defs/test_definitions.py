"""The code location loads, and the asset graph has exactly the shape the docs describe."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

EXPECTED_EDGES = {
    "hris_system": set(),
    "hris_employees": {"hris_system"},
    "hris_terminations": {"hris_system"},
    "employee_features": {"hris_employees"},
    "training_set": {"employee_features", "hris_terminations"},
    "candidate_model": {"training_set"},
    "model_evaluation": {"candidate_model", "training_set"},
    "fairness_report": {"model_evaluation"},
    "promotion_gate": {"model_evaluation", "fairness_report"},
    "production_model": {"promotion_gate"},
    "nightly_scores": {"employee_features", "production_model"},
    "prediction_log": set(),
    "action_log": set(),
    "recall_monitor": {"nightly_scores", "hris_terminations", "prediction_log"},
    "drift_report": {"training_set", "production_model", "prediction_log"},
    "retention_purge": {"prediction_log", "action_log"},
}
EXPECTED_GROUPS = {
    "hris_system": "hris",
    "hris_employees": "hris",
    "hris_terminations": "hris",
    "employee_features": "features",
    "training_set": "training",
    "candidate_model": "training",
    "model_evaluation": "training",
    "fairness_report": "governance",
    "promotion_gate": "governance",
    "production_model": "governance",
    "nightly_scores": "scoring",
    "prediction_log": "audit",
    "action_log": "audit",
    "recall_monitor": "monitoring",
    "drift_report": "monitoring",
    "retention_purge": "privacy",
}


@pytest.fixture
def definitions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dg.Definitions:
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path))
    from attrition_platform.definitions import defs

    return defs()


def test_code_location_is_loadable(definitions: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(definitions)


def test_asset_graph_keys_edges_and_groups(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    edges = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert edges == EXPECTED_EDGES
    assert groups == EXPECTED_GROUPS


def test_checks_cover_contract_keys_exits_leakage_and_balance(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {
        ("hris_employees", "hris_contract"),
        ("hris_employees", "hris_no_nulls"),
        ("hris_employees", "hris_unique_keys"),
        ("hris_employees", "hris_headcount_change"),
        ("hris_terminations", "terminations_unique_exits"),
        ("hris_terminations", "terminations_type_domain"),
        ("hris_terminations", "terminations_not_after_snapshot"),
        ("hris_terminations", "terminations_monotone"),
        ("employee_features", "features_not_after_snapshot"),
        ("training_set", "training_label_leakage"),
        ("training_set", "training_class_balance"),
        ("fairness_report", "fairness_gap_within_limit"),
        ("recall_monitor", "recall_within_limit"),
        ("drift_report", "drift_psi_within_limit"),
    }


def test_jobs_and_schedules(definitions: dg.Definitions) -> None:
    snapshot = definitions.resolve_job_def("snapshot")
    train = definitions.resolve_job_def("train_model")
    assert snapshot.partitions_def is not None
    assert {k.to_user_string() for k in snapshot.asset_layer.executable_asset_keys} == {
        "hris_employees", "hris_terminations", "employee_features",
    }
    assert {k.to_user_string() for k in train.asset_layer.executable_asset_keys} == {
        "training_set", "candidate_model", "model_evaluation",
        "fairness_report", "promotion_gate", "production_model",
    }
    promote = definitions.resolve_job_def("promote")
    assert {k.to_user_string() for k in promote.asset_layer.executable_asset_keys} == {
        "fairness_report", "promotion_gate", "production_model",
    }
    scores = definitions.resolve_job_def("nightly_scoring")
    assert scores.partitions_def is not None
    assert {k.to_user_string() for k in scores.asset_layer.executable_asset_keys} == {"nightly_scores"}
    monitoring = definitions.resolve_job_def("monitoring")
    assert {k.to_user_string() for k in monitoring.asset_layer.executable_asset_keys} == {
        "prediction_log", "action_log", "drift_report", "recall_monitor",
    }
    crons = {s.name: (s.cron_schedule, s.job_name) for s in definitions.schedules or []}
    assert crons == {
        "daily_snapshots": ("0 2 * * *", "snapshot"),
        "nightly_scores_schedule": ("0 3 * * *", "nightly_scoring"),
        "daily_monitoring": ("0 5 * * *", "monitoring"),
        "weekly_retrain": ("0 4 * * 0", "train_model"),
        "monthly_retrain": ("0 4 1 * *", "train_model"),
        "quarterly_fairness_audit": ("0 6 1 1,4,7,10 *", "fairness_audit"),
        "hourly_retention_purge": ("30 * * * *", "retention"),
    }
    sensors = {s.name: s.job_name if s.has_jobs else None for s in definitions.sensors or []}
    assert sensors == {
        "hris_extract_sensor": "snapshot",
        "run_failure_alert": None,
        "drift_sensor": "train_model",
        "recall_sensor": "train_model",
        "fairness_alert_sensor": None,
    }


def test_only_sensors_that_act_on_reports_or_failures_start_by_themselves(definitions: dg.Definitions) -> None:
    """A fresh install must not train or land data by itself (docs/governance.md, Automation):
    every schedule and the HRIS sensor start stopped; the report and alert sensors run."""
    stopped = dg.DefaultScheduleStatus.STOPPED
    assert {s.name: s.default_status for s in definitions.schedules or []} == {
        s.name: stopped for s in definitions.schedules or []
    }
    running = {s.name for s in definitions.sensors or [] if s.default_status == dg.DefaultSensorStatus.RUNNING}
    assert running == {"run_failure_alert", "drift_sensor", "recall_sensor", "fairness_alert_sensor"}


def test_partitions_are_the_extract_dates_the_hris_reports(definitions: dg.Definitions) -> None:
    """The sensor registers exactly the source's extract dates (monthly for the demo company),
    asks for one run per new date, and asks for nothing once they are registered."""
    sensor = definitions.resolve_sensor_def("hris_extract_sensor")
    hris = (definitions.resources or {})["hris"]
    dates = [d.isoformat() for d in hris.extract_dates()]
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"hris": hris})
        result = sensor(context)
        assert [r.partition_key for r in result.run_requests] == dates
        assert [r.run_key for r in result.run_requests] == dates
        assert all(d.endswith("-01") for d in dates) and len(dates) == 36
        (seen,) = result.asset_events  # the sensor tells hris_system what it found
        assert seen.asset_key == dg.AssetKey("hris_system")
        assert seen.metadata["last_extract"].value == dates[-1]
        assert seen.metadata["extract_dates"].value == 36
        instance.add_dynamic_partitions("snapshot_date", dates)
        again = sensor(dg.build_sensor_context(instance=instance, resources={"hris": hris}))
        assert isinstance(again, dg.SkipReason)


def test_resources_follow_the_data_directory(definitions: dg.Definitions, tmp_path: Path) -> None:
    resources = definitions.resources or {}
    assert Path(resources["lake"].root) == tmp_path / "lake"
    assert resources["mlflow"].tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert resources["hris"].kind == "synthetic"
    assert Path(resources["alerts"].record_path()) == tmp_path / "alerts" / "alerts.jsonl"


def test_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from attrition_platform.settings import environment

    monkeypatch.setenv("ATTRITION_ENV", "staging")
    with pytest.raises(ValueError, match="ATTRITION_ENV"):
        environment()


def test_every_check_says_what_it_guards_and_every_asset_links_its_code(
    definitions: dg.Definitions,
) -> None:
    graph = definitions.resolve_asset_graph()
    undescribed = [k.name for k in graph.asset_check_keys if not (graph.get(k).description or "").strip()]
    assert undescribed == []
    unreferenced = [
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if not graph.get(k).metadata.get("dagster/code_references")
    ]
    assert unreferenced == []
    code = graph.get(dg.AssetKey("hris_employees")).metadata["dagster/code_references"]
    ref = code.code_references[0]
    assert Path(ref.file_path).name == "hris_assets.py"
    lines = Path(ref.file_path).read_text().splitlines()
    assert lines[ref.line_number - 1].startswith("@dg.asset")  # the decorator of ...
    assert any(line.startswith("def hris_employees(") for line in lines[ref.line_number : ref.line_number + 5])


def test_the_project_names_its_code_location_as_the_workspace_does() -> None:
    """Otherwise Dagster assumes the folder name (a fresh clone: `attrition-platform`) and warns
    on every load that it differs from the name workspace.yaml registers."""
    import tomllib

    import yaml

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    workspace = yaml.safe_load((root / "workspace.yaml").read_text())
    names = {entry["python_module"]["location_name"] for entry in workspace["load_from"]}
    assert names == {project["code_location_name"]}
