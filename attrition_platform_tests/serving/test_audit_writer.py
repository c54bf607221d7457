"""The serving audit writer against a real Delta lake: batches built in steps, one commit each."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deltalake import DeltaTable
from prometheus_client import REGISTRY

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PREDICTION_LOG,
    ActionRecord,
    PredictionRecord,
    log_uri,
    read_log,
)
from serving.audit import AuditWriter

T0 = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)


def _prediction(i: int) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p-{i:05d}",
        ts=T0 + timedelta(milliseconds=10 * i),  # crosses midnight: two day partitions
        caller="hr-portal",
        employee_id=1000 + i,
        model_version="3",
        source="live",
        inputs=f'{{"Age": {20 + i % 40}}}',
        probability=(i % 97) / 97,
        risk_band=("low", "medium", "high")[i % 3],
        top_factors=tuple((f"f{k}", f"factor {k}", 0.1 * k - 0.05 * i) for k in range(i % 4)),
    )


def _action(i: int) -> ActionRecord:
    return ActionRecord(f"a-{i:05d}", T0, "manager-1", 1000 + i, f"p-{i:05d}", "stay interview", "reorg")


def _dropped(reason: str) -> float:
    return REGISTRY.get_sample_value(
        "attrition_audit_records_dropped_total", {"table": PREDICTION_LOG, "reason": reason}
    ) or 0.0


def test_a_flush_lands_every_row_in_order_in_commits_of_at_most_batch_size(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    writer = AuditWriter(lake, flush_seconds=3600, batch_size=64)
    writer.start()
    predictions = [_prediction(i) for i in range(150)]
    actions = [_action(i) for i in range(3)]
    for record in [*predictions[:75], *actions, *predictions[75:]]:
        assert writer.submit(record)
    assert writer.close() == 0  # the final flush writes all 153 at once

    log = read_log(lake, PREDICTION_LOG)
    assert log["prediction_id"] == [r.prediction_id for r in predictions]
    assert log["probability"] == [r.probability for r in predictions]
    assert log["top_factors"] == [r.top_factors for r in predictions]
    assert sorted(set(log["day"])) == ["2026-12-01", "2026-12-02"]
    assert read_log(lake, ACTION_LOG)["action_id"] == [a.action_id for a in actions]
    # 150 rows in commits of 64, 64 and 22; version 0 is the table's creation.
    assert DeltaTable(log_uri(lake, PREDICTION_LOG)).version() == 3
    assert DeltaTable(log_uri(lake, ACTION_LOG)).version() == 1


def test_a_record_breaking_the_contract_is_refused_and_counted_and_the_rest_land(tmp_path: Path, caplog) -> None:
    lake = str(tmp_path / "lake")
    writer = AuditWriter(lake, flush_seconds=3600)
    writer.start()
    good = [_prediction(i) for i in range(10)]
    bad = replace(_prediction(99), probability=1.5)
    before = _dropped("invalid")
    with caplog.at_level(logging.ERROR, logger="attrition.serving"):
        assert [writer.submit(r) for r in [*good[:5], bad, *good[5:]]] == [True] * 5 + [False] + [True] * 5
    assert writer.close(timeout=30) == 0

    assert read_log(lake, PREDICTION_LOG)["prediction_id"] == [r.prediction_id for r in good]
    assert _dropped("invalid") == before + 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("(prediction_log, invalid: probability must be a number in [0, 1])" in m for m in messages)
    assert not any("1.5" in m for m in messages)  # the field and the problem, never the value


def test_a_full_buffer_refuses_and_counts_and_a_flush_makes_room(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    writer = AuditWriter(lake, flush_seconds=0.05, queue_size=4)
    before = _dropped("queue_full")
    accepted = [writer.submit(_prediction(i)) for i in range(6)]  # not started: nothing flushes
    assert accepted == [True] * 4 + [False] * 2
    assert writer.depth == 4
    assert _dropped("queue_full") == before + 2
    writer.start()
    deadline = time.monotonic() + 30
    while writer.depth and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.submit(_prediction(6))
    assert writer.close() == 0
    assert read_log(lake, PREDICTION_LOG)["prediction_id"] == [f"p-{i:05d}" for i in (0, 1, 2, 3, 6)]


def _failures() -> float:
    return REGISTRY.get_sample_value("attrition_audit_write_failures_total") or 0.0


def _wait(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_records_wait_through_a_failing_lake_and_land_when_it_recovers(tmp_path: Path, caplog) -> None:
    lake = str(tmp_path / "lake")
    table = Path(log_uri(lake, PREDICTION_LOG))
    writer = AuditWriter(lake, flush_seconds=0.05, max_backoff_seconds=0.2)
    writer.start()
    writer.submit(_prediction(1))
    _wait(lambda: writer.depth == 0, "the first flush")  # the writer now holds the table open
    shutil.rmtree(table)
    table.write_text("not a table")  # appends now fail: no directory can be made there
    before = _failures()
    with caplog.at_level(logging.ERROR, logger="attrition.serving"):
        for i in range(2, 7):
            assert writer.submit(_prediction(i))
        _wait(lambda: _failures() >= before + 2, "two failed attempts")
        assert writer.depth == 5  # waiting, not dropped
        table.unlink()  # the lake recovers
        assert writer.close() == 0
    assert read_log(lake, PREDICTION_LOG)["prediction_id"] == [f"p-{i:05d}" for i in range(2, 7)]
    failed = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert failed and all(m.startswith("audit append to prediction_log failed") for m in failed)


def test_close_during_a_lake_outage_returns_promptly_and_counts_every_record_lost(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    table = Path(log_uri(lake, PREDICTION_LOG))
    writer = AuditWriter(lake, flush_seconds=0.05)  # the default backoff grows to 30 s
    writer.start()
    shutil.rmtree(table)
    table.write_text("not a table")
    before_failures, before_lost = _failures(), _dropped("lake_unavailable")
    for i in range(3):
        writer.submit(_prediction(i))
    _wait(lambda: _failures() >= before_failures + 2, "the writer to be retrying")  # backoff now 0.4 s+
    for i in range(3, 5):
        writer.submit(_prediction(i))  # waiting behind the batch being retried
    started = time.monotonic()
    assert writer.close(timeout=20) == 5
    assert time.monotonic() - started < 10  # not the backoff's 30 s, not close()'s timeout
    assert _dropped("lake_unavailable") == before_lost + 5
