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

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

LOG_RETENTION = "delta.logRetentionDuration"
DEFAULT_LOG_RETENTION = "interval 30 days"  # Delta's default, restored after a cleanup
COMMIT_ATTEMPTS = 8
ORPHAN_GRACE_HOURS = 1
_T = TypeVar("_T")


@dataclass(frozen=True)
class HistoryCleanup:
    files_vacuumed: int  # data files deleted from disk
    kept_from_version: int  # the checkpoint: no version before it can be read any more


def on_conflict_retry(action: Callable[[], _T], attempts: int = COMMIT_ATTEMPTS) -> _T:
    """Run `action` (which opens the table afresh) again when a concurrent commit won; the
    loser re-reads the table, so its predicate sees the winner's rows."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CommitFailedError:
            if attempt == attempts:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def forget_history(uri: str, storage_options: dict[str, str] | None = None) -> HistoryCleanup:
    """Delete every unreferenced data file and every log entry before the latest version."""

    def vacuum(hours: int, full: bool) -> list[str]:
        return DeltaTable(uri, storage_options=storage_options).vacuum(
            retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=full
        )

    removed = on_conflict_retry(lambda: vacuum(0, False))
    orphans = on_conflict_retry(lambda: vacuum(ORPHAN_GRACE_HOURS, True))

    def set_retention(value: str) -> DeltaTable:
        table = DeltaTable(uri, storage_options=storage_options)
        table.alter.set_table_properties({LOG_RETENTION: value})
        return DeltaTable(uri, storage_options=storage_options)

    previous = DeltaTable(uri, storage_options=storage_options).metadata().configuration.get(
        LOG_RETENTION
    )
    table = on_conflict_retry(lambda: set_retention("interval 0 seconds"))
    try:
        table.create_checkpoint()
        kept_from = table.version()
        table.cleanup_metadata()
    finally:
        on_conflict_retry(lambda: set_retention(previous or DEFAULT_LOG_RETENTION))
    return HistoryCleanup(files_vacuumed=len(removed) + len(orphans), kept_from_version=kept_from)
