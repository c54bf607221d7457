"""Jobs (asset selections), the sensor that lands new HRIS extracts, and the schedules of the plan
(all off until switched on: a fresh install must not start training by itself)."""

import dagster as dg

from attrition_platform.defs.metadata import observe_source
from attrition_platform.defs.partitions import (
    SNAPSHOT_PARTITIONS_NAME,
    new_snapshot_keys,
    register_snapshot_dates,
    snapshot_partitions,
)
from attrition_platform.resources.hris import HrisSource

SNAPSHOT_ASSETS = ["hris_employees", "hris_terminations", "employee_features"]
TRAINING_ASSETS = ["training_set", "candidate_model", "model_evaluation"]
GOVERNANCE_ASSETS = ["fairness_report", "promotion_gate", "production_model"]

snapshot_job = dg.define_asset_job(
    "snapshot",
    selection=dg.AssetSelection.assets(*SNAPSHOT_ASSETS),
    partitions_def=snapshot_partitions,
    description="Land one HRIS extract and build its feature snapshot (one partition per extract date).",
)

nightly_scoring_job = dg.define_asset_job(
    "nightly_scoring",
    selection=dg.AssetSelection.assets("nightly_scores"),
    partitions_def=snapshot_partitions,
    description="Score a snapshot's employees with the served model; the latest snapshot's scores "
    "become serving's fallback export.",
)

train_model_job = dg.define_asset_job(
    "train_model",
    selection=dg.AssetSelection.assets(*TRAINING_ASSETS, *GOVERNANCE_ASSETS),
    description="Rebuild the training set, train a challenger, evaluate it on the holdout window, "
    "measure its fairness, let the promotion gate decide, and publish the champion.",
)

promote_job = dg.define_asset_job(
    "promote",
    selection=dg.AssetSelection.assets(*GOVERNANCE_ASSETS),
    description="Fairness, the promotion gate and publication for the current challenger; with "
    "promotion_gate config action=promote|rollback, make a named version the champion by hand.",
)


@dg.sensor(
    job=snapshot_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Asks the HRIS for its extract dates; registers each new date as a partition and "
    "requests one snapshot run for it (run key = the date, so a date is landed once); records "
    "what it saw of the source on hris_system.",
)
def hris_extract_sensor(context: dg.SensorEvaluationContext, hris: HrisSource) -> dg.SensorResult | dg.SkipReason:
    dates = hris.extract_dates()
    new = new_snapshot_keys(context.instance, dates)
    if not new:
        return dg.SkipReason("no new HRIS extract dates")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=key) for key in new],
        dynamic_partitions_requests=[snapshot_partitions.build_add_request(new)],
        asset_events=[observe_source(hris, sorted(dates))],
        cursor=new[-1],
    )


monthly_retrain_schedule = dg.ScheduleDefinition(
    name="monthly_retrain",
    job=train_model_job,
    cron_schedule="0 4 1 * *",
    tags={"attrition/trigger": "monthly"},
    description="Full retrain on the first of each month (the plan's monthly retrain; the weekly "
    "one runs the same pipeline).",
)



fairness_audit_job = dg.define_asset_job(
    "fairness_audit",
    selection=dg.AssetSelection.assets("fairness_report"),
    description="Recall, precision and selection rate per protected group for the challenger and "
    "the champion; fairness_alert_sensor alerts above 5 pp.",
)


@dg.schedule(
    job=snapshot_job,
    cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily: asks the HRIS for its extract dates and lands each new one (one snapshot "
    "run per new date; run key = the date).",
)
def daily_snapshots(context: dg.ScheduleEvaluationContext, hris: HrisSource) -> list[dg.RunRequest] | dg.SkipReason:
    new = register_snapshot_dates(context.instance, hris.extract_dates())
    if not new:
        return dg.SkipReason("no new HRIS extract dates")
    return [dg.RunRequest(run_key=key, partition_key=key) for key in new]


@dg.schedule(
    job=nightly_scoring_job,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: scores the latest snapshot with the champion (Delta + serving's fallback export).",
)
def nightly_scores_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    keys = sorted(context.instance.get_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME))
    if not keys:
        return dg.SkipReason("no snapshot landed yet")
    night = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=f"{keys[-1]}@{night}", partition_key=keys[-1])


weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=train_model_job,
    cron_schedule="0 4 * * 0",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekly retrain pipeline: training set, challenger, evaluation, fairness, gate, publication.",
)

quarterly_fairness_audit_schedule = dg.ScheduleDefinition(
    name="quarterly_fairness_audit",
    job=fairness_audit_job,
    cron_schedule="0 6 1 1,4,7,10 *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Quarterly fairness audit (fairness_alert_sensor alerts above 5 pp).",
)


monitoring_job = dg.define_asset_job(
    "monitoring",
    selection=dg.AssetSelection.assets("prediction_log", "action_log", "drift_report", "recall_monitor"),
    description="Drift of live traffic against the champion's training rows and realised recall "
    "against its evaluation; drift_sensor and recall_sensor alert and retrain.",
)

daily_monitoring_schedule = dg.ScheduleDefinition(
    name="daily_monitoring",
    job=monitoring_job,
    cron_schedule="0 5 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily drift report and recall monitor.",
)


retention_job = dg.define_asset_job(
    "retention",
    selection=dg.AssetSelection.assets("retention_purge"),
    description="Delete prediction- and action-log rows older than 180 days and clear their history "
    "from disk.",
)

# Hourly, not daily: serving appends one small file per flush (up to 3,600 an hour), and the
# part of each append that holds serving's GIL grows with the table's file count (3.8 ms at 100
# files, ~8 ms at 3,000; a day unmerged would be ~86,000). The purge is idempotent, and after
# the first run each past day is one file, so an hourly run rewrites only the current day.
retention_purge_schedule = dg.ScheduleDefinition(
    name="hourly_retention_purge",
    job=retention_job,
    cron_schedule="30 * * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly: purge audit-log rows older than RETENTION_DAYS, merge the small files "
    "serving's appends leave, and clear the old bytes from disk.",
)
