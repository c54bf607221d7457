"""Audit records written to the Delta logs off the request path.

A request only adds its record to a bounded in-memory batch (never blocks); one writer thread
appends the batches to `prediction_log` / `action_log` every flush interval. Nothing is dropped
silently: a full buffer or a lake that stays down counts every lost record in a metric and says
so in the log; a failed append is retried with backoff while new records wait. A graceful
shutdown flushes everything. What a kill -9 can lose is bounded: the records not yet written,
at most one flush interval of traffic (1 s by default) and never more than the queue size
(docs/serving.md).

The batches are columns (`LogBatch`), filled by the requests: the writer shares the GIL with
them, and turning a list of records into Arrow is Python work per record that requests would
wait behind; converting ready columns is C work measured in tens of microseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from arro3.core import Table

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PREDICTION_LOG,
    ActionRecord,
    LogBatch,
    OpenLogTables,
    PredictionRecord,
    append_actions,
    append_table,
    ensure_log_tables,
)
from serving import metrics

log = logging.getLogger("attrition.serving")
TABLES = (PREDICTION_LOG, ACTION_LOG)


def _empty_batches() -> dict[str, LogBatch]:
    return {table: LogBatch(table) for table in TABLES}


@dataclass
class AuditWriter:
    lake_root: str
    storage_options: dict[str, str] | None = None
    queue_size: int = 10_000  # records waiting to be written, both tables together
    batch_size: int = 256  # rows per Delta commit
    flush_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # guards the pending batches: requests add, the writer takes
        self._pending = _empty_batches()
        self._in_flight = 0  # taken by the writer, not yet written: still counts against the bound
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closing = False
        self._last_drop_log = 0.0
        self._dropped = 0  # every record counted in AUDIT_DROPPED by this writer
        self._tables = OpenLogTables()  # the writer thread's own handles, never shared

    def start(self) -> None:
        ensure_log_tables(self.lake_root, self.storage_options)
        metrics.AUDIT_QUEUE_DEPTH.set_function(lambda: self.depth)  # read at scrape time
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, record: PredictionRecord | ActionRecord) -> bool:
        """Keep one record for the next flush; False (and a counted drop) when the buffer is
        full, the writer is closing, or the record breaks the log's contract (a bug: this
        service made it; the log line names the field, never the value)."""
        table = PREDICTION_LOG if isinstance(record, PredictionRecord) else ACTION_LOG
        if self._closing:
            self._drop(table, "shutdown", 1)
            return False
        problem = None
        with self._lock:
            full = self._waiting() >= self.queue_size
            if not full:
                try:
                    self._pending[table].add(record)
                except ValueError as exc:
                    problem = str(exc)
        if full:
            self._drop(table, "queue_full", 1)
        elif problem is not None:
            self._drop(table, "invalid", 1, problem)
        return not full and problem is None

    def write_now(self, record: ActionRecord) -> None:
        """Append one action synchronously: a manager's recorded decision is acknowledged only
        once it is durable (actions are rare; predictions wait for the flush)."""
        append_actions(self.lake_root, [record], self.storage_options)
        metrics.AUDIT_WRITTEN.labels(ACTION_LOG).inc()

    def _waiting(self) -> int:
        return self._in_flight + sum(len(b) for b in self._pending.values())

    @property
    def depth(self) -> int:
        with self._lock:
            return self._waiting()

    def close(self, timeout: float = 15.0) -> int:
        """Stop accepting, write everything pending; returns how many records were lost (the
        lake refused them at shutdown, or they were still waiting when `timeout` ran out; a
        batch whose attempt outlives `timeout`, against an unreachable object store, is counted
        in the metric by the writer thread when it gives up, not here)."""
        dropped_before = self._dropped
        self._closing = True
        if self._thread is None:
            return 0
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._lock:  # still retrying: count what was never taken
                batches, self._pending = self._pending, _empty_batches()
            for table, batch in batches.items():
                if len(batch):
                    self._drop(table, "shutdown", len(batch))
        return self._dropped - dropped_before

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        # Sleep a flush interval, then take everything pending: the thread wakes once per
        # interval, not once per record (a wake per request costs the request path ~0.3 ms of
        # GIL handovers). close() sets the event, which ends the sleep at once.
        while True:
            stopping = self._stop.wait(self.flush_seconds)
            with self._lock:
                batches, self._pending = self._pending, _empty_batches()
                self._in_flight = sum(len(b) for b in batches.values())
            for table, batch in batches.items():
                if len(batch):
                    self._write(table, batch, final=stopping)
            with self._lock:
                self._in_flight = 0
            if stopping:
                return

    def _write(self, table: str, batch: LogBatch, final: bool) -> None:
        try:
            data = batch.to_table()
        except Exception as exc:  # every record passed its checks: a bug, but never a dead writer
            self._drop(table, "invalid", len(batch), f"the batch could not be built ({type(exc).__name__})")
            return
        for start in range(0, data.num_rows, self.batch_size):
            rows = min(self.batch_size, data.num_rows - start)
            self._append_with_retry(table, data.slice(start, rows), final)

    def _append_with_retry(self, table: str, data: Table, final: bool) -> None:
        backoff = 0.2
        attempts = 0
        while True:
            try:
                append_table(self.lake_root, table, data, self.storage_options, self._tables)
                metrics.AUDIT_WRITTEN.labels(table).inc(data.num_rows)
                return
            except Exception as exc:
                attempts += 1
                metrics.AUDIT_WRITE_FAILURES.inc()
                log.error("audit append to %s failed (attempt %d): %s", table, attempts, type(exc).__name__)
                # Shutting down (also when close() came during this retry): five attempts,
                # then the loss is counted, rather than retrying past close()'s timeout.
                if (final or self._stop.is_set()) and attempts >= 5:
                    self._drop(table, "lake_unavailable", data.num_rows)
                    return
                self._stop.wait(backoff)  # close() ends the wait at once
                backoff = min(backoff * 2, self.max_backoff_seconds)

    def _drop(self, table: str, reason: str, n: int, detail: str = "") -> None:
        metrics.AUDIT_DROPPED.labels(table, reason).inc(n)
        with self._lock:  # both threads drop; += is not atomic
            self._dropped += n
        now = time.monotonic()
        if now - self._last_drop_log > 5.0:  # one line per 5 s, the metric counts every record
            self._last_drop_log = now
            why = f"{reason}: {detail}" if detail else reason
            log.error("audit records dropped (%s, %s): see attrition_audit_records_dropped_total", table, why)
