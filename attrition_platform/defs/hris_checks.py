"""Asset checks on each HRIS snapshot and its features: the contract, nulls, keys, headcount and
the feature leakage guard. Contract, key and leakage checks block downstream assets."""

import dagster as dg
import numpy as np
import pandas as pd

from attrition_platform import contract
from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.feature_assets import FEATURES_TABLE, employee_features
from attrition_platform.defs.hris_assets import EMPLOYEES_TABLE, hris_employees
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import HEADCOUNT_CHANGE_LIMIT


def _snapshot(
    lake: DeltaLake, context: dg.AssetCheckExecutionContext, columns: list[str] | None = None
) -> pd.DataFrame:
    return lake.read(EMPLOYEES_TABLE, snapshot_date=partition_date(context), columns=columns)


def _contract_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The stored snapshot as the contract sees it. A static export lands with the two columns
    the platform adds (snapshot_date, opt_out) and no other time column: check it as static."""
    cols = [c for c in df.columns if c in contract.COLUMNS]
    if "hire_date" not in df.columns:
        cols = [c for c in cols if c not in (SNAPSHOT_DATE, "opt_out")]
    return df[cols]


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions, blocking=True)
def hris_contract(context: dg.AssetCheckExecutionContext, lake: DeltaLake) -> dg.AssetCheckResult:
    """Every stored row satisfies the contract's types and domains. A new JobRole (a category
    the contract does not know yet) is a warning, not a stop: it is drift worth seeing."""
    df = _contract_columns(_snapshot(lake, context))
    strict = contract.find_violations(df)
    lenient = contract.find_violations(df, allow_new_categories=True) if strict else []
    severity = dg.AssetCheckSeverity.ERROR if lenient else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not strict,
        severity=severity,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in strict) or "none")},
    )


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions)
def hris_no_nulls(context: dg.AssetCheckExecutionContext, lake: DeltaLake) -> dg.AssetCheckResult:
    df = _snapshot(lake, context)
    required = [c for c in contract.STATIC_NAMES if c in df.columns and c != "Attrition"]
    nulls = {c: int(n) for c, n in df[required].isna().sum().items() if n}
    return dg.AssetCheckResult(passed=not nulls, metadata={"null_counts": dg.MetadataValue.json(nulls)})


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions, blocking=True)
def hris_unique_keys(context: dg.AssetCheckExecutionContext, lake: DeltaLake) -> dg.AssetCheckResult:
    df = _snapshot(lake, context, [KEY])
    dupes = int(df.duplicated(subset=[KEY]).sum())
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_keys": dupes})


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions)
def hris_headcount_change(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Warns when headcount moves more than 20% against the previous stored snapshot: usually a
    partial export rather than a real reorganisation."""
    day = partition_date(context)
    earlier = [d for d in lake.partition_dates(EMPLOYEES_TABLE) if d < day]
    current = len(_snapshot(lake, context, [KEY]))
    if not earlier:
        return dg.AssetCheckResult(passed=True, metadata={"headcount": current, "previous": "none"})
    previous = len(lake.read(EMPLOYEES_TABLE, snapshot_date=earlier[-1], columns=[KEY]))
    change = (current - previous) / max(previous, 1)
    return dg.AssetCheckResult(
        passed=abs(change) <= HEADCOUNT_CHANGE_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "headcount": current,
            "previous": previous,
            "previous_date": earlier[-1].isoformat(),
            "change": dg.MetadataValue.float(round(change, 4)),
        },
    )


@dg.asset_check(asset=employee_features, partitions_def=snapshot_partitions, blocking=True)
def features_not_after_snapshot(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Leakage guard on the features: no date-bearing value lies after the snapshot date and
    tenure never exceeds what the hire date allows."""
    day = partition_date(context)
    df = lake.read(FEATURES_TABLE, snapshot_date=day)
    bad = 0
    if "hire_date" in df and df["hire_date"].notna().any():
        hired = pd.to_datetime(df["hire_date"])
        bad += int((hired > pd.Timestamp(day)).sum())
        max_years = (pd.Timestamp(day) - hired).dt.days / 365.25 + 1
        bad += int((df["YearsAtCompany"] > max_years.fillna(np.inf)).sum())
    bad += int((pd.to_datetime(df[SNAPSHOT_DATE]) != pd.Timestamp(day)).sum())
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_from_the_future": bad})
