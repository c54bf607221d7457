from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform_tests.hris.factories import static_rows


def learnable(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Contract-valid rows whose label follows overtime, satisfaction and income."""
    rows = static_rows(n, seed=seed)
    rng = np.random.default_rng(seed)
    z = (
        -2.0
        + 1.5 * (rows["OverTime"] == "Yes")
        - 0.5 * (rows["JobSatisfaction"] - 2.5)
        - 0.00008 * (rows["MonthlyIncome"] - 10_000)
        + 0.8 * (rows["MaritalStatus"] == "Single")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return rows, y


@pytest.fixture(scope="session")
def held_out_bundle() -> ModelBundle:
    """The recipe before its refit: tuned, calibrated and thresholded on the validation rows."""
    train, y_train = learnable(3000, 1)
    val, y_val = learnable(1000, 2)
    return train_xgboost(train, y_train, val, y_val, RecipeParams(max_rounds=200, refit=False))


@pytest.fixture(scope="session")
def trained_bundle() -> tuple[ModelBundle, pd.DataFrame]:
    """The default recipe (refitted on fit + validation rows)."""
    train, y_train = learnable(3000, 1)
    val, y_val = learnable(1000, 2)
    test, _ = learnable(500, 3)
    bundle = train_xgboost(train, y_train, val, y_val, RecipeParams(max_rounds=200))
    bundle.metadata["model_version"] = "test"
    return bundle, test
