"""Asset checks on the training set: the split's leakage guard and its class balance (both
block the model from training). Their results are numbers a user can chart and act on."""

import datetime as dt

import dagster as dg
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.hris_assets import TERMINATIONS_TABLE
from attrition_platform.defs.training_assets import TRAINING_TABLE, training_set
from attrition_platform.model import training_data as td
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import MAX_POSITIVE_RATE, MIN_POSITIVE_RATE


def _exits_used(lake: DeltaLake, lineage: dict[str, str]) -> pd.DataFrame:
    """The terminations extract the training set was labelled from (its recorded version)."""
    version = lineage.get("lineage.hris_terminations")
    known_until = dt.date.fromisoformat(lineage["lineage.known_until"])
    if version is None or int(version) < 0 or not lake.exists(TERMINATIONS_TABLE):
        return pd.DataFrame(columns=[KEY, "termination_date", "termination_type"])
    return lake.read(
        TERMINATIONS_TABLE,
        version=int(version),
        snapshot_date=known_until,
        columns=[KEY, "termination_date", "termination_type"],
    )


def _overrun(earlier: pd.Series, later: pd.Series, horizon: dt.timedelta) -> int:
    """Days by which the last label window of `earlier` reaches past the start of `later`."""
    if earlier.empty or later.empty:
        return 0
    return max(0, (max(earlier) + horizon - min(later)).days)


@dg.asset_check(
    asset=training_set,
    blocking=True,
    description="No exit event (employee, termination date) labels rows of two splits, every "
    "training label window closes before validation and every validation one before test, and "
    "no row is labelled before its horizon has elapsed.",
)
def training_label_leakage(lake: DeltaLake) -> dg.AssetCheckResult:
    """Leakage guard on the split: counted from the rows and the exits, not from the plan, so a
    training set written by any other code (or an older split) is judged the same way."""
    version = int(lake.version(TRAINING_TABLE) or 0)
    df = lake.read(TRAINING_TABLE, version=version, columns=[KEY, SNAPSHOT_DATE, td.SPLIT, td.LABEL])
    lineage = lake.lineage(TRAINING_TABLE, version)
    if lineage.get("lineage.mode") == "static":
        overlap = set(df.loc[df[td.SPLIT] == "train", KEY]) & set(df.loc[df[td.SPLIT] == "test", KEY])
        return dg.AssetCheckResult(
            passed=not overlap,
            metadata={"employees_in_train_and_test": dg.MetadataValue.int(len(overlap))},
        )
    horizon_days = int(lineage.get("lineage.horizon_days", "0"))
    horizon = dt.timedelta(days=horizon_days)
    known_until = dt.date.fromisoformat(lineage["lineage.known_until"])
    shared = td.shared_exit_events(df, _exits_used(lake, lineage), horizon_days)
    dates = {s: df.loc[df[td.SPLIT] == s, SNAPSHOT_DATE] for s in td.SPLITS}
    problems: dict[str, int] = {
        **{f"shared_exit_events_{pair}": n for pair, n in shared.items()},
        "days_train_labels_run_into_validation": _overrun(dates["train"], dates["validation"], horizon),
        "days_validation_labels_run_into_test": _overrun(dates["validation"], dates["test"], horizon),
        "rows_with_unelapsed_horizon": int(
            (pd.to_datetime(df[SNAPSHOT_DATE]) + horizon > pd.Timestamp(known_until)).sum()
        ),
    }
    return dg.AssetCheckResult(
        passed=not any(problems.values()),
        metadata={
            "shared_exit_events": dg.MetadataValue.int(sum(shared.values())),
            **{k: dg.MetadataValue.int(v) for k, v in problems.items()},
        },
    )


@dg.asset_check(
    asset=training_set,
    blocking=True,
    description=f"Each split holds leavers and stayers at a plausible rate "
    f"({MIN_POSITIVE_RATE:.0%}-{MAX_POSITIVE_RATE:.0%}).",
)
def training_class_balance(lake: DeltaLake) -> dg.AssetCheckResult:
    """A split without leavers cannot tune or test anything; an implausible rate means the
    labels are wrong. The failure names the split, its rate and the distance to the band."""
    df = lake.read(TRAINING_TABLE, columns=[td.SPLIT, td.LABEL])
    rates = df.groupby(td.SPLIT, observed=True)[td.LABEL].agg(["mean", "sum", "count"])
    metadata: dict[str, dg.MetadataValue] = {}
    failures: list[str] = []
    for s in td.SPLITS:
        rate = float(rates.loc[s, "mean"]) if s in rates.index else 0.0
        leavers = int(rates.loc[s, "sum"]) if s in rates.index else 0
        rows = int(rates.loc[s, "count"]) if s in rates.index else 0
        below = max(0.0, MIN_POSITIVE_RATE - rate)
        above = max(0.0, rate - MAX_POSITIVE_RATE)
        metadata[f"{s}_leaver_rate"] = dg.MetadataValue.float(round(rate, 4))
        metadata[f"{s}_leavers"] = dg.MetadataValue.int(leavers)
        metadata[f"{s}_rows"] = dg.MetadataValue.int(rows)
        metadata[f"{s}_rate_outside_band"] = dg.MetadataValue.float(round(max(below, above), 4))
        if rows == 0:
            failures.append(f"{s}: no rows")
        elif leavers == 0 or below > 0:
            failures.append(
                f"{s}: leaver rate {rate:.2%} is {below:.2%} below the {MIN_POSITIVE_RATE:.0%} minimum"
            )
        elif above > 0:
            failures.append(
                f"{s}: leaver rate {rate:.2%} is {above:.2%} above the {MAX_POSITIVE_RATE:.0%} maximum"
            )
    metadata["min_rate"] = dg.MetadataValue.float(MIN_POSITIVE_RATE)
    metadata["max_rate"] = dg.MetadataValue.float(MAX_POSITIVE_RATE)
    return dg.AssetCheckResult(
        passed=not failures,
        description="; ".join(failures) or None,
        metadata=metadata,
    )
