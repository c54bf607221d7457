"""`attrition cv`, run as a user runs it, on generated exports: the recipe beats the logistic
baseline on ranking (ROC AUC and PR AUC, by a margin) without losing calibration (Brier), and
reports recall per Gender and age band with the largest gap, on static (IBM-sized) and
time-aware exports, over several seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attrition_platform_tests.test_cli import run

# Measured margins on these exports were +0.03 to +0.06 ROC AUC and +0.05 to +0.11 PR AUC
# (docs/model-card.md); the asserted ones leave room for fold noise.
ROC_MARGIN = 0.01
PR_MARGIN = 0.02

EXPORTS = {
    "static": ["--employees", "1470", "--static"],  # the public export's size and shape
    "time-aware": ["--employees", "600", "--months", "24"],
}


def _cv(tmp_path: Path, kind: str, seed: int) -> dict:
    export = tmp_path / ("export.csv" if kind == "static" else "export.parquet")
    made = run(["generate", "--out", str(export), "--seed", str(seed), *EXPORTS[kind]], tmp_path, tmp_path)
    assert made.returncode == 0, made.stderr
    result = run(["cv", "--hris", str(export), "--folds", "3", "--repeats", "1"], tmp_path, tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_the_recipe_beats_the_baseline_on_roc_and_pr_auc_with_no_worse_brier(tmp_path: Path, kind: str, seed: int) -> None:
    report = _cv(tmp_path, kind, seed)
    recipe, baseline = report["recipe"], report["baseline"]
    assert recipe["roc_auc"]["mean"] > baseline["roc_auc"]["mean"] + ROC_MARGIN, (recipe["roc_auc"], baseline["roc_auc"])
    assert recipe["pr_auc"]["mean"] > baseline["pr_auc"]["mean"] + PR_MARGIN, (recipe["pr_auc"], baseline["pr_auc"])
    assert recipe["brier"]["mean"] <= baseline["brier"]["mean"], (recipe["brier"], baseline["brier"])
    # Fairness is measured in development too: recall per group at each model's threshold.
    for model in (recipe, baseline):
        fair = model["fairness"]
        assert set(fair["recall_by_group"]) == {"Gender", "age_band"}
        assert set(fair["recall_by_group"]["age_band"]) == {"<30", "30-39", "40-49", "50+"}
        assert set(fair["recall_by_group"]["Gender"]) == {"Female", "Male"}
        # per fold the largest gap is the larger attribute's gap, so on average it is no smaller
        largest = fair["largest_recall_gap_pp"]["mean"]
        assert 0.0 < largest <= 100.0
        assert largest >= max(g["mean"] for g in fair["recall_gap_pp"].values()) - 1e-6


def test_cv_fairness_fields_are_the_recall_of_each_group_recomputed_from_the_folds(tmp_path: Path) -> None:
    """The per-group recalls and the gap are what fairness.evaluate gives on each outer fold at
    the model's threshold, averaged: recomputed here from the same folds and models."""
    import numpy as np

    from attrition_platform.governance import fairness
    from attrition_platform.hris.file_source import read_export
    from attrition_platform.model import cv
    from attrition_platform.model import training_data as td
    from attrition_platform.model.recipe import RecipeParams

    export = tmp_path / "export.csv"
    made = run(["generate", "--out", str(export), "--seed", "3", "--employees", "600", "--static"], tmp_path, tmp_path)
    assert made.returncode == 0, made.stderr
    rows = td.label_static(read_export(export))
    y = rows[td.LABEL].to_numpy()
    params = RecipeParams(max_rounds=60, threads=1)
    report = cv.cross_validate(rows, y, folds=2, repeats=1, params=params)
    recalls: dict[str, list[float]] = {}
    gaps: list[float] = []
    for i, (fit_idx, test_idx) in enumerate(cv._folds(y, None, 2, 1, params.seed)):
        tr_rel, va_rel = cv.inner_split(y[fit_idx], None, 0.25, params.seed + i)
        tr, va = fit_idx[tr_rel], fit_idx[va_rel]
        train, val, test = (rows.iloc[ix].reset_index(drop=True) for ix in (tr, va, test_idx))
        model = cv.train_baseline(train, y[tr], val, y[va], params.threshold_beta)
        predicted = model.predict_proba(test) >= model.threshold
        result = fairness.evaluate(test, y[test_idx], predicted, ("Gender", fairness.AGE_BAND), intersections=())
        gaps.append(result.largest_gap_pp)
        age = fairness.age_band(test["Age"]).to_numpy()
        for band in ("<30", "50+"):
            leavers = (age == band) & (y[test_idx] == 1)
            recalls.setdefault(band, []).append(float(predicted[leavers].mean()))
    got = report["baseline"]["fairness"]
    assert got["largest_recall_gap_pp"]["mean"] == pytest.approx(float(np.mean(gaps)), abs=1e-3)
    for band, values in recalls.items():
        assert got["recall_by_group"]["age_band"][band]["recall"]["mean"] == pytest.approx(float(np.mean(values)), abs=1e-3)
