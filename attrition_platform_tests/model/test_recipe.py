from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.model.bundle import Calibration
from attrition_platform.model.recipe import RecipeParams, refit_xgboost, train_xgboost
from attrition_platform_tests.model.conftest import learnable


def test_depth_is_tuned_on_validation_rows_and_recorded(trained_bundle) -> None:
    bundle, _ = trained_bundle
    tried = bundle.metadata["validation_pr_auc_by_depth"]
    assert set(tried) == {"1", "2"}
    assert bundle.metadata["max_depth"] == int(max(tried, key=tried.get))


def test_risk_never_rises_with_income_or_satisfaction(trained_bundle) -> None:
    bundle, test = trained_bundle
    row = test.iloc[[0] * 20].reset_index(drop=True)
    row["MonthlyIncome"] = np.linspace(1_000, 20_000, 20).astype(int)
    assert np.all(np.diff(bundle.predict_proba(row)) <= 1e-9)
    row = test.iloc[[0] * 4].reset_index(drop=True)
    row["JobSatisfaction"] = [1, 2, 3, 4]
    assert np.all(np.diff(bundle.predict_proba(row)) <= 1e-9)


def test_probabilities_are_calibrated_on_held_out_rows(trained_bundle) -> None:
    bundle, _ = trained_bundle
    rows, y = learnable(4000, 9)
    p = bundle.predict_proba(rows)
    assert abs(p.mean() - y.mean()) < 0.03  # class weighting did not inflate the scores


def _worst_decile_excess(p: np.ndarray, y: np.ndarray) -> float:
    """Over deciles of predicted risk: the largest |observed - mean predicted| leaver rate beyond
    four binomial standard errors plus one point (negative: every decile within tolerance)."""
    excess = []
    for decile in np.array_split(np.argsort(p), 10):
        expected, observed = p[decile].mean(), y[decile].mean()
        noise = np.sqrt(expected * (1 - expected) / len(decile))
        excess.append(abs(observed - expected) - (4 * noise + 0.01))
    return max(excess)


def test_probabilities_are_calibrated_decile_by_decile_with_a_calibration_slope_near_one(trained_bundle) -> None:
    """On 20,000 fresh rows from the same world: in each decile of predicted risk the observed
    leaver rate is within binomial noise of the mean prediction, and a logistic fit of the
    labels on the predicted log-odds has slope ~1 and intercept ~0 (neither over- nor
    under-confident)."""
    from sklearn.linear_model import LogisticRegression

    bundle, _ = trained_bundle
    rows, y = learnable(20_000, 31)
    p = bundle.predict_proba(rows)
    assert _worst_decile_excess(p, y) < 0
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=1e6).fit(logit, y)
    assert 0.85 < fit.coef_[0, 0] < 1.15
    assert abs(fit.intercept_[0]) < 0.15


def test_a_miscalibrated_model_fails_the_decile_check(trained_bundle) -> None:
    """The decile check above can fail: the same model with its calibration slope doubled
    (over-confident) breaks it."""
    from dataclasses import replace as dc_replace

    bundle, _ = trained_bundle
    skewed = dc_replace(bundle, calibration=Calibration(bundle.calibration.slope * 2, bundle.calibration.intercept))
    rows, y = learnable(20_000, 31)
    assert _worst_decile_excess(skewed.predict_proba(rows), y) > 0


def test_an_empty_depth_grid_is_refused() -> None:
    train, y = learnable(400, 4)
    with pytest.raises(ValueError, match="max_depths"):
        train_xgboost(train, y, train, y, RecipeParams(max_depths=()))


def test_refit_retrains_on_fit_and_validation_rows_with_the_chosen_depth_and_rounds(held_out_bundle) -> None:
    held_out = held_out_bundle
    assert held_out.metadata["refit"] is False
    train, y_train = learnable(3000, 1)  # the rows the session bundle was tuned on
    val, y_val = learnable(1000, 2)
    best = held_out.metadata["best_iteration"]
    same = refit_xgboost(held_out, train, y_train, val, y_val, RecipeParams(max_rounds=200, refit=True))
    assert same.metadata["refit"] is True and same.metadata["refit_rows"] == 4000
    assert same.booster.num_boosted_rounds() == same.metadata["refit_rounds"] == best
    assert same.metadata["max_depth"] == held_out.metadata["max_depth"]
    scaled = refit_xgboost(
        held_out, train, y_train, val, y_val, RecipeParams(max_rounds=200, refit=True, refit_scale_rounds=True)
    )
    assert scaled.booster.num_boosted_rounds() == round(best * 4000 / 3000)


def test_a_refit_model_keeps_the_held_out_probability_scale_and_threshold(held_out_bundle) -> None:
    held_out = held_out_bundle
    train, y_train = learnable(3000, 1)
    val, y_val = learnable(1000, 2)
    refit = refit_xgboost(held_out, train, y_train, val, y_val, RecipeParams(max_rounds=200, refit=True))
    assert refit.threshold == held_out.threshold
    rows, y = learnable(4000, 9)
    p_refit, p_held = refit.predict_proba(rows), held_out.predict_proba(rows)
    assert abs(p_refit.mean() - y.mean()) < 0.03  # calibrated, not inflated by class weighting
    assert abs(p_refit.mean() - p_held.mean()) < 0.02
    assert np.corrcoef(p_refit, p_held)[0, 1] > 0.9


def test_the_recipe_refits_by_default(trained_bundle) -> None:
    bundle, _ = trained_bundle
    assert RecipeParams().refit is True
    assert bundle.metadata["refit"] is True and bundle.metadata["refit_rows"] == 4000
