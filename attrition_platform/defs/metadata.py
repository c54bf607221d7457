"""Metadata the Dagster UI shows beside each asset: previews, column schemas, links to MLflow and
a description of the HRIS source. Shared by every asset module, so each page reads the same way.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from attrition_platform import contract
from attrition_platform.contract import KEY
from attrition_platform.model import training_data as td

MLFLOW_UI_URL_ENV = "ATTRITION_MLFLOW_UI_URL"
DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"  # where `attrition mlflow-ui` listens

# What the columns the platform adds mean (the contract documents the HRIS's own columns).
_PLATFORM_DOCS: dict[str, str] = {
    "tenure_ratio": "YearsAtCompany / TotalWorkingYears (denominator at least 1)",
    "role_tenure_ratio": "YearsInCurrentRole / YearsAtCompany",
    "promotion_staleness": "YearsSinceLastPromotion / YearsAtCompany",
    "manager_tenure_ratio": "YearsWithCurrManager / YearsAtCompany",
    "companies_per_working_year": "NumCompaniesWorked / TotalWorkingYears",
    "satisfaction_mean": "mean of job, environment, relationship satisfaction and work-life balance",
    "income_vs_level": "MonthlyIncome / the snapshot's median income of the same JobLevel",
    "entry_level": "1 if JobLevel is 1, else 0",
    "no_stock_options": "1 if StockOptionLevel is 0, else 0",
    "first_year": "1 if YearsAtCompany is at most 1, else 0",
    "under_25": "1 if Age is below 25, else 0",
    "lowest_environment_satisfaction": "1 if EnvironmentSatisfaction is 1 (the lowest), else 0",
    "lowest_job_satisfaction": "1 if JobSatisfaction is 1 (the lowest), else 0",
    "lowest_job_involvement": "1 if JobInvolvement is 1 (the lowest), else 0",
    "poor_work_life_balance": "1 if WorkLifeBalance is 1 (the lowest), else 0",
    td.LABEL: "1 if a voluntary exit falls within the horizon after snapshot_date, else 0",
    td.SPLIT: "train, validation or test (by snapshot date; embargoed dates dropped)",
}


def preview(df: pd.DataFrame, columns: Iterable[str], rows: int = 5) -> dg.MetadataValue:
    """A few rows of non-sensitive columns, so the UI shows what landed without exposing pay."""
    cols = [c for c in columns if c in df.columns]
    return dg.MetadataValue.md(df[cols].head(rows).to_markdown(index=False))


def _column_type(values: pd.Series) -> str:
    """The stored type as a reader of the table sees it. Dates come back from Delta as Python
    `date` objects (pandas dtype object), which are dates, not strings."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if dtype == object:
        first = values.dropna().head(1)
        declared = contract.COLUMNS.get(str(values.name))
        if (len(first) and isinstance(first.iloc[0], dt.date)) or (
            first.empty and declared is not None and declared.kind == "date"
        ):
            return "date"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    return str(dtype)


def _column_doc(name: str) -> tuple[str | None, bool]:
    """(description, nullable) from the contract or the platform's own columns."""
    if name in _PLATFORM_DOCS:
        return _PLATFORM_DOCS[name], False
    col = contract.COLUMNS.get(name)
    if col is None:
        return None, True
    domain = {"int": col.describe(), "category": col.describe(), "date": "date (YYYY-MM-DD)"}
    parts = [p for p in (col.doc, domain.get(col.kind, "")) if p]
    if name == KEY:
        parts.append("unique within a snapshot")
    return "; ".join(parts) or None, col.nullable


def column_schema(df: pd.DataFrame) -> dg.TableSchema:
    """`dagster/column_schema` for a stored table: each column's actual dtype, with its meaning
    and domain from the contract or the feature spec, so the UI documents what the lake holds."""
    columns = []
    for name in df.columns:
        description, nullable = _column_doc(str(name))
        columns.append(
            dg.TableColumn(
                name=str(name),
                type=_column_type(df[name]),
                description=description,
                constraints=dg.TableColumnConstraints(nullable=nullable, unique=False),
            )
        )
    return dg.TableSchema(columns=columns)


def table_metadata(df: pd.DataFrame) -> dict[str, Any]:
    """The standard table entries every stored table carries (row count and column schema)."""
    return {"dagster/row_count": len(df), "dagster/column_schema": column_schema(df)}


# -- MLflow links -------------------------------------------------------------------------------
def mlflow_ui_url(configured: str | None = None) -> str:
    """The MLflow UI's base URL: the resource's `ui_url`, else ATTRITION_MLFLOW_UI_URL, else the
    address `attrition mlflow-ui` serves on. The one place this is decided."""
    return (configured or os.environ.get(MLFLOW_UI_URL_ENV) or DEFAULT_MLFLOW_UI_URL).rstrip("/")


def mlflow_run_link(base: str, experiment_id: str, run_id: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")


def mlflow_model_version_link(base: str, model_name: str, version: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(f"{base}/#/models/{model_name}/versions/{version}")


# -- the HRIS source ----------------------------------------------------------------------------
def source_description(hris: Any) -> dict[str, Any]:
    """Which HRIS source a run read (no secrets): kind, file name or masked URL, seed and size."""
    out: dict[str, Any] = {"hris/kind": hris.kind}
    if hris.kind == "synthetic":
        out.update(
            {
                "hris/seed": dg.MetadataValue.int(hris.seed),
                "hris/initial_employees": dg.MetadataValue.int(hris.employees),
                "hris/months": dg.MetadataValue.int(hris.months),
                "hris/end_date": hris.end_date,
            }
        )
    elif hris.kind == "file":
        out["hris/path"] = dg.MetadataValue.path(str(Path(str(hris.path)).expanduser()))
    else:
        out["hris/url"] = hris.masked_sql_url()
        out["hris/table"] = str(hris.sql_table or "(query)")
    return out


def observe_source(
    hris: Any, extract_dates: list[Any], landed: str | None = None, rows: int | None = None
) -> dg.AssetObservation:
    """What was seen of the HRIS (by a snapshot run, or by the sensor finding new extracts),
    recorded on `hris_system` so its page says which source feeds the lake and how recent its
    last extract is."""
    metadata: dict[str, Any] = {
        **source_description(hris),
        "extract_dates": dg.MetadataValue.int(len(extract_dates)),
        "first_extract": extract_dates[0].isoformat() if extract_dates else "none",
        "last_extract": extract_dates[-1].isoformat() if extract_dates else "none",
    }
    if landed is not None:
        metadata["landed_snapshot"] = landed
    if rows is not None:
        metadata["landed_employees"] = dg.MetadataValue.int(rows)
    return dg.AssetObservation(asset_key="hris_system", metadata=metadata)


def numbers(values: Mapping[str, float | int]) -> dict[str, dg.MetadataValue]:
    """Check results as numbers the UI can plot over time (ints stay ints)."""
    return {
        k: dg.MetadataValue.int(int(v)) if isinstance(v, (bool, int, np.integer)) else dg.MetadataValue.float(float(v))
        for k, v in values.items()
    }

