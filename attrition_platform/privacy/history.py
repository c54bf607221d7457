"""Making deleted rows gone from disk, not only from the latest Delta version.

A Delta DELETE writes new files and marks the old ones removed; the old bytes stay on disk for
time travel, and the JSON commits keep per-file min/max statistics (an employee id, a timestamp,
the first characters of a logged input) for as long as the log is retained. `forget_history`
ends both: VACUUM with zero retention deletes every file the latest version no longer
references, then a checkpoint at the latest version and a log cleanup drop every JSON commit
before it. Time travel to earlier versions is gone afterwards: for personal data that is the
point (docs/privacy.md says what that means for drift and lineage).

Concurrent appenders (serving writes the audit logs while this runs) are safe: the "lite"
VACUUM deletes only files that a commit removed, never a file an appender has written but not
yet committed, and every commit here is retried when another writer won the race. A commit
that lost such a race leaves its data file behind, referenced by no version; a second, "full"
VACUUM removes those orphans once they are ORPHAN_GRACE_HOURS old (younger ones may still be an
appender's file in flight; the next purge takes them).
"""

from __future__ import annotations

from dataclasses import dataclass

from deltalake import DeltaTable

from attrition_platform.contracts.delta_commits import on_conflict_retry

# Delta's defaults, put back after a cleanup on a table that had not set them.
RETENTION_DEFAULTS = {
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}
ORPHAN_GRACE_HOURS = 1


@dataclass(frozen=True)
class HistoryCleanup:
    files_vacuumed: int  # data files deleted from disk
    kept_from_version: int  # the checkpoint: no version before it can be read any more


def forget_history(uri: str, storage_options: dict[str, str] | None = None) -> HistoryCleanup:
    """Delete every unreferenced data file and every log entry before the latest version."""

    def vacuum(hours: int, full: bool) -> list[str]:
        return DeltaTable(uri, storage_options=storage_options).vacuum(
            retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=full
        )

    removed = on_conflict_retry(lambda: vacuum(0, False))
    orphans = on_conflict_retry(lambda: vacuum(ORPHAN_GRACE_HOURS, True))

    # Zero retention for the one checkpoint written here: it then keeps no older log entry
    # and no tombstone of a file already vacuumed (a tombstone kept would be listed again by
    # every later VACUUM). The table's own settings are put back afterwards.
    current = on_conflict_retry(lambda: DeltaTable(uri, storage_options=storage_options).metadata().configuration)
    restore = {key: current.get(key) or default for key, default in RETENTION_DEFAULTS.items()}

    def set_retention(values: dict[str, str]) -> DeltaTable:
        table = DeltaTable(uri, storage_options=storage_options)
        table.alter.set_table_properties(values)
        return DeltaTable(uri, storage_options=storage_options)

    table = on_conflict_retry(lambda: set_retention(dict.fromkeys(RETENTION_DEFAULTS, "interval 0 seconds")))
    try:
        on_conflict_retry(table.create_checkpoint)
        kept_from = table.version()
        on_conflict_retry(table.cleanup_metadata)
    finally:
        on_conflict_retry(lambda: set_retention(restore))
    return HistoryCleanup(files_vacuumed=len(removed) + len(orphans), kept_from_version=kept_from)
