"""Sensors and schedules, ticked the way the daemon ticks them (`evaluate_tick` with a cursor):
each event triggers exactly one run and one alert, and no event triggers none."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attrition_platform.defs.automation import drift_sensor, fairness_alert_sensor, recall_sensor
from attrition_platform.defs.jobs import daily_snapshots, nightly_scores_schedule
from attrition_platform.defs.partitions import SNAPSHOT_PARTITIONS_NAME
from attrition_platform.resources.alerts import Alerts
from attrition_platform.resources.hris import HrisSource


@pytest.fixture
def alerts(tmp_path: Path) -> Alerts:
    return Alerts(jsonl_path=str(tmp_path / "alerts.jsonl"), slack_webhook_url="", pagerduty_routing_key="")


def _sent(alerts: Alerts) -> list[dict[str, Any]]:
    path = Path(alerts.jsonl_path or "")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Ticker:
    """Ticks one sensor repeatedly, carrying its cursor from tick to tick like the daemon."""

    def __init__(self, sensor: Any, instance: dg.DagsterInstance, alerts: Alerts) -> None:
        self.sensor, self.instance, self.alerts, self.cursor = sensor, instance, alerts, None

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(instance=self.instance, resources={"alerts": self.alerts},
                                          cursor=self.cursor)
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        return list(data.run_requests or [])


def _report(instance: dg.DagsterInstance, asset: str, **metadata: Any) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, metadata=metadata))


def test_drift_triggers_one_alert_and_one_retrain_per_report_and_none_without(alerts: Alerts) -> None:
    with dg.instance_for_test() as instance:
        ticker = Ticker(drift_sensor, instance, alerts)
        assert ticker.tick() == []  # no report yet
        _report(instance, "drift_report", enough_data=True, drift_detected=False, max_psi=0.12, drifted_features=[])
        assert ticker.tick() == [] and _sent(alerts) == []  # under 0.2: no drift
        _report(instance, "drift_report", enough_data=True, drift_detected=True, max_psi=0.41,
                drifted_features=["MonthlyIncome"])
        [run] = ticker.tick()
        assert run.job_name in (None, "train_model") and run.tags["attrition/trigger"] == "drift"
        assert ticker.tick() == []  # the same report is not judged twice
        [alert] = _sent(alerts)
        assert alert["source"] == "drift_report" and alert["severity"] == "error"
        assert "MonthlyIncome" in alert["summary"] and alert["details"]["max_psi"] == 0.41
        _report(instance, "drift_report", enough_data=True, drift_detected=True, max_psi=0.3, drifted_features=["OverTime"])
        [second] = ticker.tick()
        assert second.run_key != run.run_key
        assert len(_sent(alerts)) == 2


def test_a_drift_report_without_enough_rows_is_no_verdict(alerts: Alerts) -> None:
    with dg.instance_for_test() as instance:
        ticker = Ticker(drift_sensor, instance, alerts)
        _report(instance, "drift_report", enough_data=False, drift_detected=False, max_psi=0.0, drifted_features=[],
                verdict="no verdict: 12 live rows")
        assert ticker.tick() == [] and _sent(alerts) == []


def test_the_sensors_target_the_retrain_job() -> None:
    assert drift_sensor.job_name == "train_model"
    assert recall_sensor.job_name == "train_model"


def test_a_recall_drop_retrains_once_per_champion_and_month(alerts: Alerts) -> None:
    with dg.instance_for_test() as instance:
        ticker = Ticker(recall_sensor, instance, alerts)
        _report(instance, "recall_monitor", retrain_recommended=False, enough_data=True, recall_drop_pp=2.0,
                summary="drop 2.0 pp")
        assert ticker.tick() == [] and _sent(alerts) == []
        verdict = dict(retrain_recommended=True, enough_data=True, recall_drop_pp=9.5, latest_recall=0.33,
                       evaluation_recall=0.425, champion_model_version="3", verdict_months="2026-05")
        _report(instance, "recall_monitor", **verdict)
        [run] = ticker.tick()
        assert run.run_key == "recall-3-2026-05" and run.tags["attrition/trigger"] == "recall"
        # The monitor re-run on the same facts asks for the same run key: Dagster launches one.
        _report(instance, "recall_monitor", **verdict)
        [again] = ticker.tick()
        assert again.run_key == run.run_key
        assert {a["dedup_key"] for a in _sent(alerts)} == {"recall-3-2026-05"}


def test_a_fairness_gap_above_five_points_alerts_without_retraining(alerts: Alerts) -> None:
    with dg.instance_for_test() as instance:
        ticker = Ticker(fairness_alert_sensor, instance, alerts)
        _report(instance, "fairness_report", candidate_max_gap_pp=3.1, largest_gap_attribute="Gender",
                candidate_version="2")
        assert ticker.tick() == [] and _sent(alerts) == []
        _report(instance, "fairness_report", candidate_max_gap_pp=7.4, largest_gap_attribute="age_band",
                candidate_version="2")
        assert ticker.tick() == []
        [alert] = _sent(alerts)
        assert alert["severity"] == "warning" and "7.4 pp" in alert["summary"] and "age_band" in alert["summary"]


@pytest.fixture
def repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The code location's repository: a schedule of a partitioned job resolves its partitions there."""
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path / "home"))
    from attrition_platform.definitions import defs

    return defs().get_repository_def()


def test_daily_snapshots_lands_each_new_extract_date_once(repository: Any) -> None:
    hris = HrisSource(employees=100, months=3, end_date="2026-11-01", seed=1)
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, resources={"hris": hris}, repository_def=repository,
                                       scheduled_execution_time=dt.datetime(2026, 11, 2, 2)) as context:
            first = daily_snapshots.evaluate_tick(context)
            keys = [r.partition_key for r in first.run_requests]
            assert keys == [d.isoformat() for d in hris.extract_dates()]
            assert [r.run_key for r in first.run_requests] == keys
            assert sorted(instance.get_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME)) == keys
            again = daily_snapshots.evaluate_tick(context)
            assert not again.run_requests and again.skip_message


def test_nightly_scores_score_the_latest_snapshot_once_a_night(repository: Any) -> None:
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, repository_def=repository,
                                       scheduled_execution_time=dt.datetime(2026, 11, 2, 3)) as night:
            assert not nightly_scores_schedule.evaluate_tick(night).run_requests
            instance.add_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME, ["2026-10-01", "2026-11-01"])
            [run] = nightly_scores_schedule.evaluate_tick(night).run_requests
            assert run.partition_key == "2026-11-01" and run.run_key == "2026-11-01@2026-11-02"
