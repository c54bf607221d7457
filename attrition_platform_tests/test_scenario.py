"""`attrition scenario drift`, run as a user runs it: the whole self-driving loop in one command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg

from attrition_platform_tests.test_cli import ATTRITION, _env


def _scenario(home: Path, *flags: str) -> tuple[dict[str, object], str]:
    done = subprocess.run([ATTRITION, "scenario", "drift", "--home", str(home), *flags], capture_output=True,
                          text=True, env=_env(home.parent / "unused-home"), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    return json.loads(last), done.stdout


def _retrain_runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="train_model"))
        return [r for r in runs if r.tags.get("attrition/trigger") == "drift"]


def test_drift_is_detected_alerted_retrained_once_and_judged_by_the_gate(tmp_path: Path) -> None:
    home = tmp_path / "scenario"
    outcome, shown = _scenario(home)
    assert outcome["drift_detected"] is True and outcome["max_psi"] > 0.2
    assert outcome["retrain_runs"] == 1 and outcome["alerts"] >= 1
    assert outcome["champion_version"] in {"1", "2"}
    assert outcome["promoted"] is (outcome["champion_version"] == "2")
    retrain = shown.split("drift -> retrain", 1)[1]
    assert "gate: promoted" in retrain or "gate: rejected" in retrain or "gate: not promoted" in retrain
    [alert] = [json.loads(line) for line in (home / "alerts" / "alerts.jsonl").read_text().splitlines()
               if json.loads(line)["source"] == "drift_report"]
    assert alert["severity"] == "error" and "MonthlyIncome" in alert["summary"]
    [run] = _retrain_runs(home)
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/run_key"].startswith("drift-")


def test_without_drift_nothing_is_retrained(tmp_path: Path) -> None:
    home = tmp_path / "scenario"
    outcome, shown = _scenario(home, "--no-drift")
    assert outcome == {**outcome, "drift_detected": False, "retrain_runs": 0, "promoted": False,
                       "champion_version": "1", "alerts": 0}
    assert outcome["max_psi"] < 0.2
    assert "no sensor asked for a retrain" in shown
    assert _retrain_runs(home) == []


def test_a_directory_with_foreign_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    home = tmp_path / "mine"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    done = subprocess.run([ATTRITION, "scenario", "drift", "--home", str(home)], capture_output=True, text=True,
                          env=_env(tmp_path / "unused-home"), timeout=120)
    assert done.returncode == 2
    assert "thesis.tex" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in home.iterdir()) == ["thesis.tex"]
