"""Jobs and schedules: daily snapshots, monthly full retrain (both off until switched on)."""

import dagster as dg

from attrition_platform.defs.partitions import snapshot_partitions

SNAPSHOT_ASSETS = ["hris_employees", "hris_terminations", "employee_features"]
TRAINING_ASSETS = ["training_set", "candidate_model", "model_evaluation"]

daily_snapshot_job = dg.define_asset_job(
    "daily_snapshot",
    selection=dg.AssetSelection.assets(*SNAPSHOT_ASSETS),
    partitions_def=snapshot_partitions,
    description="Land today's HRIS extract and build its feature snapshot.",
)

train_model_job = dg.define_asset_job(
    "train_model",
    selection=dg.AssetSelection.assets(*TRAINING_ASSETS),
    description="Rebuild the training set, train a challenger and evaluate it on the holdout window.",
)

daily_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    daily_snapshot_job, hour_of_day=2, minute_of_hour=0
)

monthly_retrain_schedule = dg.ScheduleDefinition(
    name="monthly_retrain",
    job=train_model_job,
    cron_schedule="0 4 1 * *",
    description="Full retrain on the first of each month.",
)
