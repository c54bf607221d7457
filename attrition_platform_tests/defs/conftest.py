from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attrition_platform.definitions import asset_graph
from attrition_platform.resources.alerts import Alerts
from attrition_platform.defs.partitions import register_snapshot_dates
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform.resources.mlflow_registry import MlflowRegistry

SNAPSHOT_KEYS = ["hris_employees", "hris_terminations", "employee_features"]
TRAINING_KEYS = ["training_set", "candidate_model", "model_evaluation"]
# A small company and a short horizon keep the whole graph under a minute.
SMALL_TRAINING = {
    "ops": {
        "training_set": {"config": {"horizon_days": 60, "validation_days": 60, "test_days": 60}},
        "candidate_model": {"config": {"max_rounds": 150}},
    }
}


def make_resources(home: Path, hris: HrisSource) -> dict[str, Any]:
    return {
        "hris": hris,
        # the record only: Slack and PagerDuty stay off even if the environment names them
        "alerts": Alerts(jsonl_path=str(home / "alerts.jsonl"), slack_webhook_url="", pagerduty_routing_key=""),
        "lake": DeltaLake(root=str(home / "lake")),
        "published": PublishedLocation(uri=str(home / "serving")),
        "mlflow": MlflowRegistry(
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
            artifact_location=(home / "artifacts").as_uri(),
        ),
    }


def materialize_snapshot(resources: dict[str, Any], day: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    register_snapshot_dates(instance, [dt.date.fromisoformat(day)])
    return dg.materialize(
        asset_graph(),
        selection=dg.AssetSelection.assets(*SNAPSHOT_KEYS),
        partition_key=day,
        resources=resources,
        instance=instance,
    )


def materialize_training(resources: dict[str, Any], instance: dg.DagsterInstance, **kw: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        asset_graph(),
        selection=dg.AssetSelection.assets(*TRAINING_KEYS),
        resources=resources,
        instance=instance,
        run_config=SMALL_TRAINING,
        **kw,
    )


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    with dg.instance_for_test() as inst:
        yield inst
