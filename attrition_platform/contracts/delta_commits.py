"""Retrying a Delta commit that lost a race to another writer.

Several processes commit to the same tables: serving appends to the audit logs while the
retention purge, an erasure or a start-up's table-property change commit to them too. Delta's
optimistic concurrency makes the loser fail rather than overwrite; every action retried here
opens the table afresh, so the retry sees the winner's commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from deltalake.exceptions import CommitFailedError

COMMIT_ATTEMPTS = 8
_T = TypeVar("_T")


def on_conflict_retry(action: Callable[[], _T], attempts: int = COMMIT_ATTEMPTS) -> _T:
    """Run `action` (which opens the table afresh) again when a concurrent commit won, or a log
    file vanished under it; the loser re-reads the table, so its predicate sees the winner's rows."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (CommitFailedError, FileNotFoundError):
            # FileNotFoundError: a concurrent writer's post-commit log cleanup removed a log file
            # this action was reading; every action here is idempotent, so running it again is safe.
            if attempt == attempts:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")
