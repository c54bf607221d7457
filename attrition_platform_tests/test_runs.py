"""Runs the CLI launches belong to the code location's jobs, and dead ones are marked failed.

runs.py is the one module importing Dagster internals: if an upgrade moves them, this fails.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from attrition_platform import runs


@pytest.fixture()
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ATTRITION_HRIS_EMPLOYEES", "120")
    monkeypatch.setenv("ATTRITION_HRIS_MONTHS", "2")
    for var in ("ATTRITION_HRIS_KIND", "ATTRITION_HRIS_PATH", "ATTRITION_ENV"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as inst:
        yield inst


def test_a_launched_snapshot_run_is_listed_under_its_job_and_partition(instance: dg.DagsterInstance) -> None:
    from attrition_platform.defs.partitions import register_snapshot_dates

    register_snapshot_dates(instance, [dt.date(2026, 11, 1)])
    outcome = runs.CodeLocationJobs().launch(instance, "snapshot", "2026-11-01")
    assert outcome.success and outcome.problems == []
    listed = instance.get_runs(
        filters=dg.RunsFilter(job_name="snapshot", tags={runs.REPOSITORY_TAG: "__repository__@attrition_platform"})
    )
    assert [r.run_id for r in listed] == [outcome.run_id]
    run = listed[0]
    assert run.tags["dagster/partition"] == "2026-11-01"
    assert run.remote_job_origin is not None
    assert run.remote_job_origin.location_name == "attrition_platform"
    assert run.job_code_origin.repository_origin.code_pointer.module == "attrition_platform.definitions"
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert runs.latest_partition_runs(instance, "snapshot") == {"2026-11-01": dg.DagsterRunStatus.SUCCESS}


@dg.op
def _noop() -> None:
    pass


@dg.job
def _noop_job() -> None:
    _noop()


def test_runs_left_started_by_a_dead_process_are_marked_failed(instance: dg.DagsterInstance) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = _noop_job
    orphan = instance.create_run_for_job(
        job, status=dg.DagsterRunStatus.STARTED,
        tags={runs.LAUNCHED_BY_TAG: "attrition demo", runs.PID_TAG: str(dead.pid)},
    )
    alive = instance.create_run_for_job(
        job, status=dg.DagsterRunStatus.STARTED,
        tags={runs.LAUNCHED_BY_TAG: "attrition demo", runs.PID_TAG: str(os.getppid())},
    )
    from_ui = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    assert runs.fail_dead_runs(instance) == [orphan.run_id]
    assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert instance.get_run_by_id(from_ui.run_id).status == dg.DagsterRunStatus.STARTED
