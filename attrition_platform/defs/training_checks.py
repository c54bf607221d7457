"""Asset checks on the training set: the split's leakage guard and its class balance (both
block the model from training)."""

import datetime as dt

import dagster as dg
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.training_assets import TRAINING_TABLE, training_set
from attrition_platform.model import training_data as td
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import MAX_POSITIVE_RATE, MIN_POSITIVE_RATE


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
