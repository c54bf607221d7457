"""The whole graph on a small synthetic company, through a real Dagster instance, real Delta
tables and a real MLflow store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import (
    make_resources,
    materialize_snapshot,
    materialize_training,
)

HRIS = HrisSource(employees=500, months=16, end_date="2026-11-01", seed=11)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("platform")
    resources = make_resources(home, HRIS)
    dates = HRIS.extract_dates()
    snapshot_results = [materialize_snapshot(resources, d.isoformat(), instance) for d in dates]
    training = materialize_training(resources, instance)
    return {"resources": resources, "dates": dates, "snapshots": snapshot_results, "training": training}


def test_every_snapshot_and_its_checks_pass(pipeline: dict[str, Any]) -> None:
    assert len(pipeline["snapshots"]) == 16
    for result in pipeline["snapshots"]:
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert {e.check_name for e in evaluations} >= {"hris_contract", "hris_unique_keys", "features_not_after_snapshot"}
        assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]


def test_training_registers_a_challenger_that_beats_chance_on_the_holdout(pipeline: dict[str, Any]) -> None:
    result = pipeline["training"]
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    mlflow = pipeline["resources"]["mlflow"]
    version = mlflow.client().get_model_version_by_alias("attrition", "challenger")
    bundle = ModelBundle.from_mlflow(mlflow.model_uri("challenger"), mlflow.tracking_uri)
    assert bundle.metadata["model_version"] == str(version.version)
    evaluation = result.asset_materializations_for_node("model_evaluation")[0].metadata
    assert evaluation["roc_auc"].value > 0.6
    assert {"baseline_roc_auc", "calibration_curve", "confusion_matrix"} <= set(evaluation)
    run = mlflow.client().get_run(bundle.metadata["mlflow_run_id"])
    assert "test_roc_auc" in run.data.metrics and "val_roc_auc" in run.data.metrics


def test_model_records_the_delta_versions_it_was_trained_on(pipeline: dict[str, Any]) -> None:
    lake = pipeline["resources"]["lake"]
    mlflow = pipeline["resources"]["mlflow"]
    bundle = ModelBundle.from_mlflow(mlflow.model_uri("challenger"), mlflow.tracking_uri)
    versions = bundle.metadata["delta_versions"]
    assert versions["training_set"] == lake.version("training_set")
    assert versions["employee_features"] == lake.version("employee_features")
    # Time travel to the recorded upstream versions rebuilds the same training rows: relabel
    # the recorded feature and termination versions independently and compare row by row.
    stored = lake.read("training_set", version=versions["training_set"])
    features = lake.read("employee_features", version=versions["employee_features"])
    known_until = dt.date.fromisoformat(bundle.metadata["known_until"])
    exits = lake.read("hris_terminations", version=versions["hris_terminations"], snapshot_date=known_until)
    features = features[~features["EmployeeNumber"].isin(features.loc[features["opt_out"], "EmployeeNumber"])]
    rebuilt = td.assign_split(
        td.label_time_aware(features, exits, bundle.metadata["horizon_days"], known_until),
        td.SplitPlan(validation_days=60, test_days=60),
        bundle.metadata["horizon_days"],
    )
    key = ["EmployeeNumber", "snapshot_date"]
    columns = [*key, "label", "split", "MonthlyIncome", "JobRole", "OverTime", "YearsAtCompany"]
    ordered = [frame[columns].astype({"JobRole": str}).sort_values(key).reset_index(drop=True) for frame in (stored, rebuilt)]
    pd.testing.assert_frame_equal(ordered[0], ordered[1], check_dtype=False, check_categorical=False)


def test_no_exit_labels_rows_of_two_splits(pipeline: dict[str, Any]) -> None:
    lake = pipeline["resources"]["lake"]
    rows = lake.read("training_set")
    known_until = max(pipeline["dates"])
    exits = lake.read("hris_terminations", snapshot_date=known_until)
    assert rows["label"].sum() > 0 and set(rows["split"]) == {"train", "validation", "test"}
    assert td.shared_exit_events(rows, exits, 60) == {"train_validation": 0, "train_test": 0, "validation_test": 0}


def test_opted_out_employees_never_reach_the_training_set(pipeline: dict[str, Any]) -> None:
    lake = pipeline["resources"]["lake"]
    features = lake.read("employee_features")
    opted = set(features.loc[features["opt_out"], "EmployeeNumber"])
    assert opted, "the synthetic company should have opted-out employees"
    assert not opted & set(lake.read("training_set")["EmployeeNumber"])


def test_rematerialising_a_partition_replaces_it(pipeline: dict[str, Any], instance: dg.DagsterInstance) -> None:
    lake = pipeline["resources"]["lake"]
    day = pipeline["dates"][3]
    before = {t: len(lake.read(t, snapshot_date=day)) for t in ("hris_employees", "employee_features", "hris_terminations")}
    version = lake.version("employee_features")
    assert materialize_snapshot(pipeline["resources"], day.isoformat(), instance).success
    after = {t: len(lake.read(t, snapshot_date=day)) for t in before}
    assert after == before
    assert lake.version("employee_features") == version + 1
    assert len(lake.read("employee_features")) == sum(
        len(lake.read("employee_features", snapshot_date=d)) for d in pipeline["dates"]
    )
