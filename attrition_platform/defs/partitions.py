"""Partitions, defined once: one partition per HRIS snapshot that really exists.

The snapshot cadence is the HRIS's own (the demo company is monthly, an export may be weekly or
daily, a static export is one date), so the partition keys are registered from the extract dates
the source reports (dynamic partitions) rather than generated from a calendar: the UI shows the
real snapshots only, and "Materialize all" never offers thousands of empty days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

SNAPSHOT_PARTITIONS_NAME = "snapshot_date"

snapshot_partitions = dg.DynamicPartitionsDefinition(name=SNAPSHOT_PARTITIONS_NAME)


def partition_date(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def new_snapshot_keys(instance: dg.DagsterInstance, dates: Iterable[dt.date]) -> list[str]:
    """The extract dates not yet registered as partitions, as sorted partition keys."""
    known = set(instance.get_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME))
    return sorted({d.isoformat() for d in dates} - known)


def register_snapshot_dates(instance: dg.DagsterInstance, dates: Iterable[dt.date]) -> list[str]:
    """Register extract dates as partitions (idempotent); returns the keys that were new."""
    new = new_snapshot_keys(instance, dates)
    if new:
        instance.add_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME, new)
    return new
