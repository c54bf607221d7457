"""Recall, precision and selection rate per protected group, and the largest gap between groups.

The plan's fairness rule is about recall (a leaver in one group must not be missed more often
than in another), so the gap the gate and the alert use is the recall gap; precision and
selection rate are reported beside it. Groups too small to measure recall on are flagged and
kept in the table (never hidden) but left out of the gap: with five leavers, one miss moves
recall by 20 pp, which is noise, not unfairness. `gap_all_groups_pp` shows the gap with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import precision_score, recall_score

AGE_BAND = "age_band"
AGE_BANDS = ((None, 30, "<30"), (30, 40, "30-39"), (40, 50, "40-49"), (50, None, "50+"))
DEFAULT_ATTRIBUTES = ("Gender", AGE_BAND)
DEFAULT_INTERSECTIONS = (("Gender", AGE_BAND),)


class FairnessInputError(ValueError):
    """An attribute the rows do not have; names it and the columns that exist."""


def age_band(age: pd.Series) -> pd.Series:
    """<30, 30-39, 40-49, 50+ (the bands of the plan)."""
    out = pd.Series("", index=age.index, dtype=object)
    values = pd.to_numeric(age, errors="coerce")
    for low, high, name in AGE_BANDS:
        mask = pd.Series(True, index=age.index)
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values < high
        out[mask] = name
    out[values.isna()] = "unknown"
    return out


def group_labels(rows: pd.DataFrame, attribute: str | Sequence[str]) -> pd.Series:
    """Each row's group for one attribute, or for an intersection ("Female × <30")."""
    names = [attribute] if isinstance(attribute, str) else list(attribute)
    parts = []
    for name in names:
        if name == AGE_BAND:
            if "Age" not in rows:
                raise FairnessInputError("fairness attribute age_band needs the column Age")
            parts.append(age_band(rows["Age"]))
        elif name in rows:
            parts.append(rows[name].astype(str).fillna("unknown"))
        else:
            raise FairnessInputError(
                f"fairness attribute {name!r} is not a column of the evaluation rows "
                f"(columns include: {', '.join(sorted(map(str, rows.columns))[:12])}...)"
            )
    label = parts[0]
    for part in parts[1:]:
        label = label + " × " + part
    return label.rename(attribute_name(attribute))


def attribute_name(attribute: str | Sequence[str]) -> str:
    return attribute if isinstance(attribute, str) else " × ".join(attribute)


@dataclass(frozen=True)
class SmallGroupRule:
    """A group is too small to judge when it has fewer rows or fewer leavers than this."""

    min_rows: int = 30
    min_leavers: int = 10


@dataclass(frozen=True)
class FairnessResult:
    """Per-group metrics of one model on one window, and its gaps."""

    table: pd.DataFrame  # attribute, group, rows, leavers, recall, precision, selection_rate, small
    gaps_pp: dict[str, float]  # attribute -> largest recall gap (pp) among groups large enough
    gaps_all_groups_pp: dict[str, float]  # same with the small groups included
    gated: tuple[str, ...]  # the attributes whose gaps count for `largest_gap_pp`

    @property
    def largest_gap_pp(self) -> float:
        """The largest recall gap over the gated attributes (0 when no attribute can be judged)."""
        values = [self.gaps_pp[a] for a in self.gated if np.isfinite(self.gaps_pp.get(a, np.nan))]
        return max(values) if values else 0.0

    @property
    def largest_gap_attribute(self) -> str | None:
        values = {a: self.gaps_pp[a] for a in self.gated if np.isfinite(self.gaps_pp.get(a, np.nan))}
        return max(values, key=values.__getitem__) if values else None

    def small_groups(self) -> list[str]:
        small = self.table[self.table["small"]]
        return [f"{a}={g}" for a, g in zip(small["attribute"], small["group"])]


def evaluate(
    rows: pd.DataFrame,
    y_true: np.ndarray,
    predicted: np.ndarray,
    attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
    intersections: Sequence[Sequence[str]] = DEFAULT_INTERSECTIONS,
    small: SmallGroupRule = SmallGroupRule(),
) -> FairnessResult:
    """Per-group recall, precision and selection rate of 0/1 `predicted` against `y_true`.

    `attributes` are gated (their largest gap is the model's fairness gap); intersections are
    measured and reported only: their groups are small and their gaps mostly noise.
    """
    y = np.asarray(y_true, dtype=int)
    pred = np.asarray(predicted, dtype=int)
    metrics = {
        "recall": partial(recall_score, zero_division=np.nan),
        "precision": partial(precision_score, zero_division=np.nan),
        "selection_rate": selection_rate,
        "rows": lambda yt, yp: len(yt),
        "leavers": lambda yt, yp: int(np.sum(yt)),
    }
    frames = []
    gaps: dict[str, float] = {}
    gaps_all: dict[str, float] = {}
    for attribute in [*attributes, *[tuple(i) for i in intersections]]:
        name = attribute_name(attribute)
        groups = group_labels(rows, attribute).to_numpy()
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=groups).by_group
        frame = frame.reset_index().rename(columns={frame.index.name or "sensitive_feature_0": "group"})
        frame.insert(0, "attribute", name)
        frame["rows"] = frame["rows"].astype(int)
        frame["leavers"] = frame["leavers"].astype(int)
        frame["small"] = (frame["rows"] < small.min_rows) | (frame["leavers"] < small.min_leavers)
        frames.append(frame)
        gaps[name] = _gap_pp(frame.loc[~frame["small"], "recall"])
        gaps_all[name] = _gap_pp(frame["recall"])
    table = pd.concat(frames, ignore_index=True)[
        ["attribute", "group", "rows", "leavers", "recall", "precision", "selection_rate", "small"]
    ]
    return FairnessResult(table, gaps, gaps_all, tuple(attribute_name(a) for a in attributes))


def _gap_pp(recalls: pd.Series) -> float:
    values = recalls.dropna()
    if len(values) < 2:
        return float("nan")
    return float((values.max() - values.min()) * 100.0)


def comparison_table(results: Mapping[str, FairnessResult]) -> pd.DataFrame:
    """One row per (attribute, group), the models side by side (for the asset's metadata)."""
    merged: pd.DataFrame | None = None
    for model, result in results.items():
        t = result.table.set_index(["attribute", "group"])
        part = t[["recall", "precision", "selection_rate"]].add_prefix(f"{model} ")
        if merged is None:
            merged = t[["rows", "leavers", "small"]].join(part)
        else:
            merged = merged.join(part, how="outer")
    assert merged is not None
    return merged.reset_index()
