"""Asset checks on each HRIS snapshot, its exits and its features: the contract, nulls, keys,
headcount, the exits' keys, domain, dates and history, and the feature leakage guard.

Each result carries its findings as numbers (so the UI can chart them across partitions) and a
one-line description that says what was measured and by how much. Contract, key, date and
leakage checks block downstream assets.
"""


import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from attrition_platform import contract
from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.feature_assets import FEATURES_TABLE, employee_features
from attrition_platform.defs.hris_assets import (
    EMPLOYEES_TABLE,
    TERMINATIONS_TABLE,
    hris_employees,
    hris_terminations,
)
from attrition_platform.defs.metadata import numbers
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import HEADCOUNT_CHANGE_LIMIT

TERMINATION_TYPES = ("voluntary", "involuntary")


def _snapshot(
    lake: DeltaLake, context: dg.AssetCheckExecutionContext, columns: list[str] | None = None
) -> pd.DataFrame:
    return lake.read(EMPLOYEES_TABLE, snapshot_date=partition_date(context), columns=columns)


def _exits(lake: DeltaLake, day: dt.date) -> pd.DataFrame:
    """The exits stored for one snapshot. A static export lands none (no table at all)."""
    if not lake.exists(TERMINATIONS_TABLE):
        return pd.DataFrame({KEY: [], "termination_date": [], "termination_type": []})
    return lake.read(
        TERMINATIONS_TABLE, snapshot_date=day, columns=[KEY, "termination_date", "termination_type"]
    )


def _contract_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The stored snapshot as the contract sees it. A static export lands with the two columns
    the platform adds (snapshot_date, opt_out) and no other time column: check it as static."""
    cols = [c for c in df.columns if c in contract.COLUMNS]
    if "hire_date" not in df.columns:
        cols = [c for c in cols if c not in (SNAPSHOT_DATE, "opt_out")]
    return df[cols]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


# -- hris_employees ---------------------------------------------------------------------------
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
        description=(
            f"{len(strict)} contract violation(s) in {len(df)} rows: {strict[0]}"
            if strict
            else f"{len(df)} rows x {df.shape[1]} columns within the contract"
        ),
        metadata={
            **numbers({"violations": len(strict), "blocking_violations": len(lenient), "rows": len(df)}),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in strict) or "none"),
        },
    )


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions)
def hris_no_nulls(context: dg.AssetCheckExecutionContext, lake: DeltaLake) -> dg.AssetCheckResult:
    """No missing values in the HRIS's own columns (the static layout; the dates the platform
    adds are checked elsewhere). A gap usually means a column dropped out of the export."""
    df = _snapshot(lake, context)
    required = [c for c in contract.STATIC_NAMES if c in df.columns and c != "Attrition"]
    counts = df[required].isna().sum()
    nulls = {str(c): int(n) for c, n in counts.items() if n}
    rows_with_nulls = int(df[required].isna().any(axis=1).sum())
    worst = max(nulls, key=nulls.__getitem__) if nulls else None
    return dg.AssetCheckResult(
        passed=not nulls,
        description=(
            f"{sum(nulls.values())} missing value(s) in {len(nulls)} column(s); worst {worst}: "
            f"{nulls[worst]} of {len(df)} rows ({_share(nulls[worst], len(df)):.1%})"
            if worst
            else f"no missing values in {len(required)} columns x {len(df)} rows"
        ),
        metadata={
            **numbers(
                {
                    "null_cells": sum(nulls.values()),
                    "columns_with_nulls": len(nulls),
                    "rows_with_nulls": rows_with_nulls,
                }
            ),
            **{f"nulls/{c}": dg.MetadataValue.int(n) for c, n in nulls.items()},
        },
    )


@dg.asset_check(asset=hris_employees, partitions_def=snapshot_partitions, blocking=True)
def hris_unique_keys(context: dg.AssetCheckExecutionContext, lake: DeltaLake) -> dg.AssetCheckResult:
    """One row per EmployeeNumber in a snapshot: a repeated key would count an employee twice
    in training and give them two scores."""
    df = _snapshot(lake, context, [KEY])
    dupes = int(df.duplicated(subset=[KEY]).sum())
    repeated = int(df[KEY].value_counts().gt(1).sum())
    return dg.AssetCheckResult(
        passed=dupes == 0,
        description=(
            f"{repeated} EmployeeNumber(s) appear more than once ({dupes} extra rows of {len(df)})"
            if dupes
            else f"{len(df)} rows, {len(df)} distinct EmployeeNumbers"
        ),
        metadata=numbers({"duplicate_rows": dupes, "repeated_keys": repeated, "rows": len(df)}),
    )


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
        return dg.AssetCheckResult(
            passed=True,
            description=f"first stored snapshot ({current} employees): nothing to compare with",
            metadata=numbers({"headcount": current}),
        )
    previous = len(lake.read(EMPLOYEES_TABLE, snapshot_date=earlier[-1], columns=[KEY]))
    change = (current - previous) / max(previous, 1)
    return dg.AssetCheckResult(
        passed=abs(change) <= HEADCOUNT_CHANGE_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"headcount {current} vs {previous} on {earlier[-1]}: {change:+.1%} "
        f"(limit ±{HEADCOUNT_CHANGE_LIMIT:.0%})",
        metadata={
            **numbers(
                {
                    "headcount": current,
                    "previous": previous,
                    "change": round(change, 4),
                    "limit": HEADCOUNT_CHANGE_LIMIT,
                }
            ),
            "previous_date": earlier[-1].isoformat(),
        },
    )


# -- hris_terminations ------------------------------------------------------------------------
@dg.asset_check(asset=hris_terminations, partitions_def=snapshot_partitions, blocking=True)
def terminations_unique_exits(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """One row per exit (EmployeeNumber, termination_date): a repeated exit would be counted
    twice in the leaver rates. A rehire's second exit has its own date and is not a repeat."""
    exits = _exits(lake, partition_date(context))
    dupes = int(exits.duplicated(subset=[KEY, "termination_date"]).sum())
    return dg.AssetCheckResult(
        passed=dupes == 0,
        description=(
            f"{dupes} repeated exit row(s) among {len(exits)}"
            if dupes
            else f"{len(exits)} exits, each (EmployeeNumber, termination_date) once"
        ),
        metadata=numbers({"duplicate_exits": dupes, "exits": len(exits)}),
    )


@dg.asset_check(asset=hris_terminations, partitions_def=snapshot_partitions, blocking=True)
def terminations_type_domain(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Every exit has a date and a type that is voluntary or involuntary: the label counts
    voluntary exits only, so an unknown type would silently turn a leaver into a stayer."""
    exits = _exits(lake, partition_date(context))
    types = exits["termination_type"].astype(object)
    bad_type = int((~types.isin(TERMINATION_TYPES)).sum())
    no_date = int(exits["termination_date"].isna().sum())
    voluntary = int((types == "voluntary").sum())
    return dg.AssetCheckResult(
        passed=bad_type == 0 and no_date == 0,
        description=(
            f"{bad_type} exit(s) with a type outside {'/'.join(TERMINATION_TYPES)}, "
            f"{no_date} without a date, of {len(exits)}"
            if bad_type or no_date
            else f"{len(exits)} exits: {voluntary} voluntary "
            f"({_share(voluntary, len(exits)):.1%}), {len(exits) - voluntary} involuntary"
        ),
        metadata=numbers(
            {
                "unknown_type": bad_type,
                "missing_date": no_date,
                "voluntary": voluntary,
                "voluntary_share": _share(voluntary, len(exits)),
                "exits": len(exits),
            }
        ),
    )


@dg.asset_check(asset=hris_terminations, partitions_def=snapshot_partitions, blocking=True)
def terminations_not_after_snapshot(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Leakage guard on the exits: a snapshot knows only exits dated on or before it. A later
    one would label the past with the future."""
    day = partition_date(context)
    exits = _exits(lake, day)
    dates = pd.to_datetime(exits["termination_date"])
    late = dates > pd.Timestamp(day)
    days_late = int((dates[late] - pd.Timestamp(day)).dt.days.max()) if late.any() else 0
    return dg.AssetCheckResult(
        passed=not late.any(),
        description=(
            f"{int(late.sum())} of {len(exits)} exits dated after {day} (up to {days_late} days)"
            if late.any()
            else f"all {len(exits)} exits dated on or before {day}"
        ),
        metadata=numbers({"exits_after_snapshot": int(late.sum()), "max_days_after": days_late}),
    )


@dg.asset_check(asset=hris_terminations, partitions_def=snapshot_partitions)
def terminations_monotone(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Exits only accumulate: an exit known on the previous stored snapshot is still known on
    this one. One that vanished means the HRIS rewrote history (or lost rows), and labels built
    from the two snapshots would disagree."""
    day = partition_date(context)
    earlier = [d for d in lake.partition_dates(TERMINATIONS_TABLE) if d < day] if lake.exists(
        TERMINATIONS_TABLE
    ) else []
    current = _exits(lake, day)
    if not earlier:
        return dg.AssetCheckResult(
            passed=True,
            description=f"no earlier exits stored: nothing to compare ({len(current)} exits now)",
            metadata=numbers({"exits": len(current), "vanished_exits": 0}),
        )
    previous = _exits(lake, earlier[-1])

    def pairs(df: pd.DataFrame) -> set[tuple[int, str]]:
        dates = pd.to_datetime(df["termination_date"]).dt.strftime("%Y-%m-%d")
        return set(zip(df[KEY].astype("int64"), dates))

    vanished = pairs(previous) - pairs(current)
    return dg.AssetCheckResult(
        passed=not vanished,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(vanished)} of {len(previous)} exits known on {earlier[-1]} are missing on {day}"
            if vanished
            else f"all {len(previous)} exits known on {earlier[-1]} still present ({len(current)} now)"
        ),
        metadata={
            **numbers(
                {"vanished_exits": len(vanished), "previous_exits": len(previous), "exits": len(current)}
            ),
            "previous_date": earlier[-1].isoformat(),
        },
    )


# -- employee_features ------------------------------------------------------------------------
@dg.asset_check(asset=employee_features, partitions_def=snapshot_partitions, blocking=True)
def features_not_after_snapshot(
    context: dg.AssetCheckExecutionContext, lake: DeltaLake
) -> dg.AssetCheckResult:
    """Leakage guard on the features: no date-bearing value lies after the snapshot date and
    tenure never exceeds what the hire date allows."""
    day = partition_date(context)
    df = lake.read(FEATURES_TABLE, snapshot_date=day)
    no = pd.Series(False, index=df.index)
    hired_late, too_long = no, no
    if "hire_date" in df and df["hire_date"].notna().any():
        hired = pd.to_datetime(df["hire_date"])
        hired_late = hired > pd.Timestamp(day)
        max_years = (pd.Timestamp(day) - hired).dt.days / 365.25 + 1
        too_long = df["YearsAtCompany"].astype(float) > max_years.fillna(np.inf)
    other_day = pd.to_datetime(df[SNAPSHOT_DATE]) != pd.Timestamp(day)
    hired_after, tenure_beyond = int(hired_late.sum()), int(too_long.sum())
    other_date = int(other_day.sum())
    total = int((hired_late | too_long | other_day).sum())
    return dg.AssetCheckResult(
        passed=total == 0,
        description=(
            f"{hired_after} hired after {day}, {tenure_beyond} with more years at the company "
            f"than their hire date allows, {other_date} dated another day (of {len(df)} rows)"
            if total
            else f"{len(df)} rows, none using information after {day}"
        ),
        metadata=numbers(
            {
                "rows_from_the_future": total,
                "hired_after_snapshot": hired_after,
                "tenure_beyond_hire_date": tenure_beyond,
                "other_snapshot_date": other_date,
            }
        ),
    )
