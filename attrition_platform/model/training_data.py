"""Point-in-time labelling and the time-based split of the training set.

A training row is (employee, snapshot_date) with the features stored for that date. Its label
is a voluntary exit in (snapshot_date, snapshot_date + horizon]; a snapshot is labelled only
when that whole window lies on or before the date up to which exits are known, so no row is
marked "stayed" merely because the future has not happened yet. The split is by time: the
latest labelled snapshots are the untouched test window, the ones before them validation, and
training rows end an embargo (default: one horizon) before validation starts, so no training
label is observed inside the validation period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE

LABEL = "label"
SPLIT = "split"
SPLITS = ("train", "validation", "test")


class TrainingDataError(ValueError):
    """Not enough history to build a sound training set; says what is missing."""


@dataclass(frozen=True)
class SplitPlan:
    validation_snapshots: int = 3
    test_snapshots: int = 3
    embargo_days: int | None = None  # None: one horizon
    static_validation_share: float = 0.2
    static_test_share: float = 0.2
    seed: int = 42


def label_time_aware(
    features: pd.DataFrame, terminations: pd.DataFrame, horizon_days: int, known_until: dt.date
) -> pd.DataFrame:
    """Rows of `features` whose horizon has elapsed by `known_until`, with a 0/1 label."""
    horizon = dt.timedelta(days=horizon_days)
    snap = pd.to_datetime(features[SNAPSHOT_DATE])
    eligible = (snap + horizon) <= pd.Timestamp(known_until)
    rows = features.loc[eligible.to_numpy()].copy()
    vol = terminations[terminations["termination_type"] == "voluntary"]
    exit_date = rows[KEY].map(
        pd.Series(pd.to_datetime(vol["termination_date"]).to_numpy(), index=vol[KEY].to_numpy())
    )
    rsnap = pd.to_datetime(rows[SNAPSHOT_DATE])
    rows[LABEL] = ((exit_date > rsnap) & (exit_date <= rsnap + horizon)).astype("int8")
    return rows.reset_index(drop=True)


def label_static(features: pd.DataFrame) -> pd.DataFrame:
    rows = features.copy()
    rows[LABEL] = (rows["Attrition"] == "Yes").astype("int8")
    return rows.reset_index(drop=True)


def _hash_unit(keys: pd.Series, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per key: splits survive re-runs and reordering."""
    hashed = pd.util.hash_array(keys.astype(str).to_numpy(dtype=object), hash_key=f"{seed:016d}"[-16:])
    return hashed.astype(np.float64) / 2.0**64


def assign_split(rows: pd.DataFrame, plan: SplitPlan, horizon_days: int) -> pd.DataFrame:
    """Add the `split` column (to `rows` itself: at 100k employees a defensive copy costs
    gigabytes); rows inside the embargo gap are dropped from the returned frame."""
    dates = sorted(rows[SNAPSHOT_DATE].unique())
    out = rows
    if len(dates) == 1:
        # A static export: stratified by label, stable per employee.
        u = _hash_unit(out[KEY], plan.seed)
        split = np.full(len(out), "train", dtype=object)
        for label in (0, 1):
            idx = np.flatnonzero(out[LABEL].to_numpy() == label)
            order = idx[np.argsort(u[idx])]
            n_test = int(round(len(order) * plan.static_test_share))
            n_val = int(round(len(order) * plan.static_validation_share))
            split[order[:n_test]] = "test"
            split[order[n_test : n_test + n_val]] = "validation"
        out[SPLIT] = split
        return out
    needed = plan.validation_snapshots + plan.test_snapshots + 1
    if len(dates) < needed:
        raise TrainingDataError(
            f"only {len(dates)} labelled snapshot(s); the time split needs at least {needed} "
            f"({plan.test_snapshots} test + {plan.validation_snapshots} validation + training). "
            "Add history or shorten the horizon."
        )
    test_dates = dates[-plan.test_snapshots :]
    val_dates = dates[-(plan.test_snapshots + plan.validation_snapshots) : -plan.test_snapshots]
    embargo = dt.timedelta(days=horizon_days if plan.embargo_days is None else plan.embargo_days)
    train_end = val_dates[0] - embargo
    train_dates = [d for d in dates if d <= train_end]
    if not train_dates:
        raise TrainingDataError(
            f"no training snapshots end {embargo.days} days (the embargo) before validation "
            f"starts on {val_dates[0]}; add history or shorten the horizon/embargo"
        )
    split_of = {d: "train" for d in train_dates}
    split_of.update({d: "validation" for d in val_dates})
    split_of.update({d: "test" for d in test_dates})
    out[SPLIT] = out[SNAPSHOT_DATE].map(split_of)
    return out[out[SPLIT].notna()].reset_index(drop=True)
