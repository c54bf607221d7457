"""Repeated stratified cross-validation of the training recipe against the baseline.

Used by `attrition cv` for model development on an export. Each outer fold's training part is
split again (stratified, inner) into fit and validation rows: early stopping, calibration and
the threshold are chosen there, so the outer test fold stays untouched exactly as the time
window does in `candidate_model`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedShuffleSplit,
)

from attrition_platform.contract import KEY
from attrition_platform.model.metrics import classification_metrics
from attrition_platform.model.recipe import RecipeParams, train_baseline, train_xgboost

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


def cross_validate(
    rows: pd.DataFrame,
    label: np.ndarray,
    *,
    folds: int = 5,
    repeats: int = 3,
    params: RecipeParams = RecipeParams(),
    inner_validation_share: float = 0.25,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Mean and std of each metric over folds × repeats, for the recipe and the baseline."""
    y = np.asarray(label, dtype=int)
    if min(np.bincount(y, minlength=2)) < folds:
        raise ValueError(f"need at least {folds} leavers and {folds} stayers for {folds} folds")
    groups = rows[KEY].to_numpy() if KEY in rows else None
    scores: dict[str, dict[str, list[float]]] = {"recipe": {}, "baseline": {}}
    splits = _folds(y, groups, folds, repeats, params.seed)
    for i, (fit_idx, test_idx) in enumerate(splits):
        inner = StratifiedShuffleSplit(
            n_splits=1, test_size=inner_validation_share, random_state=params.seed + i
        )
        tr_rel, va_rel = next(inner.split(np.zeros(len(fit_idx)), y[fit_idx]))
        tr, va = fit_idx[tr_rel], fit_idx[va_rel]
        train, val, test = (rows.iloc[ix].reset_index(drop=True) for ix in (tr, va, test_idx))
        model = train_xgboost(train, y[tr], val, y[va], params)
        base = train_baseline(train, y[tr], val, y[va], params.threshold_beta)
        for name, p, t in (
            ("recipe", model.predict_proba(test), model.threshold),
            ("baseline", base.predict_proba(test), base.threshold),
        ):
            m = classification_metrics(y[test_idx], p, t)
            for k in REPORTED:
                scores[name].setdefault(k, []).append(m[k])
        if progress:
            progress(i + 1, len(splits))
    result: dict[str, Any] = {"folds": folds, "repeats": repeats, "rows": len(y), "leavers": int(y.sum())}
    for name, by_metric in scores.items():
        result[name] = {
            k: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)}
            for k, v in by_metric.items()
        }
    return result
