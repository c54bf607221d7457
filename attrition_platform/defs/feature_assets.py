"""Feature snapshots (one per extract date): the model's inputs as of each date, written through the feature spec."""

import dagster as dg
import numpy as np
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.hris_assets import EMPLOYEES_TABLE, hris_employees
from attrition_platform.defs.metadata import preview, table_metadata
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.model import feature_spec as fs
from attrition_platform.resources.lake import DeltaLake

FEATURES_TABLE = "employee_features"
# Kept beside the model inputs: the label source of static exports, fairness attributes,
# the opt-out flag and the one date column the leakage guard audits.
CONTEXT_COLUMNS = [KEY, SNAPSHOT_DATE, "hire_date", "opt_out", "Gender", "Attrition"]


def build_features(employees: pd.DataFrame) -> pd.DataFrame:
    """One snapshot's features: raw model inputs plus the derived ones, computed from that
    snapshot alone (income is compared with the same day's job-level medians)."""
    cols = [c for c in CONTEXT_COLUMNS if c in employees.columns] + list(fs.RAW_INPUTS)
    out = employees[cols].copy()
    derived = fs.all_derived(employees, fs.level_medians(employees)) if len(employees) else {}
    for name in fs.DERIVED:
        out[name] = derived.get(name, np.array([], dtype=float))
    return out


@dg.asset(
    partitions_def=snapshot_partitions,
    group_name="features",
    kinds={"deltalake", "pandas"},
    deps=[hris_employees],
    owners=["team:data"],
    description="Model features as of each snapshot date (raw contract fields + derived).",
)
def employee_features(context: dg.AssetExecutionContext, lake: DeltaLake) -> dg.MaterializeResult:
    day = partition_date(context)
    employees = lake.read(EMPLOYEES_TABLE, snapshot_date=day)
    if employees.empty:
        raise dg.Failure(f"{EMPLOYEES_TABLE} has no rows for {day}: materialise it first")
    features = build_features(employees)
    version = lake.write_partition(FEATURES_TABLE, features, day)
    summary = features[list(fs.DERIVED)].describe().T[["mean", "50%", "min", "max"]].round(3)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(features),
            "delta_version": version,
            "recipe_version": fs.RECIPE_VERSION,
            "features": len(fs.RAW_INPUTS) + len(fs.DERIVED),
            "derived_summary": dg.MetadataValue.md(summary.to_markdown()),
            "preview": preview(features, [KEY, SNAPSHOT_DATE, *fs.ROW_DERIVED[:3], "income_vs_level"]),
            "table_uri": dg.MetadataValue.path(lake.uri(FEATURES_TABLE)),
        }
    )
