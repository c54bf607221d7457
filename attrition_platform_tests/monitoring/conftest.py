"""A champion trained by the real graph and published, once per session; each test copies it.

Traffic is written with `append_predictions`, the function serving's audit writer calls, from
rows of the champion's own training set (read by time travel at the version its bundle records).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from attrition_platform.contracts.audit_logs import PredictionRecord, append_predictions
from attrition_platform.defs.monitoring_assets import drift_psi_within_limit, drift_report
from attrition_platform.defs.training_assets import TRAINING_TABLE
from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.monitoring.drift import reference_splits
from attrition_platform.publication import publish
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform_tests.defs.conftest import make_resources, materialize_snapshot, materialize_training

HRIS = HrisSource(employees=500, months=14, end_date="2026-11-01", seed=11)
WINDOW_END = dt.date(2026, 11, 20)


@dataclass(frozen=True)
class Champion:
    home: Path  # lake/ and serving/ of the trained, published platform (read only: copy it)
    bundle: ModelBundle
    version: str


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    home = tmp_path_factory.mktemp("champion")
    resources = make_resources(home, HRIS)
    with dg.instance_for_test() as instance:
        for day in HRIS.extract_dates():
            assert materialize_snapshot(resources, day.isoformat(), instance).success
        assert materialize_training(resources, instance).success
    mlflow = resources["mlflow"]
    bundle = ModelBundle.from_mlflow(mlflow.model_uri("challenger"), mlflow.tracking_uri)
    version = str(bundle.metadata["model_version"])
    publish(bundle, version, str(home / "serving"), str(home / "lake"), promoted_by="test", reason="fixture")
    return Champion(home, bundle, version)


@pytest.fixture
def platform(champion: Champion, tmp_path: Path) -> Path:
    """A private copy of the champion's lake and published location."""
    for part in ("lake", "serving"):
        shutil.copytree(champion.home / part, tmp_path / part)
    return tmp_path


def training_rows(home: Path, bundle: ModelBundle) -> pd.DataFrame:
    """The rows the champion learned from, at the training_set version its bundle records."""
    version = int(bundle.metadata["delta_versions"]["training_set"])
    rows = DeltaLake(root=str(home / "lake")).read(TRAINING_TABLE, version=version)
    return rows[rows[td.SPLIT].isin(reference_splits(bundle.metadata))].reset_index(drop=True)


def records_of(rows: pd.DataFrame, bundle: ModelBundle) -> list[dict[str, Any]]:
    """Model inputs as a portal sends them (plain JSON types)."""
    out = []
    for row in rows[bundle.spec.inputs].to_dict(orient="records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


def log_traffic(
    home: Path, bundle: ModelBundle, version: str, records: list[dict[str, Any]], end: dt.date = WINDOW_END,
    days: int = 7, seed: int = 0, probability: np.ndarray | None = None,
) -> None:
    """Live predictions of `records`, spread over the `days` days ending with `end`, scored by
    the bundle (unless `probability` is given) and appended like serving does (one batch per day)."""
    rng = np.random.default_rng(seed)
    if probability is None:
        probability = bundle.score(records, unseen="allow").probabilities
    day_of = rng.integers(0, days, len(records))
    for offset in range(days):
        day = end - dt.timedelta(days=offset)
        batch = []
        for i in np.flatnonzero(day_of == offset):
            p = float(probability[i])
            batch.append(
                PredictionRecord(
                    prediction_id=uuid.uuid4().hex,
                    ts=dt.datetime.combine(day, dt.time(9 + int(i) % 8), tzinfo=dt.UTC),
                    caller="hr-manager-7",
                    employee_id=int(i) + 1,
                    model_version=version,
                    source="live",
                    inputs=json.dumps(records[i]),
                    probability=p,
                    risk_band=str(bundle.band(np.array([p]))[0]),
                    top_factors=(),
                )
            )
        append_predictions(str(home / "lake"), batch)


def run_drift(home: Path, **config: Any) -> dg.ExecuteInProcessResult:
    config.setdefault("end", WINDOW_END.isoformat())
    return dg.materialize(
        [drift_report, drift_psi_within_limit],
        resources={
            "lake": DeltaLake(root=str(home / "lake")),
            "published": PublishedLocation(uri=str(home / "serving")),
        },
        run_config={"ops": {"drift_report": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def report_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    materialization = result.asset_materializations_for_node("drift_report")[0]
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def check_of(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "drift_psi_within_limit"]
    return evaluation
