"""Retention of the audit logs: prediction_log and action_log rows older than RETENTION_DAYS go.

Both tables are partitioned by `day`, so everything before the cut-off day is dropped as whole
partitions (no rewrite); only the cut-off day itself is rewritten to drop the rows older than
the cut-off instant. `forget_history` then removes the old files and log entries from disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from deltalake import DeltaTable, QueryBuilder

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PARTITION_COLUMN,
    PREDICTION_LOG,
    ensure_log_tables,
    log_uri,
)
from attrition_platform.contracts.delta_commits import on_conflict_retry
from attrition_platform.privacy.history import forget_history

LOG_TABLES = (PREDICTION_LOG, ACTION_LOG)


@dataclass(frozen=True)
class TablePurge:
    table: str
    rows_deleted: int
    files_compacted: int  # small files merged by the compaction (0 when not asked)
    files_vacuumed: int  # data files deleted from disk
    oldest_day_kept: str | None  # None: the table is empty
    version_before: int
    version_after: int
    kept_from_version: int  # earlier versions no longer exist


def cutoff_predicate(cutoff: dt.datetime) -> str:
    """Rows logged before `cutoff` (UTC): whole earlier days, and the early part of its day."""
    if cutoff.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    moment = cutoff.astimezone(dt.UTC)
    day = moment.date().isoformat()
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{PARTITION_COLUMN} < '{day}' OR ({PARTITION_COLUMN} = '{day}' AND ts < '{stamp}')"


def _oldest_day(table: DeltaTable) -> str | None:
    result = (
        QueryBuilder()
        .register("t", table)
        .execute(f'SELECT MIN("{PARTITION_COLUMN}") AS d FROM "t"')
        .read_all()
    )
    value = result["d"].to_pylist()[0] if len(result) else None
    return None if value is None else str(value)


def purge_table(
    uri: str,
    table: str,
    cutoff: dt.datetime,
    *,
    compact: bool,
    storage_options: dict[str, str] | None = None,
) -> TablePurge:
    before = on_conflict_retry(lambda: DeltaTable(uri, storage_options=storage_options).version())
    predicate = cutoff_predicate(cutoff)
    deleted = on_conflict_retry(
        lambda: DeltaTable(uri, storage_options=storage_options).delete(predicate)
    )
    compacted = 0
    if compact:
        metrics = on_conflict_retry(
            lambda: DeltaTable(uri, storage_options=storage_options).optimize.compact()
        )
        compacted = int(metrics.get("numFilesRemoved", 0))
    cleanup = forget_history(uri, storage_options)
    after = on_conflict_retry(lambda: DeltaTable(uri, storage_options=storage_options))
    return TablePurge(
        table=table,
        rows_deleted=int(deleted.get("num_deleted_rows", 0)),
        files_compacted=compacted,
        files_vacuumed=cleanup.files_vacuumed,
        oldest_day_kept=on_conflict_retry(lambda: _oldest_day(after)),
        version_before=before,
        version_after=after.version(),
        kept_from_version=cleanup.kept_from_version,
    )


def purge_logs(
    lake_root: str,
    retention_days: int,
    now: dt.datetime,
    *,
    compact: bool = True,
    storage_options: dict[str, str] | None = None,
) -> list[TablePurge]:
    """Purge both audit logs (creating them first where absent, so the run always reports)."""
    if retention_days < 1:
        raise ValueError("retention_days: must be at least 1")
    ensure_log_tables(lake_root, storage_options)
    cutoff = now - dt.timedelta(days=retention_days)
    return [
        purge_table(
            log_uri(lake_root, table), table, cutoff, compact=compact, storage_options=storage_options
        )
        for table in LOG_TABLES
    ]
