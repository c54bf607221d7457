"""The run-failure alert: every failed run of this code location becomes one alert.

On by default (RUNNING): a failure alert that someone must remember to switch on alerts no one,
and a tick is cheap (one event-log query for run-failure events after the sensor's cursor, every
30 s). Dagster's cursor starts at the sensor's first tick, so switching it on does not replay
old failures, and each failure event is handled once (the cursor moves past it).

The alert carries the job, the failed steps and a link to the run. The error text goes in only
when it is a `dg.Failure` (the platform's own one-line messages, written to hold no personal
data); any other exception is named by its class only, since a library's message can quote the
HR values it choked on. The run page has the full story for those allowed to read it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from attrition_platform.resources.alerts import Alert, Alerts, one_line

FAILURE_CLASS = "Failure"  # dg.Failure's class name in Dagster's serialised errors
PARTITION_TAG = "dagster/partition"


def _user_error(error: Any) -> Any:
    """The exception the code raised, not Dagster's wrapper around it (its `cause`)."""
    while error is not None and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    return error


def _failure_text(error: Any) -> str | None:
    """The message of a dg.Failure (its first line, without the class prefix); None otherwise."""
    if error is None or error.cls_name != FAILURE_CLASS:
        return None
    text = error.message.split(":", 1)[-1] if error.message.startswith("dagster.") else error.message
    return one_line(text, 300)


def run_failure_alert_for(context: dg.RunFailureSensorContext, alerts: Alerts) -> Alert:
    """The alert for one failed run (separate from the sensor so its shape can be read and
    tested on its own)."""
    run = context.dagster_run
    steps: list[str] = []
    message: str | None = None
    error_class: str | None = None
    for event in context.get_step_failure_events():
        if event.step_key and event.step_key not in steps:
            steps.append(event.step_key)
        error = _user_error(getattr(event.event_specific_data, "error", None))
        if message is None and error is not None:
            message, error_class = _failure_text(error), error.cls_name
    if message is None and error_class is None:
        # No step failed: the run itself did (resources, run worker); same privacy rule.
        run_error = _user_error(getattr(context.failure_event.event_specific_data, "error", None))
        message = _failure_text(run_error)
        error_class = run_error.cls_name if run_error is not None else None
    where = f" in {', '.join(steps)}" if steps else ""
    reason = message or (f"{error_class} (see the run)" if error_class else "see the run")
    details: dict[str, Any] = {"job": run.job_name, "run_id": run.run_id, "failed_steps": steps}
    if error_class:
        details["error"] = error_class
    if partition := run.tags.get(PARTITION_TAG):
        details["partition"] = partition
    return Alert(
        summary=one_line(f"Run of {run.job_name} failed{where}: {reason}"),
        severity="error",
        source="run_failure",
        dedup_key=f"run-failure-{run.run_id}",
        links={"Dagster run": alerts.run_url(run.run_id)},
        details=details,
    )


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an alert (error) for every failed run of this code location: job, "
    "failed steps, a link to the run.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: Alerts) -> None:
    alerts.send(run_failure_alert_for(context, alerts), log=context.log)
