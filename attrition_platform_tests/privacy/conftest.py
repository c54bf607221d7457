"""A small data directory built by the real graph: HRIS snapshots, features, a training set, a
published model with nightly scores (Delta and fallback exports for two dates) and both audit
logs. Built once per test session (about a minute); the erasure tests change it, in the order
their module runs them, and every other user only reads what erasure leaves intact."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attrition_platform.contracts.audit_logs import (
    ActionRecord,
    PredictionRecord,
    append_actions,
    append_predictions,
)
from attrition_platform.defs.partitions import register_snapshot_dates
from attrition_platform.defs.scoring_assets import nightly_scores
from attrition_platform.defs.training_assets import training_set
from attrition_platform.publication import publish
from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import make_resources, materialize_snapshot
from attrition_platform_tests.serving.harness import make_bundle

HRIS = HrisSource(employees=150, months=10, end_date="2026-11-01", seed=21, opt_out_share=0.1)
TRAINING = {
    "ops": {
        "training_set": {
            "config": {"horizon_days": 60, "validation_days": 60, "test_days": 60, "embargo_days": 0}
        }
    }
}


@dataclass(frozen=True)
class PlatformHome:
    home: Path
    resources: dict[str, Any]
    dates: list[dt.date]
    instance: dg.DagsterInstance

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def serving(self) -> Path:
        return self.home / "serving"


def _log_traffic(lake_root: str, employee_ids: list[int]) -> None:
    now = dt.datetime.now(dt.UTC)
    predictions = [
        PredictionRecord(
            prediction_id=f"p-{i}",
            ts=now - dt.timedelta(days=i % 3),
            caller="hr-portal",
            employee_id=e,
            model_version="1",
            source="live",
            inputs='{"Age": 40}',
            probability=0.4,
            risk_band="medium",
            top_factors=(("OverTime", "Works overtime", 0.3),),
        )
        for i, e in enumerate(employee_ids)
    ]
    append_predictions(lake_root, predictions[: len(predictions) // 2])
    append_predictions(lake_root, predictions[len(predictions) // 2 :])
    append_actions(
        lake_root,
        [ActionRecord(f"a-{i}", now, "manager-1", e, f"p-{i}", "talk", "high risk") for i, e in enumerate(employee_ids)],
    )


@pytest.fixture(scope="session")
def platform_home(tmp_path_factory: pytest.TempPathFactory) -> PlatformHome:
    home = tmp_path_factory.mktemp("privacy-home")
    resources = make_resources(home, HRIS)
    dates = HRIS.extract_dates()
    with dg.instance_for_test() as instance:
        for day in dates:
            assert materialize_snapshot(resources, day.isoformat(), instance).success
        # Landing the latest extract again leaves its first files behind as history.
        assert materialize_snapshot(resources, dates[-1].isoformat(), instance).success
        training = {k: resources[k] for k in ("lake",)}
        assert dg.materialize([training_set], resources=training, run_config=TRAINING, instance=instance).success
        publish(make_bundle(seed=4), "1", str(home / "serving"), str(home / "lake"), promoted_by="test", reason="fixture")
        register_snapshot_dates(instance, dates)
        scoring = {k: resources[k] for k in ("lake", "published")}
        for day in dates[-2:]:
            assert dg.materialize([nightly_scores], partition_key=day.isoformat(), resources=scoring, instance=instance).success
        ids = sorted(
            int(i)
            for i in resources["lake"].read("nightly_scores", snapshot_date=dates[-1], columns=["employee_id"])["employee_id"]
        )
        _log_traffic(str(home / "lake"), ids[:6] + ids[:2])
        yield PlatformHome(home, resources, dates, instance)
