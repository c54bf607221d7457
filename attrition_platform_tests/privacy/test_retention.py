"""retention_purge: log rows older than the retention period leave the latest version and the disk."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PREDICTION_LOG,
    SCHEMAS,
    STATS_PROPERTY,
    ActionRecord,
    OpenLogTables,
    PredictionRecord,
    append_actions,
    append_predictions,
    log_uri,
    read_log,
)
from attrition_platform.defs.privacy_assets import retention_purge
from attrition_platform.privacy.retention import purge_logs
from attrition_platform.resources.lake import DeltaLake
from attrition_platform_tests.privacy.disk import files_holding, parquet_values

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=180)


def _prediction(pid: str, ts: datetime, employee_id: int) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=pid,
        ts=ts,
        caller=f"caller-{pid}",
        employee_id=employee_id,
        model_version="3",
        source="live",
        inputs=f'{{"marker": "{pid}"}}',
        probability=0.25,
        risk_band="low",
        top_factors=(("OverTime", "Works overtime", 0.5),),
    )


def _action(aid: str, ts: datetime, employee_id: int) -> ActionRecord:
    return ActionRecord(aid, ts, f"caller-{aid}", employee_id, f"pred-{aid}", "talk", f"reason {aid}")


def _fill(root: str) -> tuple[list[str], list[str]]:
    """Logs spanning 200 days, several commits (files) per day: (old ids, new ids) where an id
    is a prediction or action id. Rows on the cut-off day fall on both sides of the instant."""
    old: list[str] = []
    new: list[str] = []
    for age_days in (200, 181, 180, 179, 30, 0):
        for hour in (0, 5, 7, 12):
            ts = NOW.replace(hour=hour) - timedelta(days=age_days)
            if ts > NOW:
                continue
            tag = f"d{age_days}h{hour}"
            bucket = old if ts < CUTOFF else new
            append_predictions(root, [_prediction(f"pold-{tag}" if ts < CUTOFF else f"pnew-{tag}", ts, 100 + hour)])
            append_actions(root, [_action(f"aold-{tag}" if ts < CUTOFF else f"anew-{tag}", ts, 100 + hour)])
            bucket += [f"pold-{tag}" if ts < CUTOFF else f"pnew-{tag}", f"aold-{tag}" if ts < CUTOFF else f"anew-{tag}"]
    return old, new


def _run(root: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [retention_purge],
        resources={"lake": DeltaLake(root=root)},
        run_config={"ops": {"retention_purge": {"config": {"now": NOW.isoformat(), **config}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_purge_removes_old_rows_from_the_latest_version_and_from_every_file_on_disk(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    old, new = _fill(root)
    assert old and new
    before_p = read_log(root, PREDICTION_LOG)
    result = _run(root)
    assert result.success
    after_p = read_log(root, PREDICTION_LOG)
    after_a = read_log(root, ACTION_LOG)
    # The newer rows are intact, value for value; the older ones are gone.
    kept = [i for i, pid in enumerate(before_p["prediction_id"]) if pid.startswith("pnew-")]
    for column, values in after_p.items():
        assert values == [before_p[column][i] for i in kept], column
    assert sorted(after_a["action_id"]) == sorted(i for i in new if i.startswith("anew-"))
    assert all(ts >= CUTOFF for ts in after_p["ts"] + after_a["ts"])
    # No file on disk (data, JSON commit, checkpoint) still holds an old row's id or input.
    for table in (PREDICTION_LOG, ACTION_LOG):
        table_dir = Path(log_uri(root, table))
        assert files_holding(table_dir, old) == {}
        assert not any(v in old for v in parquet_values(table_dir, "prediction_id" if table == PREDICTION_LOG else "action_id"))
    metadata = result.asset_materializations_for_node("retention_purge")[0].metadata
    assert metadata[f"{PREDICTION_LOG}/rows_deleted"].value == sum(1 for i in old if i.startswith("pold-"))
    assert metadata[f"{ACTION_LOG}/rows_deleted"].value == sum(1 for i in old if i.startswith("aold-"))
    assert metadata[f"{PREDICTION_LOG}/oldest_day_kept"].value == CUTOFF.date().isoformat()
    assert metadata[f"{PREDICTION_LOG}/files_vacuumed"].value > 0


def test_a_second_purge_the_same_day_deletes_nothing_and_keeps_every_row(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    _fill(root)
    assert _run(root).success
    kept = read_log(root, PREDICTION_LOG)
    again = _run(root)
    assert again.success
    assert again.asset_materializations_for_node("retention_purge")[0].metadata["rows_deleted"].value == 0
    assert read_log(root, PREDICTION_LOG) == kept


def test_compaction_leaves_one_file_per_day_with_the_same_rows(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    _fill(root)
    assert _run(root, compact=False).success
    rows = read_log(root, PREDICTION_LOG)
    many = len(DeltaTable(log_uri(root, PREDICTION_LOG)).file_uris())
    assert _run(root, compact=True).success
    uris = DeltaTable(log_uri(root, PREDICTION_LOG)).file_uris()
    days = {u.split("day=")[1].split("/")[0] for u in uris}
    assert len(uris) == len(days) < many
    assert read_log(root, PREDICTION_LOG) == rows


def test_the_first_compacting_purge_after_an_upgrade_leaves_no_logged_input_in_the_commit_log(tmp_path: Path) -> None:
    """Logs created before their statistics were limited to `ts` and `employee_id` hold each
    batch's first input characters and caller in their commits. The purge sets the property,
    its compaction rewrites the kept days' files with the limited statistics and its log
    cleanup drops the old commits: afterwards only the data files hold those values."""
    root = str(tmp_path / "lake")
    for table, schema in SCHEMAS.items():  # as created before the property was declared
        Path(log_uri(root, table)).mkdir(parents=True)
        DeltaTable.create(log_uri(root, table), schema, partition_by=["day"])
    _, new = _fill(root)
    kept = [pid for pid in new if pid.startswith("pnew-")]
    callers = [f"caller-{pid}" for pid in kept]
    log_dir = Path(log_uri(root, PREDICTION_LOG)) / "_delta_log"
    assert files_holding(log_dir, callers)  # control: the legacy commits hold them
    rows = read_log(root, PREDICTION_LOG)

    purge_logs(root, 180, NOW, compact=True)

    assert DeltaTable(log_uri(root, PREDICTION_LOG)).metadata().configuration[STATS_PROPERTY] == "ts,employee_id"
    assert files_holding(log_dir, callers) == {}
    assert read_log(root, PREDICTION_LOG)["caller"] == [c for c, pid in zip(rows["caller"], rows["prediction_id"], strict=True) if pid in kept]


@pytest.mark.parametrize("kept_open", [False, True], ids=["opened-per-append", "kept-open-like-serving"])
def test_purge_while_serving_appends_loses_no_appended_row(tmp_path: Path, kept_open: bool) -> None:
    """Two writers: a purge (delete, compaction, vacuum, log cleanup) and an appender committing
    as fast as it can. Commit races are retried on both sides: every appended row is kept, also
    when the appender keeps its table open between batches as serving's audit thread does."""
    root = str(tmp_path / "lake")
    tables = OpenLogTables() if kept_open else None
    old, _ = _fill(root)
    appended: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def appender() -> None:
        i = 0
        while not stop.is_set():
            pid = f"live-{i:05d}"
            try:
                append_predictions(root, [_prediction(pid, NOW, 7)], tables=tables)
                appended.append(pid)
            except BaseException as exc:  # noqa: BLE001 - the test reports it
                failures.append(exc)
            i += 1

    thread = threading.Thread(target=appender)
    thread.start()
    try:
        while len(appended) < 3:
            pass
        for _ in range(3):
            purge_logs(root, 180, NOW, compact=True)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert failures == []
    ids = read_log(root, PREDICTION_LOG)["prediction_id"]
    assert set(appended) <= set(ids)
    assert len(ids) == len(set(ids))
    assert not set(old) & set(ids)


def test_a_bad_now_fails_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    result = dg.materialize(
        [retention_purge],
        resources={"lake": DeltaLake(root=str(tmp_path / "lake"))},
        run_config={"ops": {"retention_purge": {"config": {"now": "yesterday"}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "config now: 'yesterday' is not an ISO 8601 date-time" in failure.step_failure_data.error.message


def test_the_cutoff_needs_a_timezone_aware_instant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        purge_logs(str(tmp_path / "lake"), 180, datetime(2026, 1, 1))
