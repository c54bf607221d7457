"""Partitions, defined once: one partition per HRIS snapshot date (daily)."""

import datetime as dt
import os

import dagster as dg

# A deployment value (the first date the HRIS history may reach), not a tunable: read once.
PARTITIONS_START = os.environ.get("ATTRITION_PARTITIONS_START", "2020-01-01")

# end_offset=1 includes today, so a static export dated today has a partition to land in.
snapshot_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)


def partition_date(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)
