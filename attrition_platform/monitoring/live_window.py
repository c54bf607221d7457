"""The live predictions of a date window, read from `prediction_log` for monitoring.

Only the window's `day` partitions are read (DataFusion prunes them from the Delta log), so a
daily drift run costs the same on day 180 of retention as on day 1; `read_log` in
contracts/audit_logs.py reads the whole table and is meant for tests. Only `live` answers with
logged inputs count: a cached answer has no inputs and was scored by last night's batch.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from deltalake import DeltaTable, QueryBuilder

from attrition_platform.contracts.audit_logs import PARTITION_COLUMN, PREDICTION_LOG, log_uri


@dataclass(frozen=True)
class LiveWindow:
    start: dt.date  # first day, inclusive
    end: dt.date  # last day, inclusive
    records: list[dict[str, Any]] = field(default_factory=list)  # parsed `inputs`, one per row
    probability: np.ndarray = field(default_factory=lambda: np.zeros(0))  # as logged
    model_version: list[str] = field(default_factory=list)  # the model that answered
    unreadable: int = 0  # rows whose `inputs` is not a JSON object (skipped, counted)

    @property
    def rows(self) -> int:
        return len(self.records)

    def describe(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def window(end: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """(first, last) day of the `days` days ending with `end`, both inclusive."""
    if days < 1:
        raise ValueError(f"window_days: must be at least 1, got {days}")
    return end - dt.timedelta(days=days - 1), end


def read_live_window(
    lake_root: str, start: dt.date, end: dt.date, storage_options: dict[str, str] | None = None
) -> LiveWindow:
    """Live predictions with inputs logged from `start` to `end` (days in UTC, inclusive);
    an empty window when the table does not exist yet (no traffic is not an error)."""
    uri = log_uri(lake_root, PREDICTION_LOG)
    if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
        return LiveWindow(start, end)
    table = DeltaTable(uri, storage_options=storage_options)
    sql = (
        f'SELECT "inputs", "probability", "model_version" FROM "t" '
        f"WHERE \"{PARTITION_COLUMN}\" >= '{start.isoformat()}' "
        f"AND \"{PARTITION_COLUMN}\" <= '{end.isoformat()}' "
        "AND \"source\" = 'live' AND \"inputs\" IS NOT NULL "
        'ORDER BY "ts", "prediction_id"'
    )
    result = QueryBuilder().register("t", table).execute(sql).read_all()
    if len(result) == 0:
        return LiveWindow(start, end)
    records: list[dict[str, Any]] = []
    probability: list[float] = []
    versions: list[str] = []
    unreadable = 0
    for text, p, version in zip(
        result["inputs"].to_pylist(),
        result["probability"].to_pylist(),
        result["model_version"].to_pylist(),
        strict=True,
    ):
        try:
            record = json.loads(text)
        except (TypeError, ValueError):
            record = None
        if not isinstance(record, dict):
            unreadable += 1
            continue
        records.append(record)
        probability.append(float(p))
        versions.append(str(version))
    return LiveWindow(start, end, records, np.asarray(probability, dtype=np.float64), versions, unreadable)
