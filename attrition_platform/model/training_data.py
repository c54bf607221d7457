"""Point-in-time labelling and the time-based split of the training set.

A training row is (employee, snapshot_date) with the features stored for that date. Its label
is a voluntary exit in (snapshot_date, snapshot_date + horizon]; a snapshot is labelled only
when that whole window lies on or before the date up to which exits are known, so no row is
marked "stayed" merely because the future has not happened yet. The split is by time, in
days so it holds for any snapshot cadence: the latest `test_days` of labelled snapshots are the
untouched test window, `validation_days` before them validation, and an embargo (default: one
horizon) separates training from validation and validation from test. A row's label looks one
horizon ahead, so with these gaps no exit labels rows of two splits (`shared_exit_events`
counts them; the `training_label_leakage` check blocks on any).
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
    """Window lengths in days, so the same plan holds for monthly, weekly or daily snapshots."""

    validation_days: int = 90
    test_days: int = 90
    embargo_days: int | None = None  # None: one horizon
    static_validation_share: float = 0.2
    static_test_share: float = 0.2
    seed: int = 42


def label_time_aware(
    features: pd.DataFrame, terminations: pd.DataFrame, horizon_days: int, known_until: dt.date
) -> pd.DataFrame:
    """Rows of `features` whose horizon has elapsed by `known_until`, with a 0/1 label.

    Every voluntary exit labels the rows of its employee whose window (D, D + horizon] holds it,
    so a rehired employee's two exits each label their own rows.
    """
    horizon = dt.timedelta(days=horizon_days)
    snap = pd.to_datetime(features[SNAPSHOT_DATE])
    eligible = ((snap + horizon) <= pd.Timestamp(known_until)).to_numpy()
    rows = features.loc[eligible].copy()
    vol = voluntary_exits(terminations)
    rows[LABEL] = _labels(rows, vol, horizon_days)
    rows = rows.reset_index(drop=True)
    if len(rows) and not rows[LABEL].any():
        if vol.empty:
            raise TrainingDataError(
                f"no leavers: the export records no voluntary exit up to {known_until}, so "
                "every row would be labelled 'stayed'; a time-aware export needs "
                "termination_date and termination_type for its leavers"
            )
        raise TrainingDataError(
            f"no leavers: none of the {len(vol)} voluntary exit(s) up to {known_until} falls "
            f"within {horizon_days} days after a labelled snapshot; add history or lengthen "
            "the horizon"
        )
    return rows


def voluntary_exits(terminations: pd.DataFrame) -> pd.DataFrame:
    """Distinct (employee, exit date) of voluntary exits, dates as timestamps."""
    if terminations.empty or "termination_date" not in terminations:
        return pd.DataFrame({KEY: pd.Series(dtype="int64"), "exit": pd.Series(dtype="datetime64[ns]")})
    vol = terminations[terminations["termination_type"] == "voluntary"]
    out = pd.DataFrame(
        {KEY: vol[KEY].to_numpy(), "exit": pd.to_datetime(vol["termination_date"]).to_numpy()}
    )
    return out.dropna().drop_duplicates().reset_index(drop=True)


def _exit_matches(rows: pd.DataFrame, vol: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """(row position, employee, exit) for every exit inside a row's window (D, D + horizon]."""
    keys = pd.DataFrame(
        {
            "row": np.arange(len(rows)),
            KEY: rows[KEY].to_numpy(),
            "snap": pd.to_datetime(rows[SNAPSHOT_DATE]).to_numpy(),
        }
    )
    pairs = keys.merge(vol, on=KEY, how="inner")
    horizon = pd.Timedelta(days=horizon_days)
    inside = (pairs["exit"] > pairs["snap"]) & (pairs["exit"] <= pairs["snap"] + horizon)
    return pairs.loc[inside, ["row", KEY, "exit"]]


def _labels(rows: pd.DataFrame, vol: pd.DataFrame, horizon_days: int) -> np.ndarray:
    label = np.zeros(len(rows), dtype="int8")
    label[_exit_matches(rows, vol, horizon_days)["row"].to_numpy()] = 1
    return label


def shared_exit_events(rows: pd.DataFrame, terminations: pd.DataFrame, horizon_days: int) -> dict[str, int]:
    """How many exit events (employee, termination date) label a positive row in two splits.

    The split is sealed when every count is zero: an exit seen as a training or validation
    positive must not also be what a test positive predicts.
    """
    positive = rows[rows[LABEL].to_numpy() == 1]
    matches = _exit_matches(positive, voluntary_exits(terminations), horizon_days)
    matches["split"] = positive[SPLIT].to_numpy()[matches["row"].to_numpy()]
    events = {s: set(zip(g[KEY], g["exit"])) for s, g in matches.groupby("split")}
    out: dict[str, int] = {}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            out[f"{a}_{b}"] = len(events.get(a, set()) & events.get(b, set()))
    return out


def label_static(features: pd.DataFrame) -> pd.DataFrame:
    rows = features.copy()
    rows[LABEL] = (rows["Attrition"] == "Yes").astype("int8")
    if len(rows) and not rows[LABEL].any():
        raise TrainingDataError(
            f"no leavers: Attrition is 'No' on all {len(rows)} rows of the static export; a model "
            "needs employees who left (Attrition = 'Yes')"
        )
    return rows.reset_index(drop=True)


def _hash_unit(keys: pd.Series, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per key: splits survive re-runs and reordering."""
    hashed = pd.util.hash_array(keys.astype(str).to_numpy(dtype=object), hash_key=f"{seed:016d}"[-16:])
    return hashed.astype(np.float64) / 2.0**64


def assign_split(rows: pd.DataFrame, plan: SplitPlan, horizon_days: int) -> pd.DataFrame:
    """Add the `split` column (to `rows` itself: at 100k employees a defensive copy costs
    gigabytes); rows inside the embargo gap are dropped from the returned frame."""
    dates = sorted(rows[SNAPSHOT_DATE].unique())
    if not dates:
        raise TrainingDataError(
            f"no labelled snapshot yet: a snapshot is labelled once its {horizon_days}-day horizon "
            "has passed, and none has; add history or shorten the horizon"
        )
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
    split_of = _time_windows(dates, plan, horizon_days)
    out[SPLIT] = out[SNAPSHOT_DATE].map(split_of)
    return out[out[SPLIT].notna()].reset_index(drop=True)


def _cadence_days(dates: list[dt.date]) -> float:
    """The typical gap between snapshots (the median, so one missing month does not count)."""
    gaps = np.diff([d.toordinal() for d in dates])
    return float(np.median(gaps)) if len(gaps) else 1.0


def _window(dates: list[dt.date], last: dt.date, days: int, step: float) -> list[dt.date]:
    """Snapshots ending at `last` that cover `days` days, each standing for one cadence step
    (half a step of tolerance: 90 days hold 3 monthly, 13 weekly or 90 daily snapshots)."""
    cut = last.toordinal() - days + step / 2
    return [d for d in dates if cut < d.toordinal() <= last.toordinal()] or [last]


def _plan_windows(
    dates: list[dt.date], plan: SplitPlan, horizon_days: int, step: float
) -> dict[dt.date, str] | None:
    """train | embargo | validation | embargo | test, or None when the dates are too few.

    The embargo before each later window is at least one horizon: a row's label looks
    `horizon_days` ahead, so a row that ends an embargo before the next window starts cannot be
    labelled by an exit that also labels a row of that window.
    """
    embargo = horizon_days if plan.embargo_days is None else plan.embargo_days
    test = _window(dates, dates[-1], plan.test_days, step)
    before_test = [d for d in dates if d.toordinal() + embargo <= test[0].toordinal()]
    if not before_test:
        return None
    validation = _window(before_test, before_test[-1], plan.validation_days, step)
    train = [d for d in dates if d.toordinal() + embargo <= validation[0].toordinal()]
    if not train:
        return None
    split_of = {d: "train" for d in train}
    split_of.update({d: "validation" for d in validation})
    split_of.update({d: "test" for d in test})
    return split_of


def _time_windows(dates: list[dt.date], plan: SplitPlan, horizon_days: int) -> dict[dt.date, str]:
    step = _cadence_days(dates)
    split_of = _plan_windows(dates, plan, horizon_days, step)
    if split_of is not None:
        return split_of
    # Say how much history is missing, in days and in snapshots at this cadence.
    more = 1
    while more < 100_000:
        earlier = [dt.date.fromordinal(round(dates[0].toordinal() - k * step)) for k in range(more, 0, -1)]
        if _plan_windows(earlier + dates, plan, horizon_days, step) is not None:
            break
        more += 1
    embargo = horizon_days if plan.embargo_days is None else plan.embargo_days
    span = (dates[-1] - dates[0]).days
    raise TrainingDataError(
        f"the labelled snapshots span {span} days ({len(dates)} snapshot(s), {dates[0]}..{dates[-1]}, "
        f"every ~{step:g} days); the time split needs {plan.test_days} test days + {embargo} embargo "
        f"+ {plan.validation_days} validation days + {embargo} embargo + training: about "
        f"{round(more * step)} more days ({more} more snapshot(s)). Add history or shorten the "
        "horizon, the embargo or the windows."
    )
