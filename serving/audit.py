"""Audit records written to the Delta logs off the request path.

A request only puts a record on a bounded queue (never blocks); one writer thread appends them
to `prediction_log` / `action_log` in small batches. Nothing is dropped silently: a full queue
or a lake that stays down counts every lost record in a metric and says so in the log; a failed
append is retried with backoff while new records wait in the queue. A graceful shutdown flushes
the queue. What a kill -9 can lose is bounded: the records still queued, at most one flush
interval of traffic (1 s by default) and never more than the queue size (docs/serving.md).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PREDICTION_LOG,
    ActionRecord,
    OpenLogTables,
    PredictionRecord,
    append_actions,
    append_predictions,
    ensure_log_tables,
)
from serving import metrics

log = logging.getLogger("attrition.serving")


@dataclass
class AuditWriter:
    lake_root: str
    storage_options: dict[str, str] | None = None
    queue_size: int = 10_000
    batch_size: int = 256
    flush_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_size)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closing = False
        self._last_drop_log = 0.0
        self._tables = OpenLogTables()  # the writer thread's own handles, never shared
        self._writers: dict[str, Callable[..., int]] = {
            PREDICTION_LOG: append_predictions,
            ACTION_LOG: append_actions,
        }

    def start(self) -> None:
        ensure_log_tables(self.lake_root, self.storage_options)
        metrics.AUDIT_QUEUE_DEPTH.set_function(self._queue.qsize)  # read at scrape time
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, record: PredictionRecord | ActionRecord) -> bool:
        """Queue one record; False (and a counted drop) when the queue is full or closing."""
        table = PREDICTION_LOG if isinstance(record, PredictionRecord) else ACTION_LOG
        if self._closing:
            self._drop(table, "shutdown", 1)
            return False
        try:
            self._queue.put_nowait((table, record))
        except queue.Full:
            self._drop(table, "queue_full", 1)
            return False
        return True

    def write_now(self, record: ActionRecord) -> None:
        """Append one action synchronously: a manager's recorded decision is acknowledged only
        once it is durable (actions are rare; predictions go through the queue)."""
        append_actions(self.lake_root, [record], self.storage_options)
        metrics.AUDIT_WRITTEN.labels(ACTION_LOG).inc()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 15.0) -> int:
        """Stop accepting, write everything queued; returns how many records were lost."""
        self._closing = True
        if self._thread is None:
            return 0
        self._stop.set()
        self._thread.join(timeout)
        lost = 0
        if self._thread.is_alive():  # the lake is down: count what is still queued
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._drop(item[0], "shutdown", 1)
                lost += 1
        return lost

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        # Sleep a flush interval, then take everything queued: the thread wakes once per
        # interval, not once per record (a wake per request costs the request path ~0.3 ms of
        # GIL handovers). close() sets the event, which ends the sleep at once.
        while True:
            stopping = self._stop.wait(self.flush_seconds)
            batch: list[tuple[str, Any]] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            if batch:
                self._write(batch, final=stopping)
            if stopping:
                return

    def _write(self, batch: list[tuple[str, Any]], final: bool) -> None:
        by_table: dict[str, list[Any]] = {}
        for table, record in batch:
            by_table.setdefault(table, []).append(record)
        for table, records in by_table.items():
            for start in range(0, len(records), self.batch_size):
                self._append_with_retry(table, records[start : start + self.batch_size], final)

    def _append_with_retry(self, table: str, records: list[Any], final: bool) -> None:
        backoff = 0.2
        attempts = 0
        while True:
            try:
                self._writers[table](self.lake_root, records, self.storage_options, tables=self._tables)
                metrics.AUDIT_WRITTEN.labels(table).inc(len(records))
                return
            except Exception as exc:
                attempts += 1
                metrics.AUDIT_WRITE_FAILURES.inc()
                log.error("audit append to %s failed (attempt %d): %s", table, attempts, type(exc).__name__)
                if final and attempts >= 5:
                    self._drop(table, "lake_unavailable", len(records))
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)

    def _drop(self, table: str, reason: str, n: int) -> None:
        metrics.AUDIT_DROPPED.labels(table, reason).inc(n)
        now = time.monotonic()
        if now - self._last_drop_log > 5.0:  # one line per 5 s, the metric counts every record
            self._last_drop_log = now
            log.error("audit records dropped (%s, %s): see attrition_audit_records_dropped_total", table, reason)
