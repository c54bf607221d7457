"""What the asset pages show: column schemas of the stored tables, the HRIS source observed on
`hris_system` (without secrets), MLflow links, and plots drawn on the range the data occupies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from attrition_platform import plots
from attrition_platform.defs.metadata import (
    mlflow_model_version_link,
    mlflow_run_link,
    mlflow_ui_url,
    source_description,
)
from attrition_platform.hris.sql_source import masked_url
from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import make_resources, materialize_snapshot
from attrition_platform_tests.hris.factories import time_aware_rows

JAN = "2024-01-01"


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    home = tmp_path_factory.mktemp("metadata")
    rows = time_aware_rows(30, snapshots=(JAN,))
    rows["YearsAtCompany"] = 1
    rows.to_csv(home / "export.csv", index=False)
    resources = make_resources(home, HrisSource(kind="file", path=str(home / "export.csv")))
    return materialize_snapshot(resources, JAN, instance)


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return dict(event.materialization.metadata)


@pytest.mark.parametrize("asset", ["hris_employees", "hris_terminations", "employee_features"])
def test_every_stored_table_documents_its_columns(landed: dg.ExecuteInProcessResult, asset: str) -> None:
    metadata = _metadata(landed, asset)
    schema = metadata["dagster/column_schema"].schema
    columns = {c.name: c for c in schema.columns}
    assert {"EmployeeNumber", "snapshot_date"} <= set(columns)
    assert columns["snapshot_date"].type == "date"
    assert columns["EmployeeNumber"].type == "int64"
    assert metadata["dagster/row_count"].value > 0
    if asset != "hris_terminations":
        assert columns["Department"].type == "string"
        assert "Research & Development" in (columns["Department"].description or "")
    else:
        assert columns["termination_date"].constraints.nullable is True


def test_the_features_schema_explains_the_derived_columns(landed: dg.ExecuteInProcessResult) -> None:
    columns = {c.name: c for c in _metadata(landed, "employee_features")["dagster/column_schema"].schema.columns}
    assert columns["income_vs_level"].type == "float64"
    assert "JobLevel" in (columns["income_vs_level"].description or "")


def test_hris_system_is_observed_with_its_source_and_last_extract(
    landed: dg.ExecuteInProcessResult,
) -> None:
    observations = [
        e.asset_observation_data.asset_observation
        for e in landed.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
    seen = next(o for o in observations if o.asset_key == dg.AssetKey("hris_system"))
    values = {k: v.value for k, v in seen.metadata.items()}
    assert values["hris/kind"] == "file"
    assert values["hris/path"].endswith("export.csv")
    assert values["last_extract"] == JAN and values["landed_snapshot"] == JAN
    assert values["landed_employees"] == 20 and values["extract_dates"] == 1


def test_a_sql_source_is_described_without_its_password() -> None:
    hris = HrisSource(kind="sql", sql_url="postgresql://hr:s3cret@db.example:5432/hris", sql_table="export")
    described = {k: getattr(v, "value", v) for k, v in source_description(hris).items()}
    assert "s3cret" not in str(described)
    assert described["hris/url"] == "postgresql://hr:***@db.example:5432/hris"
    assert "s3cret" not in masked_url("not a url with s3cret")


def test_mlflow_links_point_at_the_configured_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTRITION_MLFLOW_UI_URL", raising=False)
    assert mlflow_ui_url() == "http://127.0.0.1:5000"
    monkeypatch.setenv("ATTRITION_MLFLOW_UI_URL", "https://mlflow.example/")
    base = mlflow_ui_url()
    assert base == "https://mlflow.example"
    assert mlflow_ui_url("http://other:5000") == "http://other:5000"  # the resource's ui_url wins
    run = mlflow_run_link(base, "3", "abc123")
    version = mlflow_model_version_link(base, "attrition", "7")
    assert isinstance(run, dg.UrlMetadataValue)
    assert run.value == "https://mlflow.example/#/experiments/3/runs/abc123"
    assert version.value == "https://mlflow.example/#/models/attrition/versions/7"


def test_calibration_axes_follow_the_predictions_not_the_unit_square() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.0, 0.35, 2000), [0.9, 0.95]])  # two outliers
    y = (rng.random(len(p)) < p).astype(int)
    top = plots.probability_range(y, {"candidate": p, "baseline": p * 0.9})
    assert 0.3 <= top <= 0.5
    assert plots.probability_range(np.array([0, 1] * 50), {"m": np.linspace(0.0, 1.0, 100)}) == 1.0
    assert plots.calibration_plot(y, {"candidate": p}).startswith("![calibration curve](data:image/png")


def test_the_leaver_rate_line_breaks_at_an_embargo_and_a_missing_snapshot() -> None:
    months = [dt.date(2024, m, 1) for m in (1, 2, 3, 5, 6, 10, 11)]  # April missing; Jul-Sep embargo
    runs = plots.line_runs(months, dt.timedelta(days=46))
    assert [[months[i] for i in run] for run in runs] == [months[:3], months[3:5], months[5:]]
    markdown = plots.leaver_rate_plot(months, [0.1] * 7, ["train"] * 5 + ["validation", "test"])
    assert markdown.startswith("![leaver rate by snapshot](data:image/png;base64,")
