"""The Dagster code location: everything in defs/ plus the resource set of the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from attrition_platform.resources.hris import hris_from_env
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.mlflow_registry import MlflowRegistry
from attrition_platform.settings import environment, paths


def build_resources(env: str) -> dict[str, dg.ConfigurableResource]:
    """The resource set for `env` (ATTRITION_ENV): local/test use the embedded data directory;
    prod reads every location from the environment (no defaults that could write locally)."""
    hris = hris_from_env()
    if env == "prod":
        return {
            "hris": hris,
            "lake": DeltaLake(root=dg.EnvVar("ATTRITION_LAKE_URI")),
            "mlflow": MlflowRegistry(
                tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
                artifact_location=dg.EnvVar("ATTRITION_MLFLOW_ARTIFACTS"),
            ),
        }
    p = paths().ensure()
    return {
        "hris": hris,
        "lake": DeltaLake(root=str(p.lake)),
        "mlflow": MlflowRegistry(
            tracking_uri=p.mlflow_tracking_uri, artifact_location=p.mlflow_artifacts.as_uri()
        ),
    }


def discovered_defs() -> dg.Definitions:
    """Everything in defs/ (assets, checks, jobs, schedules), without resources."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


def asset_graph() -> list[Any]:
    """Assets and checks, for `dg.materialize` with resources of the caller's choosing
    (tests, benchmarks)."""
    discovered = discovered_defs()
    return [*(discovered.assets or []), *(discovered.asset_checks or [])]


@dg.definitions
def defs() -> dg.Definitions:
    resources = dg.Definitions(resources=build_resources(environment()))
    return dg.Definitions.merge(discovered_defs(), resources)
