"""Repeated stratified cross-validation of the training recipe against the baseline.

Used by `attrition cv` for model development on an export. Each outer fold's training part is
split again (stratified, inner) into fit and validation rows: early stopping, calibration and
the threshold are chosen there, so the outer test fold stays untouched exactly as the time
window does in `candidate_model`. Both splits group rows by employee: a time-aware export holds
one row per employee and snapshot, and an employee on both sides would let validation (which
tunes rounds, depth, calibration and the threshold) see the people it is scored on.

Fairness is measured here too, not only at promotion: on each outer test fold, at each
model's own threshold, recall per Gender and per age band (the groups `governance.fairness`
gates on, same small-group rule) and the largest gap between groups in percentage points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)

from attrition_platform.contract import KEY
from attrition_platform.governance import fairness
from attrition_platform.model.metrics import classification_metrics
from attrition_platform.model.recipe import RecipeParams, refit_xgboost, train_baseline, train_xgboost

REPORTED = ("roc_auc", "pr_auc", "brier", "recall", "precision")


def _folds(
    y: np.ndarray, groups: np.ndarray | None, folds: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    if groups is None or len(np.unique(groups)) == len(groups):
        rskf = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        return list(rskf.split(np.zeros(len(y)), y))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for r in range(repeats):  # the same employee never sits on both sides of a fold
        sgkf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        out.extend(sgkf.split(np.zeros(len(y)), y, groups))
    return out


def inner_split(
    y: np.ndarray, groups: np.ndarray | None, validation_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fit and validation positions, stratified by label and grouped by employee."""
    if groups is None or len(np.unique(groups)) == len(groups):
        sss = StratifiedShuffleSplit(n_splits=1, test_size=validation_share, random_state=seed)
        return next(sss.split(np.zeros(len(y)), y))
    n_splits = max(2, round(1 / validation_share))
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return next(sgkf.split(np.zeros(len(y)), y, groups))


def cross_validate(
    rows: pd.DataFrame,
    label: np.ndarray,
    *,
    folds: int = 5,
    repeats: int = 3,
    params: RecipeParams = RecipeParams(),
    inner_validation_share: float = 0.25,
    compare_refit: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Mean and std of each metric over folds × repeats, for the recipe and the baseline.

    With `compare_refit`, the same held-out fit is also refitted on fit + validation rows (same
    rounds, and rounds scaled by the row ratio), so the three variants are compared on the
    same folds: `recipe_held_out`, `recipe_refit` and `recipe_refit_scaled`.
    """
    y = np.asarray(label, dtype=int)
    if min(np.bincount(y, minlength=2)) < folds:
        raise ValueError(f"need at least {folds} leavers and {folds} stayers for {folds} folds")
    groups = rows[KEY].to_numpy() if KEY in rows else None
    scores: dict[str, dict[str, list[float]]] = {"recipe": {}, "baseline": {}}
    fair: dict[str, list[fairness.FairnessResult]] = {}
    attributes = [a for a in fairness.DEFAULT_ATTRIBUTES if a in rows or (a == fairness.AGE_BAND and "Age" in rows)]
    splits = _folds(y, groups, folds, repeats, params.seed)
    for i, (fit_idx, test_idx) in enumerate(splits):
        inner_groups = groups[fit_idx] if groups is not None else None
        tr_rel, va_rel = inner_split(y[fit_idx], inner_groups, inner_validation_share, params.seed + i)
        tr, va = fit_idx[tr_rel], fit_idx[va_rel]
        train, val, test = (rows.iloc[ix].reset_index(drop=True) for ix in (tr, va, test_idx))
        models: list[tuple[str, Any]] = []
        if compare_refit:
            held_out = train_xgboost(train, y[tr], val, y[va], replace(params, refit=False))
            models.append(("recipe_held_out", held_out))
            for name, scale in (("recipe_refit", False), ("recipe_refit_scaled", True)):
                refit_params = replace(params, refit=True, refit_scale_rounds=scale)
                models.append((name, refit_xgboost(held_out, train, y[tr], val, y[va], refit_params)))
        else:
            models.append(("recipe", train_xgboost(train, y[tr], val, y[va], params)))
        models.append(("baseline", train_baseline(train, y[tr], val, y[va], params.threshold_beta)))
        for name, model in models:
            p = model.predict_proba(test, unseen="allow")
            m = classification_metrics(y[test_idx], p, model.threshold)
            for k in REPORTED:
                scores.setdefault(name, {}).setdefault(k, []).append(m[k])
            if attributes:
                fair.setdefault(name, []).append(
                    fairness.evaluate(test, y[test_idx], p >= model.threshold, attributes, intersections=())
                )
        if progress:
            progress(i + 1, len(splits))
    result: dict[str, Any] = {"folds": folds, "repeats": repeats, "rows": len(y), "leavers": int(y.sum())}
    for name, by_metric in scores.items():
        if not by_metric:
            continue
        result[name] = {
            k: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)}
            for k, v in by_metric.items()
        }
        if name in fair:
            result[name]["fairness"] = fairness_summary(fair[name])
    return result


def _mean_std(values: list[float]) -> dict[str, float | None]:
    """Mean and std over folds, ignoring folds where the value could not be measured."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None}
    return {"mean": round(float(np.mean(finite)), 4), "std": round(float(np.std(finite)), 4)}


def fairness_summary(results: list[fairness.FairnessResult]) -> dict[str, Any]:
    """Over folds: the largest recall gap (pp, gated attributes, small groups left out), the gap
    per attribute, and each group's recall with its rows and leavers per fold."""
    attributes = results[0].gated
    by_group: dict[str, dict[str, Any]] = {}
    for attribute in attributes:
        groups: dict[str, Any] = {}
        for result in results:
            table = result.table[result.table["attribute"] == attribute]
            for row in table.itertuples(index=False):
                entry = groups.setdefault(str(row.group), {"recall": [], "rows": [], "leavers": [], "small_folds": 0})
                entry["recall"].append(float(row.recall))
                entry["rows"].append(int(row.rows))
                entry["leavers"].append(int(row.leavers))
                entry["small_folds"] += int(bool(row.small))
        by_group[attribute] = {
            g: {
                "recall": _mean_std(e["recall"]),
                "rows_per_fold": round(float(np.mean(e["rows"])), 1),
                "leavers_per_fold": round(float(np.mean(e["leavers"])), 1),
                "small_in_folds": e["small_folds"],
            }
            for g, e in sorted(groups.items())
        }
    return {
        "largest_recall_gap_pp": _mean_std([r.largest_gap_pp for r in results]),
        "recall_gap_pp": {a: _mean_std([r.gaps_pp.get(a, float("nan")) for r in results]) for a in attributes},
        "recall_by_group": by_group,
    }
