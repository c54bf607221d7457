"""Runs the CLI launches as runs of the code location's jobs, and the clean-up of dead ones.

`job.execute_in_process` makes runs the UI lists only on its Runs page: not under their job,
not on the overview timeline, and re-execution warns about a different version. A run created
with the code location's origin (module `attrition_platform.definitions`, location
`attrition_platform` as in workspace.yaml) is the same kind of run the UI itself launches.

That takes Dagster internals (`dagster._core`): they are imported here and nowhere else, so a
Dagster upgrade that moves them breaks one module, and test_runs.py says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

CODE_MODULE = "attrition_platform.definitions"
LOCATION_NAME = "attrition_platform"  # as in workspace.yaml
REPOSITORY_NAME = "__repository__"  # the name Dagster gives a `Definitions` object
WORKING_DIRECTORY = Path(__file__).resolve().parent.parent
REPOSITORY_TAG = ".dagster/repository"
LAUNCHED_BY_TAG = "attrition/launched_by"
PID_TAG = "attrition/pid"
IN_PROGRESS = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def repository_tag() -> str:
    """The `.dagster/repository` tag the job pages filter runs by."""
    return f"{REPOSITORY_NAME}@{LOCATION_NAME}"


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    problems: list[str] = field(default_factory=list)


class CodeLocationJobs:
    """The jobs of the code location, loaded once, ready to launch as UI-visible runs."""

    def __init__(self) -> None:
        self._repo = ReconstructableRepository.for_module(
            CODE_MODULE, "defs", working_directory=str(WORKING_DIRECTORY)
        )
        self._origin = RemoteRepositoryOrigin(
            ManagedGrpcPythonEnvCodeLocationOrigin(
                LoadableTargetOrigin(
                    executable_path=sys.executable,
                    module_name=CODE_MODULE,
                    working_directory=str(WORKING_DIRECTORY),
                ),
                LOCATION_NAME,
            ),
            REPOSITORY_NAME,
        )

    def launch(
        self,
        instance: dg.DagsterInstance,
        job_name: str,
        partition_key: str | None = None,
        run_config: Mapping[str, Any] | None = None,
        launched_by: str = "attrition demo",
        tags: Mapping[str, str] | None = None,
    ) -> RunOutcome:
        """Create the run under its job (and partition), execute it here, synchronously.

        Steps run in this process (no subprocess per step re-importing the code location); the
        run config says so, so a re-execution from the UI behaves the same.
        """
        recon = self._repo.get_reconstructable_job(job_name)
        job_def = recon.get_definition()
        tags = {**(tags or {}), LAUNCHED_BY_TAG: launched_by, PID_TAG: str(os.getpid())}
        if partition_key is not None:
            tags.update(job_def.get_tags_for_partition_key(partition_key, selected_asset_keys=None))
        config = {"execution": {"config": {"in_process": {}}}, **(run_config or {})}
        run = instance.create_run_for_job(
            job_def,
            run_config=config,
            tags=tags,
            remote_job_origin=RemoteJobOrigin(self._origin, job_name),
            job_code_origin=recon.get_python_origin(),
        )
        result = execute_run(recon, run, instance)
        problems = [] if result.success else list(run_problems(instance, run.run_id))
        return RunOutcome(run.run_id, bool(result.success), problems)


def run_problems(instance: dg.DagsterInstance, run_id: str) -> Iterator[str]:
    """What went wrong in a run, in the project's own words: each failed check with its own
    numbers (metadata), each failed step with its message (no exception class path)."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation is None or evaluation.passed:
                continue
            numbers = "; ".join(
                f"{k} {_shown(getattr(v, 'value', v))}" for k, v in evaluation.metadata.items()
            )
            name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"
            # The check's own one-line verdict (what and by how much) reads best; the raw
            # numbers stand in for checks that give none.
            detail = getattr(evaluation, "description", None) or numbers
            yield f"check {name} failed" + (f": {detail}" if detail else "")
        elif event.is_step_failure:
            err = event.step_failure_data.error
            cause = err.cause if err is not None and err.cause is not None else err
            text = cause.message.strip() if cause else "failed"
            if cause is not None and cause.cls_name == "DagsterAssetCheckFailedError":
                continue  # the failed check itself is reported above, with its numbers
            if cause is not None and cause.cls_name == "Failure":
                text = text.split(": ", 1)[-1]  # our own explanation; the class path is noise
            yield f"{event.step_key}: {text}"


def _shown(value: object) -> str:
    """Multi-line metadata (a markdown list of problems) indented under its check."""
    text = str(value)
    return "\n    " + text.replace("\n", "\n    ") if "\n" in text else text


def latest_partition_runs(instance: dg.DagsterInstance, job_name: str) -> dict[str, dg.DagsterRunStatus]:
    """The status of the newest run of `job_name` for each partition it ran."""
    latest: dict[str, dg.DagsterRunStatus] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name)):  # newest first
        key = run.tags.get("dagster/partition")
        if key is not None and key not in latest:
            latest[key] = run.status
    return latest


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs a CLI process started and did not live to finish (kill -9, power
    loss): left as they are, they show as in progress forever and their partitions look busy.

    Only runs the CLI launched are touched, and only when their process is gone: runs the UI
    launched belong to Dagster's own run monitoring. Called with the data-directory lock held,
    so no other CLI run in this home is live.
    """
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        pid = run.tags.get(PID_TAG)
        if LAUNCHED_BY_TAG not in run.tags or pid is None:
            continue
        if int(pid) != os.getpid() and _process_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the process that ran it (pid {pid}) is gone")
        failed.append(run.run_id)
    return failed


def event_metadata(event: dg.EventLogEntry | None) -> dict[str, Any]:
    """A materialisation event's metadata as plain values ({} when there is none)."""
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def latest_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, Any]:
    """The metadata of `asset`'s latest materialisation, as plain values."""
    return event_metadata(instance.get_latest_materialization_event(dg.AssetKey(asset)))
