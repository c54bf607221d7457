from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform_tests.model.conftest import learnable


def test_depth_is_tuned_on_validation_rows_and_recorded(trained_bundle) -> None:
    bundle, _ = trained_bundle
    tried = bundle.metadata["validation_pr_auc_by_depth"]
    assert set(tried) == {"2", "3"}
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


def test_an_empty_depth_grid_is_refused() -> None:
    train, y = learnable(400, 4)
    with pytest.raises(ValueError, match="max_depths"):
        train_xgboost(train, y, train, y, RecipeParams(max_depths=()))
