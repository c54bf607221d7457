"""`attrition erase EMPLOYEE_ID`: the employee leaves every file the platform owns, and stays out.

Runs the real command in a subprocess on a data directory built by the real graph (conftest).
The tests run in file order: erase, then the checks on what it left, then the rerun.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from attrition_platform import datadir
from attrition_platform.contracts.fallback_export import FallbackIndex
from attrition_platform.contracts.published import read_pointer, store_from_uri
from attrition_platform.privacy import suppression
from attrition_platform.privacy.erasure import ID_COLUMNS, KNOWN_TABLES, Locations, erase_employee, find_employee
from attrition_platform.settings import Paths
from attrition_platform_tests.defs.conftest import materialize_snapshot
from attrition_platform_tests.privacy.conftest import PlatformHome
from attrition_platform_tests.privacy.disk import files_holding_employee

ATTRITION = str(Path(sys.executable).with_name("attrition"))


def _cli(home: Path, *args: str, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(home)
    return subprocess.run(
        [ATTRITION, "erase", *args], env=env, capture_output=True, text=True, input=input, timeout=timeout
    )


def _rows(lake: Path) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """table -> (id column, every row of the latest version)."""
    out = {}
    for name in KNOWN_TABLES:
        table = DeltaTable(str(lake / name))
        data = table.to_pyarrow_table()
        column = next(c for c in ID_COLUMNS if c in data.column_names)
        out[name] = (column, data.to_pylist())
    return out


def _key(row: dict[str, Any]) -> str:
    return repr(sorted(row.items()))


@pytest.fixture(scope="module")
def erased(platform_home: PlatformHome) -> dict[str, Any]:
    """Pick an employee who is everywhere (snapshots, training set, scores, export, both logs),
    record every table and the export, then erase them through the CLI."""
    lake, serving = platform_home.lake, platform_home.serving
    before = _rows(lake)
    logged = {r["employee_id"] for r in before["action_log"][1]}
    trained = {r["EmployeeNumber"] for r in before["training_set"][1]}
    scored = {r["employee_id"] for r in before["nightly_scores"][1]}
    target = min(logged & trained & scored)
    assert files_holding_employee(lake, target) and files_holding_employee(serving, target)
    store = store_from_uri(str(serving))
    pointer_before = read_pointer(store)
    export_before = FallbackIndex.from_bytes(store.read_bytes(pointer_before.scores_path))
    result = _cli(platform_home.home, str(target), "--yes")
    return {"target": target, "before": before, "export_before": export_before, "result": result,
            "pointer_before": pointer_before}


def test_erase_exits_0_and_prints_what_it_removed_per_table(erased: dict[str, Any]) -> None:
    result, target = erased["result"], erased["target"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name, (column, rows) in erased["before"].items():
        n = sum(1 for r in rows if r[column] == target)
        assert n > 0 or name == "hris_terminations", name  # only leavers have terminations
        assert f"  {name}: {n} row(s) removed" in out, (name, out)
    assert "scores/" in out and "(export rewritten)" in out
    assert "suppression list: salted hash added" in out


def test_no_file_under_the_lake_or_the_published_location_holds_the_employee(
    platform_home: PlatformHome, erased: dict[str, Any]
) -> None:
    """Data files, JSON commits and checkpoints (min/max statistics, delete predicates) of
    every table, and every fallback export."""
    assert files_holding_employee(platform_home.lake, erased["target"]) == []
    assert files_holding_employee(platform_home.serving, erased["target"]) == []


def test_every_other_row_is_intact(platform_home: PlatformHome, erased: dict[str, Any]) -> None:
    target = erased["target"]
    after = _rows(platform_home.lake)
    for name, (column, rows) in erased["before"].items():
        expected = sorted(_key(r) for r in rows if r[column] != target)
        assert sorted(_key(r) for r in after[name][1]) == expected, name


def test_the_export_current_names_is_still_valid_and_only_lost_the_employee(
    platform_home: PlatformHome, erased: dict[str, Any]
) -> None:
    store = store_from_uri(str(platform_home.serving))
    pointer = read_pointer(store)
    after = FallbackIndex.from_bytes(store.read_bytes(pointer.scores_path))
    before = erased["export_before"]
    assert erased["target"] in before and erased["target"] not in after
    assert len(after) == len(before) - 1
    some = next(i for i in range(1, 10_000) if i in after)
    assert after.get(some) == before.get(some)
    # CURRENT names the same export with a new revision: a running service reloads it.
    was = erased["pointer_before"]
    assert pointer.scores_path == was.scores_path and pointer.model_version == was.model_version
    assert pointer.scores_revision != was.scores_revision


def test_the_suppression_list_holds_a_salted_hash_not_the_id(platform_home: PlatformHome, erased: dict[str, Any]) -> None:
    lake = str(platform_home.lake)
    salt_file = platform_home.lake / suppression.SALT_FILE
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    table = DeltaTable(str(platform_home.lake / suppression.TABLE)).to_pyarrow_table()
    assert table.column_names == [suppression.HASH_COLUMN, "suppressed_at"]
    assert table.column(suppression.HASH_COLUMN).to_pylist() == suppression.id_hashes([erased["target"]], suppression.salt(lake))
    assert suppression.is_suppressed(lake, erased["target"])


def test_landing_the_same_extract_again_does_not_bring_the_employee_back(
    platform_home: PlatformHome, erased: dict[str, Any]
) -> None:
    latest = platform_home.dates[-1]
    result = materialize_snapshot(platform_home.resources, latest.isoformat(), platform_home.instance)
    assert result.success
    employees = platform_home.resources["lake"].read("hris_employees", snapshot_date=latest)
    assert erased["target"] not in set(employees["EmployeeNumber"].astype(int))
    metadata = result.asset_materializations_for_node("hris_employees")[0].metadata
    assert metadata["suppressed_dropped"].value == 1
    features = platform_home.resources["lake"].read("employee_features", snapshot_date=latest)
    assert erased["target"] not in set(features["EmployeeNumber"].astype(int))


def test_erasing_again_finds_the_employee_nowhere_and_changes_nothing(
    platform_home: PlatformHome, erased: dict[str, Any]
) -> None:
    versions = {n: DeltaTable(str(platform_home.lake / n)).version() for n in KNOWN_TABLES}
    again = _cli(platform_home.home, str(erased["target"]), "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"employee {erased['target']}: not found anywhere (nothing changed)"
    assert {n: DeltaTable(str(platform_home.lake / n)).version() for n in KNOWN_TABLES} == versions


@pytest.mark.parametrize("bad", ["abc", "-3", "0"])
def test_an_id_that_is_not_a_positive_integer_is_one_line_and_exit_2(tmp_path: Path, bad: str) -> None:
    result = _cli(tmp_path / "home", bad, "--yes", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: EMPLOYEE_ID: must be a positive integer (the HRIS EmployeeNumber)"
    assert not (tmp_path / "home").exists()  # refused before anything was created


def test_declining_the_confirmation_changes_nothing(platform_home: PlatformHome) -> None:
    target = _rows(platform_home.lake)["action_log"][1][-1]["employee_id"]
    versions = {n: DeltaTable(str(platform_home.lake / n)).version() for n in KNOWN_TABLES}
    result = _cli(platform_home.home, str(target), input="n\n")
    assert result.returncode == 1
    assert "found in:" in result.stdout and "nothing changed" in result.stdout
    assert {n: DeltaTable(str(platform_home.lake / n)).version() for n in KNOWN_TABLES} == versions


def test_with_no_wait_a_held_lock_stops_at_once_naming_the_holder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with datadir.exclusive(Paths(home), "attrition demo", 0, print):
        result = _cli(home, "12", "--yes", "--no-wait", timeout=60)
    assert result.returncode == 2
    assert f"is in use by pid {os.getpid()} (attrition demo" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_erase_waits_for_the_lock_then_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(home)
    with datadir.exclusive(Paths(home), "attrition demo", 0, print):
        proc = subprocess.Popen([ATTRITION, "erase", "12", "--yes"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=120)
        # It says who holds the lock and waits; it must not run beside the holder.
        assert lines and "waiting for the data directory lock held by pid" in lines[0]
        assert proc.poll() is None
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == "employee 12: not found anywhere (nothing changed)"


def test_erasing_a_leaver_removes_their_terminations_too(platform_home: PlatformHome) -> None:
    """The CLI test's employee is still employed; a leaver also has hris_terminations rows."""
    lake = platform_home.lake
    leavers = {r["EmployeeNumber"] for r in _rows(lake)["hris_terminations"][1]}
    employed = {r["EmployeeNumber"] for r in _rows(lake)["hris_employees"][1]}
    leaver = min(leavers & employed)
    where = Locations(str(lake), str(platform_home.serving), None)
    found = find_employee(leaver, where)
    assert found.tables["hris_terminations"] > 0 and found.tables["hris_employees"] > 0
    report = erase_employee(leaver, where)
    removed = {t.table: t.rows_removed for t in report.tables}
    assert removed["hris_terminations"] == found.tables["hris_terminations"]
    assert files_holding_employee(lake, leaver) == []
    assert not find_employee(leaver, where).found
