"""The Dagster code location: everything in defs/ plus the resource set of the environment."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from attrition_platform.resources.alerts import Alerts
from attrition_platform.resources.hris import hris_from_env
from attrition_platform.contracts.published import default_serving_uri
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.mlflow_registry import MlflowRegistry
from attrition_platform.resources.published import PublishedLocation
from attrition_platform.settings import environment, paths


def build_resources(env: str) -> dict[str, dg.ConfigurableResource]:
    """The resource set for `env` (ATTRITION_ENV): local/test use the embedded data directory;
    prod reads every location from the environment (no defaults that could write locally)."""
    hris = hris_from_env()
    if env == "prod":
        return {
            "hris": hris,
            # Slack/PagerDuty secrets are read from the environment at send time (optional:
            # Dagster has no optional EnvVar); the record goes under ATTRITION_HOME.
            "alerts": Alerts(),
            "lake": DeltaLake(root=dg.EnvVar("ATTRITION_LAKE_URI")),
            # dagster-aws's S3 client with the default AWS chain (IRSA on EKS; AWS_ENDPOINT_URL
            # for an S3-compatible store)
            "published": PublishedLocation(uri=dg.EnvVar("ATTRITION_SERVING_URI"), s3=S3Resource()),
            "mlflow": MlflowRegistry(
                tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
                artifact_location=dg.EnvVar("ATTRITION_MLFLOW_ARTIFACTS"),
            ),
        }
    p = paths().ensure()
    return {
        "hris": hris,
        "alerts": Alerts(jsonl_path=str(p.home / "alerts" / "alerts.jsonl")),
        "lake": DeltaLake(root=str(p.lake)),
        "published": PublishedLocation(uri=default_serving_uri()),
        "mlflow": MlflowRegistry(
            tracking_uri=p.mlflow_tracking_uri, artifact_location=p.mlflow_artifacts.as_uri()
        ),
    }


def discovered_defs() -> dg.Definitions:
    """Everything in defs/ (assets, checks, jobs, schedules), without resources. Each asset
    carries a reference to the file and line that defines it, so its UI page leads to the code
    (local paths: the project has no canonical Git remote to link to)."""
    found = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # The loader lists an asset once per module that imports it; the same object each time.
    assets = list({id(a): a for a in found.assets or []}.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # pinned version: the API is stable here
        referenced = dg.with_source_code_references(assets)
    return dg.Definitions(
        assets=referenced,
        asset_checks=found.asset_checks,
        jobs=found.jobs,
        schedules=found.schedules,
        sensors=found.sensors,
    )


def asset_graph() -> list[Any]:
    """Assets and checks, for `dg.materialize` with resources of the caller's choosing
    (tests, benchmarks)."""
    discovered = discovered_defs()
    return [*(discovered.assets or []), *(discovered.asset_checks or [])]


@dg.definitions
def defs() -> dg.Definitions:
    resources = dg.Definitions(resources=build_resources(environment()))
    return dg.Definitions.merge(discovered_defs(), resources)
