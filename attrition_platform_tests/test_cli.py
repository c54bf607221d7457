"""The `attrition` command as a user runs it: a real process, a temporary data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from attrition_platform.resources.lake import DeltaLake

ATTRITION = str(Path(sys.executable).with_name("attrition"))


def run(args: list[str], home: Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(home)
    return subprocess.run([ATTRITION, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def static_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "static.csv"
    result = run(["generate", "--out", str(out), "--employees", "1500", "--months", "24", "--static"], out.parent, out.parent)
    assert result.returncode == 0, result.stderr
    return out


def test_generated_static_export_follows_the_ibm_layout(static_export: Path) -> None:
    df = pd.read_csv(static_export)
    assert "snapshot_date" not in df.columns
    assert set(df["Attrition"]) == {"Yes", "No"}
    assert 0.05 < (df["Attrition"] == "Yes").mean() < 0.35


def test_cv_prints_one_json_line_comparing_recipe_and_baseline(static_export: Path, tmp_path: Path) -> None:
    result = run(["cv", "--hris", str(static_export), "--folds", "3", "--repeats", "2"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["folds"] == 3 and report["repeats"] == 2
    for model in ("recipe", "baseline"):
        assert set(report[model]) == {"roc_auc", "pr_auc", "brier", "recall", "precision"}
        assert 0.5 < report[model]["roc_auc"]["mean"] <= 1.0
        assert report[model]["roc_auc"]["std"] >= 0.0
    assert "fold 6/6" in result.stderr  # progress is shown


def test_demo_on_a_bad_export_names_every_problem_and_touches_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    from attrition_platform_tests.hris.factories import static_rows

    rows = static_rows(30)
    rows.loc[4, "Age"] = 99
    rows.loc[7, "OverTime"] = "Sometimes"
    rows = rows.drop(columns="Department")
    rows.to_csv(bad, index=False)
    home = tmp_path / "home"
    result = run(["demo", "--hris", str(bad)], home, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in ("'Age'", "'OverTime'", "'Department'", "missing", "rows 5", "rows 8"):
        assert fragment in result.stderr
    assert not DeltaLake(root=str(home / "lake")).exists("hris_employees")


def test_demo_on_a_static_export_trains_and_is_idempotent(static_export: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run(["demo", "--hris", str(static_export)], home, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "=== attrition demo summary ===" in first.stdout
    assert "models:/attrition/1" in first.stdout and "(static" in first.stdout
    lake = DeltaLake(root=str(home / "lake"))
    rows = len(lake.read("employee_features"))
    second = run(["demo", "--hris", str(static_export)], home, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already materialised, skipped" in second.stdout
    assert "training: the latest model was trained on exactly these snapshots" in second.stdout
    assert "models:/attrition/1" in second.stdout  # no new, identical version registered
    assert len(lake.read("employee_features")) == rows == len(pd.read_csv(static_export))


def test_demo_with_too_little_history_says_what_is_missing(tmp_path: Path) -> None:
    result = run(["demo", "--employees", "150", "--months", "3"], tmp_path / "home", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "training_set: no labelled snapshot yet: a snapshot is labelled once its 180-day horizon" in result.stderr
    assert "[  3/3]" in result.stdout  # the snapshots themselves landed, with progress shown


def test_cv_on_a_time_aware_export_labels_from_its_exits(tmp_path: Path) -> None:
    export = tmp_path / "company.parquet"
    made = run(["generate", "--out", str(export), "--employees", "400", "--months", "14"], tmp_path, tmp_path)
    assert made.returncode == 0, made.stderr
    result = run(["cv", "--hris", str(export), "--folds", "2", "--repeats", "1"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The labels recomputed by hand from the export: a row (employee, D) counts when D + 180
    # days has passed by the last snapshot and the person has not opted out; it is a leaver
    # when a voluntary exit falls in (D, D + 180].
    table = pd.read_parquet(export)
    snap = pd.to_datetime(table["snapshot_date"])
    end = snap.max()
    exit_at = pd.to_datetime(table["termination_date"])
    known = exit_at <= end
    counted = (snap + pd.Timedelta(days=180) <= end) & ~table["opt_out"].astype(bool)
    leaver = (table["termination_type"] == "voluntary") & known & (exit_at > snap) & (
        exit_at <= snap + pd.Timedelta(days=180)
    )
    assert report["rows"] == int(counted.sum())
    assert report["leavers"] == int((counted & leaver).sum()) > 0


def test_cv_on_an_export_without_exits_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    export = tmp_path / "company.parquet"
    made = run(["generate", "--out", str(export), "--employees", "200", "--months", "10"], tmp_path, tmp_path)
    assert made.returncode == 0, made.stderr
    table = pd.read_parquet(export)
    table["termination_date"] = None
    table["termination_type"] = None
    table["Attrition"] = "No"
    table.to_parquet(export)
    result = run(["cv", "--hris", str(export), "--folds", "2", "--repeats", "1"], tmp_path, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no leavers: the export records no voluntary exit" in lines[0]
