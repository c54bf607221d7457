"""The run-failure sensor on real runs in a test instance: the exact alert of a failed run, no
personal data from an exception's message, one alert per failure and none for a success."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from attrition_platform.defs.alert_sensors import run_failure_alert
from attrition_platform.resources.alerts import Alerts
from attrition_platform_tests.loopback import json_server

PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
DAY = "2026-11-01"


@dg.asset(partitions_def=dg.StaticPartitionsDefinition([DAY]))
def empty_snapshot() -> None:
    raise dg.Failure("hris_employees: the extract of 2026-11-01 has no rows")


@dg.asset
def crashing_features() -> None:
    raise ValueError("MonthlyIncome 123456 of employee 4711 is not a number")


@dg.asset
def healthy() -> int:
    return 1


@pytest.fixture(autouse=True)
def _no_channels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ATTRITION_SLACK_WEBHOOK_URL", "ATTRITION_PAGERDUTY_ROUTING_KEY", "DAGSTER_UI_URL"):
        monkeypatch.delenv(name, raising=False)


def record_only(tmp_path: Path, **kw: Any) -> Alerts:
    return Alerts(jsonl_path=str(tmp_path / "alerts.jsonl"), dagster_ui_url="http://dagster.example", **kw)


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def fail(asset: dg.AssetsDefinition, instance: dg.DagsterInstance, **kw: Any) -> dg.ExecuteInProcessResult:
    result = dg.materialize([asset], instance=instance, raise_on_error=False, **kw)
    assert not result.success
    return result


def invoke(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, alerts: Alerts) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alerts": alerts},
    )
    run_failure_alert(context)


def test_a_failed_run_pages_with_job_step_message_and_run_link(tmp_path: Path) -> None:
    received: list[Any] = []

    def pagerduty(method: str, path: str, body: Any) -> tuple[int, Any]:
        received.append(body)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}

    with dg.instance_for_test() as instance, json_server(pagerduty) as base:
        result = fail(empty_snapshot, instance, partition_key=DAY)
        alerts = record_only(tmp_path, pagerduty_routing_key=PD_KEY, pagerduty_url=f"{base}/v2/enqueue")
        invoke(result, instance, alerts)
    run_id, job = result.run_id, result.dagster_run.job_name
    [body] = received
    body["payload"].pop("timestamp")
    summary = f"Run of {job} failed in empty_snapshot: hris_employees: the extract of 2026-11-01 has no rows"
    details = {"job": job, "run_id": run_id, "failed_steps": ["empty_snapshot"], "error": "Failure",
               "partition": DAY}
    assert body == {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": f"run-failure-{run_id}",
        "payload": {"summary": summary, "source": "attrition-platform", "severity": "error",
                    "component": "run_failure", "group": "local", "class": "run_failure",
                    "custom_details": details},
        "links": [{"href": f"http://dagster.example/runs/{run_id}", "text": "Dagster run"}],
        "client": "Attrition platform (Dagster)",
        "client_url": "http://dagster.example",
    }
    [line] = lines(tmp_path)
    assert (line["summary"], line["severity"], line["source"], line["dedup_key"], line["details"], line["delivered"]) == (
        summary, "error", "run_failure", f"run-failure-{run_id}", details, ["pagerduty"])
    assert line["links"] == {"Dagster run": f"http://dagster.example/runs/{run_id}"}


def test_a_crash_is_named_by_its_error_class_never_its_message(tmp_path: Path) -> None:
    """A library's exception can quote the HR values it choked on: they stay in the run log."""
    with dg.instance_for_test() as instance:
        result = fail(crashing_features, instance)
        invoke(result, instance, record_only(tmp_path))
    [line] = lines(tmp_path)
    assert line["summary"] == f"Run of {result.dagster_run.job_name} failed in crashing_features: ValueError (see the run)"
    assert line["details"]["error"] == "ValueError"
    text = json.dumps(line)
    assert "123456" not in text and "4711" not in text and "MonthlyIncome" not in text


def test_each_failure_alerts_exactly_once_and_a_success_never(tmp_path: Path) -> None:
    """Through the sensor's own tick and cursor, as the daemon runs it."""
    alerts = record_only(tmp_path)

    def tick(instance: dg.DagsterInstance, cursor: str | None) -> str | None:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": alerts})
        return run_failure_alert.evaluate_tick(context).cursor

    with dg.instance_for_test() as instance:
        early = fail(crashing_features, instance)  # before the sensor's first tick: not replayed
        cursor = tick(instance, None)
        assert lines(tmp_path) == []
        assert dg.materialize([healthy], instance=instance).success
        cursor = tick(instance, cursor)
        assert lines(tmp_path) == []
        failed = fail(empty_snapshot, instance, partition_key=DAY)
        cursor = tick(instance, cursor)
        cursor = tick(instance, cursor)
        assert [line["dedup_key"] for line in lines(tmp_path)] == [f"run-failure-{failed.run_id}"]
        assert early.run_id != failed.run_id


def test_the_sensor_is_on_by_default() -> None:
    assert run_failure_alert.default_status == dg.DefaultSensorStatus.RUNNING
