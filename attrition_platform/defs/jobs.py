"""Jobs, the sensor that lands new HRIS extracts, and the monthly retrain (all off until switched on)."""

import dagster as dg

from attrition_platform.defs.metadata import observe_source
from attrition_platform.defs.partitions import new_snapshot_keys, snapshot_partitions
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
    description="Full retrain on the first of each month.",
)

