from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from arro3.core import Schema
from deltalake import DeltaTable

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PREDICTION_LOG,
    SCHEMAS,
    STATS_COLUMNS,
    STATS_PROPERTY,
    ActionRecord,
    LogBatch,
    OpenLogTables,
    PredictionRecord,
    append_actions,
    append_predictions,
    ensure_log_tables,
    log_columns,
    log_uri,
    read_log,
)

T0 = datetime(2026, 11, 29, 23, 59, 59, 500_000, tzinfo=UTC)


def _prediction(i: int, ts: datetime = T0, **kw: object) -> PredictionRecord:
    base = dict(
        prediction_id=f"p-{i:05d}",
        ts=ts,
        caller="hr-portal",
        employee_id=1000 + i if i % 4 else None,
        model_version="7",
        source="cached" if i % 3 == 0 else "live",
        inputs=None if i % 3 == 0 else f'{{"Age": {30 + i % 20}}}',
        probability=(i % 100) / 100,
        risk_band=("low", "medium", "high")[i % 3],
        top_factors=tuple(("OverTime", "Works overtime", 0.1 * k) for k in range(i % 4)),
    )
    return PredictionRecord(**(base | kw))


def _action(i: int, ts: datetime = T0, **kw: object) -> ActionRecord:
    base = dict(
        action_id=f"a-{i:05d}",
        ts=ts,
        caller="manager-1",
        employee_id=1000 + i,
        prediction_id=f"p-{i:05d}",
        action="stay interview",
        reason="high risk, recent reorg",
    )
    return ActionRecord(**(base | kw))


def _rows(log: dict[str, list]) -> list[dict[str, object]]:
    names = list(log)
    return [dict(zip(names, values, strict=True)) for values in zip(*log.values(), strict=True)]


def _expected(record: object) -> dict[str, object]:
    row = asdict(record)
    row["day"] = record.ts.astimezone(UTC).date().isoformat()
    return row


def _errors_running_together(work: Callable[[int], object], threads: int) -> list[BaseException]:
    """Run work(0) ... work(threads - 1) at once, one thread each; what they raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - the caller asserts on it
            errors.append(exc)

    started = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return errors


def test_appended_predictions_read_back_equal(tmp_path):
    root = str(tmp_path / "lake")
    records = [_prediction(i, T0 + timedelta(seconds=i)) for i in range(12)]
    assert append_predictions(root, records) == 12
    got = _rows(read_log(root, PREDICTION_LOG))
    assert got == [_expected(r) for r in records]


def test_appended_actions_read_back_equal(tmp_path):
    root = str(tmp_path / "lake")
    records = [_action(i, T0 + timedelta(minutes=i)) for i in range(3)]
    assert append_actions(root, records) == 3
    assert _rows(read_log(root, ACTION_LOG)) == [_expected(r) for r in records]


def test_logs_are_partitioned_by_utc_day(tmp_path):
    root = str(tmp_path / "lake")
    # 23:59:59.5 UTC on the 29th and one second later: two days, whatever the writer's zone.
    # And 04:00 in India on the 30th is 22:30 UTC on the 29th: the UTC day, not the local one.
    india = datetime(2026, 11, 30, 4, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    append_predictions(root, [_prediction(1, T0), _prediction(2, T0 + timedelta(seconds=1)), _prediction(3, india)])
    table = DeltaTable(log_uri(root, PREDICTION_LOG))
    log = read_log(root, PREDICTION_LOG)
    assert dict(zip(log["prediction_id"], log["day"], strict=True)) == {
        "p-00001": "2026-11-29",
        "p-00002": "2026-11-30",
        "p-00003": "2026-11-29",
    }
    assert table.metadata().partition_columns == ["day"]
    days = sorted(table.get_add_actions(flatten=True)["partition.day"].to_pylist())
    assert days == ["2026-11-29", "2026-11-30"]
    assert sorted(p.name for p in (tmp_path / "lake" / PREDICTION_LOG).glob("day=*")) == [
        "day=2026-11-29",
        "day=2026-11-30",
    ]


def test_concurrent_appends_from_four_threads_lose_nothing(tmp_path):
    root = str(tmp_path / "lake")
    ensure_log_tables(root)

    def writer(w: int) -> None:
        for batch in range(5):
            start = w * 1000 + batch * 10
            append_predictions(root, [_prediction(start + k) for k in range(10)])

    assert _errors_running_together(writer, 4) == []
    ids = read_log(root, PREDICTION_LOG)["prediction_id"]
    assert sorted(ids) == sorted(
        f"p-{w * 1000 + b * 10 + k:05d}" for w in range(4) for b in range(5) for k in range(10)
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_action_without_a_reason_is_rejected_and_nothing_written(tmp_path, reason):
    root = str(tmp_path / "lake")
    with pytest.raises(ValueError, match="reason"):
        append_actions(root, [_action(1), _action(2, reason=reason)])
    ensure_log_tables(root)
    assert read_log(root, ACTION_LOG)["action_id"] == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"source": "guess"}, "source"),
        ({"probability": 1.2}, "probability"),
        ({"risk_band": "severe"}, "risk_band"),
        ({"source": "cached", "inputs": "{}"}, "inputs"),
        ({"caller": ""}, "caller"),
    ],
)
def test_invalid_prediction_records_are_rejected_naming_the_field(tmp_path, change, named):
    with pytest.raises(ValueError, match=named):
        append_predictions(str(tmp_path / "lake"), [_prediction(1, **change)])


def test_naive_timestamps_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="timezone"):
        append_actions(str(tmp_path / "lake"), [_action(1, ts=T0.replace(tzinfo=None))])


def test_ensure_creates_the_declared_schema_once_even_when_racing(tmp_path):
    root = str(tmp_path / "lake")
    assert _errors_running_together(lambda _: ensure_log_tables(root), 3) == []
    for table in (PREDICTION_LOG, ACTION_LOG):
        dt = DeltaTable(log_uri(root, table))
        # A lost race may add one more identical create commit; never a different schema.
        created = Schema.from_arrow(dt.schema())
        assert [(f.name, str(f.type), f.nullable) for f in created] == [
            (f.name, str(f.type), f.nullable) for f in SCHEMAS[table]
        ]
        assert dt.metadata().partition_columns == ["day"]
        version = dt.version()
        ensure_log_tables(root)
        assert DeltaTable(log_uri(root, table)).version() == version  # idempotent: no commit


def test_appends_write_exactly_the_schema_ensure_created(tmp_path):
    root = str(tmp_path / "lake")
    ensure_log_tables(root)
    for table in (PREDICTION_LOG, ACTION_LOG):
        before = DeltaTable(log_uri(root, table)).schema().to_json()
        if table == PREDICTION_LOG:
            append_predictions(root, [_prediction(i) for i in range(4)])
        else:
            append_actions(root, [_action(1)])
        dt = DeltaTable(log_uri(root, table))
        assert dt.version() == 1
        assert dt.schema().to_json() == before  # no schema drift from what ensure created


def test_record_fields_are_the_table_columns_minus_day():
    assert [f.name for f in fields(PredictionRecord)] == [
        n for n in SCHEMAS[PREDICTION_LOG].names if n != "day"
    ]
    assert [f.name for f in fields(ActionRecord)] == [
        n for n in SCHEMAS[ACTION_LOG].names if n != "day"
    ]


def test_kept_open_tables_append_after_other_writers_commits_in_order(tmp_path):
    """Serving's writer keeps its handle between batches; another process's commits in between
    must neither be overwritten nor make the stale handle lose its batch."""
    root = str(tmp_path / "lake")
    kept = OpenLogTables()
    batches = [[_prediction(10 * b + k, T0 + timedelta(seconds=b)) for k in range(3)] for b in range(4)]
    for b, batch in enumerate(batches):
        append_predictions(root, batch, tables=kept if b % 2 == 0 else None)
    log = read_log(root, PREDICTION_LOG)
    assert _rows(log) == [_expected(r) for batch in batches for r in batch]
    assert kept.is_open(log_uri(root, PREDICTION_LOG))
    assert DeltaTable(log_uri(root, PREDICTION_LOG)).version() == 4  # create + four appends


def test_kept_open_tables_replace_a_handle_after_reopen_after_appends_and_lose_no_row(tmp_path):
    """A kept-open handle's memory grows with every commit it sees: it is used `reopen_after`
    times, then a fresh one takes over; the rows are the same either way."""
    root = str(tmp_path / "lake")
    uri = log_uri(root, PREDICTION_LOG)
    kept = OpenLogTables(reopen_after=3)
    handles = []
    batches = [[_prediction(10 * b + k, T0 + timedelta(seconds=b)) for k in range(2)] for b in range(7)]
    for batch in batches:
        append_predictions(root, batch, tables=kept)
        handles.append(kept._open[uri])
    assert [h is handles[0] for h in handles[:3]] == [True, True, True]
    assert handles[3] is not handles[2] and handles[5] is handles[3]
    assert handles[6] is not handles[5]
    assert _rows(read_log(root, PREDICTION_LOG)) == [_expected(r) for batch in batches for r in batch]


def test_kept_open_tables_recover_when_the_table_was_removed_and_recreated(tmp_path):
    root = str(tmp_path / "lake")
    kept = OpenLogTables()
    append_predictions(root, [_prediction(1), _prediction(2)], tables=kept)
    append_actions(root, [_action(1)], tables=kept)
    shutil.rmtree(log_uri(root, PREDICTION_LOG))  # an operator wiped the table
    append_predictions(root, [_prediction(3)], tables=kept)
    assert read_log(root, PREDICTION_LOG)["prediction_id"] == ["p-00003"]
    assert read_log(root, ACTION_LOG)["action_id"] == ["a-00001"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"top_factors": None}, "top_factors"),
        ({"top_factors": (("OverTime", "Works overtime"),)}, "top_factors"),
        ({"top_factors": ((1, "Works overtime", 0.1),)}, "top_factors"),
        ({"employee_id": "1001"}, "employee_id"),
        ({"inputs": {"Age": 30}}, "inputs"),
        ({"probability": float("nan")}, "probability"),
    ],
)
def test_a_log_batch_refuses_a_bad_record_naming_the_field_and_stays_as_it_was(change, named):
    batch = LogBatch(PREDICTION_LOG)
    batch.add(_prediction(1))
    with pytest.raises(ValueError, match=named):
        batch.add(_prediction(2, **change))
    assert len(batch) == 1
    assert _rows(log_columns(PREDICTION_LOG, batch.to_table())) == [_expected(_prediction(1))]



MARKS = {"inputs": "INPUT-MARK", "caller": "CALLER-MARK", "reason": "REASON-MARK"}
MARKED_INPUTS = '{"n":"INPUT-MARK"}'  # in the commit JSON its quotes are escaped; the mark is not


def _append_marked(root: str) -> None:
    append_predictions(root, [_prediction(1, inputs=MARKED_INPUTS, caller=MARKS["caller"])])
    append_actions(root, [_action(1, reason=MARKS["reason"])])


def _commit_log(root: str, table: str) -> tuple[str, list[set[str]]]:
    """(all JSON commit text, the columns each add action keeps min/max statistics for)."""
    text, stats = "", []
    for path in sorted((Path(log_uri(root, table)) / "_delta_log").glob("*.json")):
        text += path.read_text()
        for line in path.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                parsed = json.loads(add["stats"])
                stats.append(set(parsed.get("minValues", {})) | set(parsed.get("maxValues", {})))
    return text, stats


def _create_without_properties(root: str) -> None:
    """A log as ensure_log_tables created it before its table properties were declared."""
    for table, schema in SCHEMAS.items():
        Path(log_uri(root, table)).mkdir(parents=True)
        DeltaTable.create(log_uri(root, table), schema, partition_by=["day"])


def test_logs_keep_statistics_only_on_ts_and_employee_id_so_no_input_caller_or_reason_reaches_the_commit_log(tmp_path):
    # Control: a log without the property copies each value's first characters into its commits.
    legacy = str(tmp_path / "legacy")
    _create_without_properties(legacy)
    _append_marked(legacy)
    legacy_text = _commit_log(legacy, PREDICTION_LOG)[0] + _commit_log(legacy, ACTION_LOG)[0]
    assert all(mark in legacy_text for mark in MARKS.values())

    root = str(tmp_path / "lake")
    ensure_log_tables(root)
    _append_marked(root)
    for table in (PREDICTION_LOG, ACTION_LOG):
        assert DeltaTable(log_uri(root, table)).metadata().configuration[STATS_PROPERTY] == "ts,employee_id"
        text, stats = _commit_log(root, table)
        assert not [mark for mark in MARKS.values() if mark in text], table
        assert stats and all(columns <= set(STATS_COLUMNS[table]) and "ts" in columns for columns in stats), stats
    # The rows themselves are whole: only the statistics were left out.
    log = read_log(root, PREDICTION_LOG)
    assert (log["inputs"], log["caller"]) == ([MARKED_INPUTS], [MARKS["caller"]])
    assert read_log(root, ACTION_LOG)["reason"] == [MARKS["reason"]]


def test_ensure_gives_a_log_created_before_the_property_the_property_once_and_later_appends_obey_it(tmp_path):
    root = str(tmp_path / "lake")
    _create_without_properties(root)
    append_predictions(root, [_prediction(1)])
    ensure_log_tables(root)
    ensure_log_tables(root)  # idempotent: the second finds the property set
    dt = DeltaTable(log_uri(root, PREDICTION_LOG))
    assert dt.metadata().configuration[STATS_PROPERTY] == "ts,employee_id"
    assert dt.version() == 2  # create, append, one property commit
    assert DeltaTable(log_uri(root, ACTION_LOG)).version() == 1  # create, one property commit
    _append_marked(root)
    text = (Path(log_uri(root, PREDICTION_LOG)) / "_delta_log" / f"{3:020d}.json").read_text()
    assert MARKS["inputs"] not in text and MARKS["caller"] not in text
    assert [r["prediction_id"] for r in _rows(read_log(root, PREDICTION_LOG))] == ["p-00001", "p-00001"]


def test_replicas_starting_at_once_on_an_older_log_set_its_property_without_error_or_a_lost_row(tmp_path):
    """Serving replicas start together after an upgrade: each brings the log to its property
    while another appends; one property commit wins, the others find it set, no row is lost."""
    root = str(tmp_path / "lake")
    _create_without_properties(root)

    def start(i: int) -> None:
        ensure_log_tables(root)
        append_predictions(root, [_prediction(i)])

    assert _errors_running_together(start, 4) == []
    dt = DeltaTable(log_uri(root, PREDICTION_LOG))
    assert dt.metadata().configuration[STATS_PROPERTY] == "ts,employee_id"
    assert sorted(read_log(root, PREDICTION_LOG)["prediction_id"]) == [f"p-{i:05d}" for i in range(4)]
    history = [c["operation"] for c in dt.history()]
    assert history.count("SET TBLPROPERTIES") == 1, history
