"""The `attrition` command as a user runs it: a real process, a temporary data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from attrition_platform.resources.lake import DeltaLake

ATTRITION = str(Path(sys.executable).with_name("attrition"))
SNAPSHOT_TABLES = ("hris_employees", "hris_terminations", "employee_features")


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(home)
    env.update(extra or {})
    return env


def run(
    args: list[str], home: Path, cwd: Path, timeout: int = 600, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ATTRITION, *args], capture_output=True, text=True, env=_env(home, extra_env), cwd=cwd, timeout=timeout
    )


def start(args: list[str], home: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ATTRITION, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home), cwd=cwd
    )


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


def _lake_state(home: Path) -> dict[str, tuple[int | None, pd.DataFrame]]:
    """Each snapshot table's Delta version and its rows in a stable order."""
    lake = DeltaLake(root=str(home / "lake"))
    state = {}
    for table in SNAPSHOT_TABLES:
        df = lake.read(table).astype(object)
        state[table] = (lake.version(table), df.sort_values(sorted(df.columns)).reset_index(drop=True))
    return state


def _model_versions(home: Path) -> list[str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return sorted(str(v.version) for v in MlflowClient(uri, uri).search_model_versions("name='attrition'"))


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
        assert set(report[model]) == {"roc_auc", "pr_auc", "brier", "recall", "precision", "fairness"}
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


def test_two_demos_at_once_take_turns_and_a_refresh_registers_nothing_new(
    static_export: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    both = [start(["demo", "--hris", str(static_export)], home, tmp_path) for _ in range(2)]
    outputs = [proc.communicate(timeout=900) for proc in both]
    for proc, (out, err) in zip(both, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert "=== attrition demo summary ===" in out and "models:/attrition/1" in out
    waited = [out for out, _ in outputs if "waiting for the data directory lock held by pid" in out]
    assert len(waited) == 1  # the other one held the lock from start to end
    assert "already materialised, skipped" in waited[0]
    assert "training: the challenger was trained on training inputs with exactly this content" in waited[0]
    lake = DeltaLake(root=str(home / "lake"))
    employees = lake.read("hris_employees")
    assert not employees.duplicated(["EmployeeNumber", "snapshot_date"]).any()
    assert len(employees) == len(pd.read_csv(static_export))
    # The runs belong to the code location's jobs (job page, timeline, partitions tab).
    instance = _instance(home)
    repo = {".dagster/repository": "__repository__@attrition_platform"}
    snapshot_runs = instance.get_runs(filters=dg.RunsFilter(job_name="snapshot", tags=repo))
    assert len(snapshot_runs) == 1 and "dagster/partition" in snapshot_runs[0].tags
    assert len(instance.get_runs(filters=dg.RunsFilter(job_name="train_model", tags=repo))) == 1

    features_version = lake.version("employee_features")
    refreshed = run(["demo", "--hris", str(static_export), "--refresh"], home, tmp_path)
    assert refreshed.returncode == 0, refreshed.stderr[-3000:]
    assert "already materialised" not in refreshed.stdout
    assert lake.version("employee_features") > features_version  # the snapshot was rewritten...
    assert "training: the challenger was trained on training inputs with exactly this content" in refreshed.stdout
    assert _model_versions(home) == ["1"]  # ...with the same content: no new model version


def test_demo_refuses_another_source_writing_nothing_and_reset_starts_over(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # Two months is too little history to train: the run stops after landing its snapshots.
    first = run(["demo", "--employees", "150", "--months", "2"], home, tmp_path)
    assert "[  2/2]" in first.stdout, first.stderr[-3000:]
    before = _lake_state(home)
    source_file = (home / "lake" / "_source.json").read_bytes()

    other = run(["demo", "--employees", "120", "--months", "2"], home, tmp_path)
    assert other.returncode == 2
    assert "Traceback" not in other.stderr + other.stdout
    message = other.stderr.strip()
    assert "holds synthetic seed 7, 150 employees, 2 months" in message
    assert "you asked for employees 120" in message
    assert "another ATTRITION_HOME" in message and "--reset" in message
    after = _lake_state(home)
    for table in SNAPSHOT_TABLES:
        assert after[table][0] == before[table][0]
        pd.testing.assert_frame_equal(after[table][1], before[table][1])
    assert (home / "lake" / "_source.json").read_bytes() == source_file

    fresh = run(["demo", "--employees", "120", "--months", "2", "--reset"], home, tmp_path)
    assert f"reset: removing {home / 'lake'}" in fresh.stdout
    assert "[  2/2]" in fresh.stdout, fresh.stderr[-3000:]
    assert "you asked for" not in fresh.stderr
    assert json.loads((home / "lake" / "_source.json").read_text())["employees"] == 120


def test_a_snapshot_whose_blocking_check_failed_is_retried_and_blocks_training(tmp_path: Path) -> None:
    export = tmp_path / "company.csv"
    made = run(["generate", "--out", str(export), "--employees", "100", "--months", "2"], tmp_path, tmp_path)
    assert made.returncode == 0, made.stderr
    table = pd.read_csv(export)
    latest = table["snapshot_date"].max()
    table.loc[table.index[table["snapshot_date"] == latest][0], "hire_date"] = "2027-01-15"
    table.to_csv(export, index=False)
    home = tmp_path / "home"
    for attempt in range(2):
        result = run(["demo", "--hris", str(export)], home, tmp_path)
        assert result.returncode == 2, result.stdout
        assert "Traceback" not in result.stderr + result.stdout
        assert f"snapshot {latest} failed" in result.stderr
        # the check's own verdict: what is wrong and how many rows, never a Dagster class name
        assert f"check employee_features.features_not_after_snapshot failed: 1 hired after {latest}" in result.stderr
        assert f"{latest}  already materialised, skipped" not in result.stdout
        assert "training:" not in result.stdout
    assert "already materialised, skipped" in result.stdout  # the good snapshot was not redone


def test_a_demo_killed_mid_run_is_marked_failed_on_the_next_start(static_export: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = start(["demo", "--hris", str(static_export)], home, tmp_path)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("training:"):
            break
    started = dg.RunsFilter(job_name="train_model", statuses=[dg.DagsterRunStatus.STARTED])
    while proc.poll() is None and not _instance(home).get_runs(filters=started):
        time.sleep(0.2)  # synchronisation only: kill once the training run is under way
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = _instance(home).get_runs(filters=dg.RunsFilter(job_name="train_model"))
    assert [r.status for r in killed] == [dg.DagsterRunStatus.STARTED]
    rerun = run(["demo", "--hris", str(static_export)], home, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"marked failed: Dagster run {killed[0].run_id[:8]}" in rerun.stdout
    assert _instance(home).get_run_by_id(killed[0].run_id).status == dg.DagsterRunStatus.FAILURE
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("attrition")
    statuses = {r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert "RUNNING" not in statuses


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("env", "ATTRITION_ENV must be local, test or prod, not 'staging'"),
        ("home_on_a_file", "is a file, not a directory"),
        ("home_unwritable", "cannot be created or written"),
    ],
)
def test_a_bad_setting_exits_2_with_one_line(setting: str, expected: str, tmp_path: Path) -> None:
    home, extra = tmp_path / "home", {}
    if setting == "env":
        extra = {"ATTRITION_ENV": "staging"}
    elif setting == "home_on_a_file":
        home.write_text("not a directory")
    elif os.geteuid() == 0:
        home = Path("/sys/attrition-home")  # even root cannot create a directory there
    else:
        tmp_path.chmod(0o500)
    result = run(["demo", "--employees", "150", "--months", "2"], home, tmp_path, extra_env=extra)
    tmp_path.chmod(0o700)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


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


def test_demo_with_no_wait_stops_at_once_naming_the_lock_holder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import pathlib, time; from attrition_platform import datadir; from attrition_platform.settings import Paths\n"
         f"with datadir.exclusive(Paths(pathlib.Path({str(home)!r})), 'attrition demo', 0, print):\n"
         "    print('locked', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = run(["demo", "--employees", "150", "--months", "2", "--no-wait"], home, tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert f"in use by pid {holder.pid} (attrition demo, started at" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (home / "lake" / "_source.json").exists()  # nothing written


@pytest.mark.parametrize(("env", "source"), [("local", "dagster.yaml"), ("prod", "deploy/dagster/dagster.prod.yaml")])
def test_the_data_directory_gets_the_instance_config_of_its_environment(
    env: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tools run with ATTRITION_ENV=prod (the Dagster CLI against the cluster's storage) get the
    production instance: PostgreSQL and a pod per run, not the embedded SQLite."""
    from attrition_platform.cli import REPO_ROOT, _prepare_home

    monkeypatch.setenv("ATTRITION_ENV", env)
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "before"))  # _prepare_home sets it; restored after
    p = _prepare_home()
    assert (p.dagster_home / "dagster.yaml").read_text() == (REPO_ROOT / source).read_text()
