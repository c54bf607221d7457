"""Self-driving: the monitors' sensors that alert and retrain, and the schedules of the plan.

Each sensor watches one asset's materialisations (Dagster keeps the cursor: the storage id of
the last event it saw), so each report is judged once. A report that crosses its threshold
sends one alert (its dedup key is the report's run, so a re-sent alert merges in PagerDuty) and
requests one `train_model` run whose run key is the same report: even a tick that is evaluated
twice cannot launch two retrains for one event, and a report under the threshold launches none.
"""

from typing import Any

import dagster as dg

from attrition_platform import thresholds as t
from attrition_platform.defs.jobs import train_model_job
from attrition_platform.runs import event_metadata
from attrition_platform.resources.alerts import Alert, Alerts

TRIGGER_TAG = "attrition/trigger"
REPORT_RUN_TAG = "attrition/report_run"
DRIFT_REPORT = dg.AssetKey("drift_report")
RECALL_MONITOR = dg.AssetKey("recall_monitor")
FAIRNESS_REPORT = dg.AssetKey("fairness_report")


def _event_id(event: dg.EventLogEntry) -> str:
    """The report's run id (or, for an event reported outside a run, its time in µs)."""
    return event.run_id or f"t{int(event.timestamp * 1_000_000)}"


def _links(alerts: Alerts, event: dg.EventLogEntry, metadata: dict[str, Any], report_key: str) -> dict[str, str]:
    links = {"Dagster run": alerts.run_url(event.run_id)} if event.run_id else {}
    report = metadata.get(report_key)
    if isinstance(report, str) and report.startswith(("http://", "https://")):
        links["Report"] = report
    return links


def _alert_and_retrain(context: dg.SensorEvaluationContext, alerts: Alerts, alert: Alert, run_key: str,
                       trigger: str, event: dg.EventLogEntry) -> dg.RunRequest:
    """Send the alert, then ask for the one retrain this report warrants."""
    alerts.send(alert, log=context.log)
    return dg.RunRequest(run_key=run_key, tags={TRIGGER_TAG: trigger, REPORT_RUN_TAG: _event_id(event)})


def drift_verdict(metadata: dict[str, Any]) -> tuple[bool, float, list[str]]:
    """(drifted, max PSI, drifted key features) of one drift_report materialisation: its own
    verdict (`drift_detected`: enough rows, and a key feature at PSI ≥ the threshold)."""
    drifted = bool(metadata.get("drift_detected", False)) and bool(metadata.get("enough_data", False))
    features = [str(f) for f in metadata.get("drifted_features") or []] if drifted else []
    return drifted, float(metadata.get("max_psi") or 0.0), features


@dg.asset_sensor(
    asset_key=DRIFT_REPORT,
    job=train_model_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Each new drift_report with PSI > {t.PSI_ALERT} on a key feature: one alert (Slack + "
    "PagerDuty) and one retrain (train_model: training, evaluation, fairness, gate, publication).",
)
def drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry,
                 alerts: Alerts) -> dg.RunRequest | dg.SkipReason:
    metadata = event_metadata(asset_event)
    drifted, max_psi, features = drift_verdict(metadata)
    if not drifted:
        return dg.SkipReason(f"drift_report {_event_id(asset_event)[:8]}: max PSI {max_psi:.3f}, no drift")
    return _alert_and_retrain(
        context, alerts, Alert(
            summary=f"Data drift: PSI {max_psi:.2f} > {t.PSI_ALERT} on {', '.join(features) or 'a key feature'}; "
            "retraining",
            severity="error",
            source="drift_report",
            dedup_key=f"drift-{_event_id(asset_event)}",
            links=_links(alerts, asset_event, metadata, "report"),
            details={"max_psi": round(max_psi, 4), "drifted_features": features,
                     "champion": str(metadata.get("model_version", ""))},
        ),
        run_key=f"drift-{_event_id(asset_event)}", trigger="drift", event=asset_event,
    )


@dg.asset_sensor(
    asset_key=RECALL_MONITOR,
    job=train_model_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Each new recall_monitor verdict with realised recall more than "
    f"{t.RECALL_DROP_RETRAIN * 100:.0f} pp under the champion's evaluation recall: one alert and one retrain.",
)
def recall_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry,
                  alerts: Alerts) -> dg.RunRequest | dg.SkipReason:
    metadata = event_metadata(asset_event)
    if not metadata.get("retrain_recommended", False):
        return dg.SkipReason(f"recall_monitor {_event_id(asset_event)[:8]}: {metadata.get('summary', 'no verdict')}")
    champion = str(metadata.get("champion_model_version") or "none")
    months = str(metadata.get("verdict_months") or "")
    drop = float(metadata.get("recall_drop_pp") or 0.0)
    # One retrain per champion and verdict month: a monitor re-run on the same facts adds none.
    return _alert_and_retrain(
        context, alerts, Alert(
            summary=f"Recall dropped {drop:.1f} pp under champion v{champion}'s evaluation "
            f"({metadata.get('latest_recall')} vs {metadata.get('evaluation_recall')}, {months}); retraining",
            severity="error",
            source="recall_monitor",
            dedup_key=f"recall-{champion}-{months}",
            links=_links(alerts, asset_event, metadata, "report_url"),
            details={"recall_drop_pp": round(drop, 2), "verdict_months": months, "champion": champion},
        ),
        run_key=f"recall-{champion}-{months}", trigger="recall", event=asset_event,
    )


@dg.asset_sensor(
    asset_key=FAIRNESS_REPORT,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Alerts (Slack) when a fairness_report finds a recall gap above "
    f"{t.FAIRNESS_RECALL_GAP_ALERT * 100:.0f} pp between protected groups (the quarterly audit's alert).",
)
def fairness_alert_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry,
                          alerts: Alerts) -> dg.SkipReason:
    metadata = event_metadata(asset_event)
    gap = float(metadata.get("candidate_max_gap_pp") or 0.0)
    if gap <= t.FAIRNESS_RECALL_GAP_ALERT * 100:
        return dg.SkipReason(f"largest recall gap {gap:.1f} pp")
    alerts.send(
        Alert(
            summary=f"Fairness: recall gap {gap:.1f} pp across {metadata.get('largest_gap_attribute')} "
            f"for model v{metadata.get('candidate_version')} (limit {t.FAIRNESS_RECALL_GAP_ALERT * 100:.0f} pp)",
            severity="warning",
            source="fairness_report",
            dedup_key=f"fairness-{_event_id(asset_event)}",
            links=_links(alerts, asset_event, metadata, "report_url"),
            details={"largest_gap_pp": round(gap, 2), "attribute": str(metadata.get("largest_gap_attribute")),
                     "model_version": str(metadata.get("candidate_version"))},
        ),
        log=context.log,
    )
    return dg.SkipReason(f"alerted: recall gap {gap:.1f} pp")
