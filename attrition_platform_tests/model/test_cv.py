"""`attrition cv` keeps every employee on one side of each split, the inner one included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrition_platform.model import cv
from attrition_platform.model.recipe import RecipeParams
from attrition_platform_tests.model.conftest import learnable


def _repeated_employees(employees: int, snapshots: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A time-aware-like table: each employee appears on several snapshots."""
    rows, y = learnable(employees, seed)
    rows = rows.assign(EmployeeNumber=np.arange(1, employees + 1))
    table = pd.concat([rows] * snapshots, ignore_index=True)
    return table, np.tile(y, snapshots)


def test_inner_split_never_puts_an_employee_on_both_sides() -> None:
    table, y = _repeated_employees(400, 5, seed=3)
    fit, val = cv.inner_split(y, table["EmployeeNumber"].to_numpy(), 0.25, seed=1)
    fit_people = set(table["EmployeeNumber"].iloc[fit])
    val_people = set(table["EmployeeNumber"].iloc[val])
    assert not fit_people & val_people
    assert len(fit) + len(val) == len(y)
    assert 0.2 < len(val) / len(y) < 0.3
    assert abs(y[val].mean() - y[fit].mean()) < 0.05  # still stratified


def test_cross_validation_fits_and_tunes_on_different_employees(monkeypatch: pytest.MonkeyPatch) -> None:
    table, y = _repeated_employees(300, 4, seed=5)
    seen: list[tuple[set[int], set[int]]] = []
    real = cv.train_xgboost

    def recording(train, y_train, val, y_val, params):  # type: ignore[no-untyped-def]
        seen.append((set(train["EmployeeNumber"]), set(val["EmployeeNumber"])))
        return real(train, y_train, val, y_val, params)

    monkeypatch.setattr(cv, "train_xgboost", recording)
    result = cv.cross_validate(table, y, folds=2, repeats=1, params=RecipeParams(max_rounds=20, max_depths=(2,)))
    assert len(seen) == 2
    for fit_people, val_people in seen:
        assert fit_people and val_people and not fit_people & val_people
    assert result["recipe"]["roc_auc"]["mean"] > 0.5


def test_cross_validation_can_compare_refit_variants_on_the_same_folds() -> None:
    table, y = _repeated_employees(300, 2, seed=6)
    result = cv.cross_validate(
        table, y, folds=2, repeats=1, params=RecipeParams(max_rounds=30, max_depths=(2,)), compare_refit=True
    )
    assert {"recipe_held_out", "recipe_refit", "recipe_refit_scaled", "baseline"} <= set(result)
    assert "recipe" not in result
