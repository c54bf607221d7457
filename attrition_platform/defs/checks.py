"""Asset checks: the contract, nulls, keys and headcount of each HRIS snapshot; the leakage guard
and class balance of the training set. Contract and key checks block downstream assets."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from attrition_platform import contract
from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.feature_assets import FEATURES_TABLE, employee_features
from attrition_platform.defs.hris_assets import EMPLOYEES_TABLE, hris_employees
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.defs.training_assets import TRAINING_TABLE, training_set
from attrition_platform.model import training_data as td
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import (
    HEADCOUNT_CHANGE_LIMIT,
    MAX_POSITIVE_RATE,
    MIN_POSITIVE_RATE,
)



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


@dg.asset_check(asset=training_set, blocking=True)
def training_label_leakage(lake: DeltaLake) -> dg.AssetCheckResult:
    """Leakage guard on the split: every training label window closes before validation starts,
    and validation/test rows are later than every training row."""
    version = int(lake.version(TRAINING_TABLE) or 0)
    df = lake.read(TRAINING_TABLE, version=version, columns=[KEY, SNAPSHOT_DATE, td.SPLIT])
    lineage = lake.lineage(TRAINING_TABLE, version)
    if lineage.get("lineage.mode") == "static":
        overlap = set(df.loc[df[td.SPLIT] == "train", KEY]) & set(df.loc[df[td.SPLIT] == "test", KEY])
        return dg.AssetCheckResult(passed=not overlap, metadata={"employees_in_train_and_test": len(overlap)})
    horizon = dt.timedelta(days=int(lineage.get("lineage.horizon_days", "0")))
    known_until = dt.date.fromisoformat(lineage["lineage.known_until"])
    dates = {s: df.loc[df[td.SPLIT] == s, SNAPSHOT_DATE] for s in td.SPLITS}
    train_label_end = max(dates["train"]) + horizon
    problems = {
        "train_labels_after_validation_start": bool(train_label_end > min(dates["validation"])),
        "validation_before_train": bool(min(dates["validation"]) <= max(dates["train"])),
        "test_before_validation": bool(min(dates["test"]) <= max(dates["validation"])),
        "unelapsed_horizons": int((pd.to_datetime(df[SNAPSHOT_DATE]) + horizon > pd.Timestamp(known_until)).sum()),
    }
    return dg.AssetCheckResult(
        passed=not any(problems.values()), metadata={k: dg.MetadataValue.text(str(v)) for k, v in problems.items()}
    )


@dg.asset_check(asset=training_set, blocking=True)
def training_class_balance(lake: DeltaLake) -> dg.AssetCheckResult:
    """Each split holds leavers and stayers, at a plausible rate (1%–60%)."""
    df = lake.read(TRAINING_TABLE, columns=[td.SPLIT, td.LABEL])
    rates = df.groupby(td.SPLIT, observed=True)[td.LABEL].agg(["mean", "sum", "count"])
    ok = all(
        s in rates.index
        and MIN_POSITIVE_RATE <= rates.loc[s, "mean"] <= MAX_POSITIVE_RATE
        and rates.loc[s, "sum"] > 0
        for s in td.SPLITS
    )
    return dg.AssetCheckResult(
        passed=ok,
        metadata={"rates": dg.MetadataValue.md(rates.round(4).to_markdown())},
    )
