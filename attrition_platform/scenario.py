"""`attrition scenario drift`: the self-driving loop told end to end on the embedded defaults.

1. A synthetic company whose last extracts carry drift (pay reported ×1.6, overtime for 60 %)
   — or none with `--no-drift`.
2. The extracts before the drift are landed, a model trained, judged by the gate and published.
3. The drifted extracts land; the HR portal asks the live service (the real Litestar app,
   in-process, with a development token) for the risk of ~1,000 employees, so prediction_log
   fills through serving's own audit path.
4. The daily monitoring job runs (drift_report, recall_monitor); the sensors are ticked as the
   daemon would tick them; each run they request is launched under its job (its run key
   checked first, as the daemon does), and the gate decides on the retrained challenger.

Every run is created under its job in the data directory, so `attrition ui` shows the story.
The retrain the sensor requests runs with the scenario's training windows (its company has two
years of history, the default windows need three); that is the one thing a daemon would do
differently.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO_TRAINING = {
    "ops": {
        "training_set": {"config": {"horizon_days": 90, "validation_days": 60, "test_days": 60}},
    }
}
DRIFT_KNOBS = {"ATTRITION_HRIS_DRIFT_INCOME_FACTOR": "1.6", "ATTRITION_HRIS_DRIFT_OVERTIME_SHARE": "0.6"}
DRIFTED_EXTRACTS = 3  # the last extracts carry the drift
TRAFFIC = 1000  # portal requests (drift_report needs ≥ 500 live rows for a verdict)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class ScenarioResult:
    drift_detected: bool
    max_psi: float
    alerts: int
    retrain_runs: int
    promoted: bool
    champion_version: str

    def json(self) -> str:
        return json.dumps(
            {"drift_detected": self.drift_detected, "max_psi": round(self.max_psi, 4), "alerts": self.alerts,
             "retrain_runs": self.retrain_runs, "promoted": self.promoted,
             "champion_version": self.champion_version}
        )


class ScenarioError(RuntimeError):
    """A step of the story failed; says which and why (the run's own problems included)."""


def scenario_env(drift: bool, employees: int, months: int, dates: list[dt.date] | None = None) -> dict[str, str]:
    env = {"ATTRITION_HRIS_KIND": "synthetic", "ATTRITION_HRIS_EMPLOYEES": str(employees),
           "ATTRITION_HRIS_MONTHS": str(months)}
    if drift and dates:
        env["ATTRITION_HRIS_DRIFT_START"] = dates[-DRIFTED_EXTRACTS].isoformat()
        env.update(DRIFT_KNOBS)
    return env


def _launch(jobs: Any, instance: Any, job: str, partition: str | None = None,
            run_config: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> str:
    outcome = jobs.launch(instance, job, partition, {**QUIET, **(run_config or {})},
                          launched_by="attrition scenario", tags=tags)
    if not outcome.success:
        raise ScenarioError(f"{job}{' ' + partition if partition else ''} failed: " + "; ".join(outcome.problems))
    return outcome.run_id


def _portal_traffic(home: Path, count: int) -> int:
    """Ask the live service for `count` employees' risk by id, as the HR portal does; returns
    how many answers were live. The service logs each to prediction_log on its own path."""
    from litestar.testing import TestClient

    from serving.dev_keys import mint_dev_token
    from serving.server import app_from_env

    token = mint_dev_token(home / "secrets", ["attrition:predict"], subject="scenario-hr-portal", ttl_seconds=900)
    headers = {"Authorization": f"Bearer {token}"}
    app = app_from_env()
    live = 0
    with TestClient(app) as client:
        # A random sample: ids follow hiring order, so the first N would be the longest-serving.
        everyone = app.state.service.employees.scoreable_ids()
        ids = random.Random(7).sample(everyone, min(count, len(everyone)))
        for employee_id in ids:
            answer = client.get(f"/v1/employees/{employee_id}/risk", headers=headers)
            if answer.status_code == 200 and answer.json().get("source") == "live":
                live += 1
    return live  # leaving the client stops the service, which flushes the audit log


def _tick(sensor: Any, instance: Any, resources: dict[str, Any]) -> list[Any]:
    import dagster as dg

    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return list(sensor.evaluate_tick(context).run_requests or [])


def _already_launched(instance: Any, run_key: str) -> bool:
    import dagster as dg

    return bool(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1))


def run_drift_scenario(home: Path, *, drift: bool, employees: int, months: int,
                       say: Callable[[str], None]) -> ScenarioResult:
    """The story in `home` (a fresh data directory); `say` shows progress."""
    import dagster as dg

    from attrition_platform import runs
    from attrition_platform.definitions import defs
    from attrition_platform.defs.automation import drift_sensor, recall_sensor
    from attrition_platform.defs.governance_assets import CHAMPION
    from attrition_platform.defs.partitions import register_snapshot_dates
    from attrition_platform.resources.hris import hris_from_env

    os.environ.update(scenario_env(False, employees, months))
    dates = hris_from_env().extract_dates()
    os.environ.update(scenario_env(drift, employees, months, dates))
    definitions = defs()
    registry = definitions.resources["mlflow"]
    alerts = definitions.resources["alerts"]
    instance = dg.DagsterInstance.get()
    jobs = runs.CodeLocationJobs()
    register_snapshot_dates(instance, dates)
    before, after = dates[:-DRIFTED_EXTRACTS], dates[-DRIFTED_EXTRACTS:]

    say(f"[1/6] landing {len(before)} monthly extracts of a {employees:,}-employee company "
        f"({before[0]} .. {before[-1]})")
    for day in before:
        _launch(jobs, instance, "snapshot", day.isoformat())
    say("[2/6] training, evaluating, fairness, promotion gate, publication (train_model)")
    _launch(jobs, instance, "train_model", run_config=SCENARIO_TRAINING)
    first = runs.latest_metadata(instance, "promotion_gate")
    say(f"      gate: {first.get('summary', 'no decision')}")
    champion = registry.alias_version(CHAMPION)
    if champion is None:
        raise ScenarioError("the first model did not clear the promotion gate's floors: nothing to serve")
    what = ("with drift from " + after[0].isoformat() + ": pay reported ×1.6, 60 % on overtime") if drift else "without drift"
    say(f"[3/6] landing {len(after)} new extracts {what}")
    for day in after:
        _launch(jobs, instance, "snapshot", day.isoformat())
    _launch(jobs, instance, "nightly_scoring", after[-1].isoformat())
    say(f"[4/6] the HR portal asks the live service for {TRAFFIC:,} employees' risk (prediction_log)")
    live = _portal_traffic(home, TRAFFIC)
    say(f"      {live:,} live answers, each logged by the service")
    say("[5/6] daily monitoring: drift_report and recall_monitor")
    _launch(jobs, instance, "monitoring")
    report = runs.latest_metadata(instance, "drift_report")
    say(f"      drift_report: {report.get('verdict', 'no verdict')}")
    say("[6/6] ticking drift_sensor and recall_sensor")
    requests = [*_tick(drift_sensor, instance, {"alerts": alerts}),
                *_tick(recall_sensor, instance, {"alerts": alerts})]
    retrains = 0
    gate: dict[str, Any] = {}
    for request in requests:
        if _already_launched(instance, request.run_key):
            continue
        say(f"      {request.tags.get('attrition/trigger')} -> retrain (run key {request.run_key})")
        _launch(jobs, instance, "train_model", run_config=SCENARIO_TRAINING,
                tags={**request.tags, "dagster/run_key": request.run_key})
        retrains += 1
        gate = runs.latest_metadata(instance, "promotion_gate")
        say(f"      gate: {gate.get('summary', 'no decision')}")
    if not requests:
        say("      no sensor asked for a retrain")
    sent = Path(alerts.record_path())
    count = len(sent.read_text().splitlines()) if sent.exists() else 0
    champion = registry.alias_version(CHAMPION)
    return ScenarioResult(
        drift_detected=bool(report.get("drift_detected", False)),
        max_psi=float(report.get("max_psi") or 0.0),
        alerts=count,
        retrain_runs=retrains,
        promoted=bool(gate.get("promoted", False)),
        champion_version=str(champion.version) if champion is not None else "none",
    )
