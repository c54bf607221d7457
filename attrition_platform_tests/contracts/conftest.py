from __future__ import annotations

from pathlib import Path

import pytest

from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform_tests.model.conftest import learnable


@pytest.fixture(scope="session")
def small_bundle() -> ModelBundle:
    """A real (small) trained bundle: publication must carry real booster bytes."""
    train, y_train = learnable(600, 11)
    val, y_val = learnable(300, 12)
    return train_xgboost(
        train,
        y_train,
        val,
        y_val,
        RecipeParams(max_depths=(2,), max_rounds=30, refit=False, threads=1),
    )


@pytest.fixture(scope="session")
def other_bundle() -> ModelBundle:
    """A second bundle with different booster bytes (another seed)."""
    train, y_train = learnable(600, 21)
    val, y_val = learnable(300, 22)
    return train_xgboost(
        train,
        y_train,
        val,
        y_val,
        RecipeParams(max_depths=(2,), max_rounds=30, refit=False, threads=1, seed=7),
    )


@pytest.fixture
def bundle_dir(small_bundle: ModelBundle, tmp_path: Path) -> Path:
    return small_bundle.save(tmp_path / "src_a")


@pytest.fixture
def other_bundle_dir(other_bundle: ModelBundle, tmp_path: Path) -> Path:
    return other_bundle.save(tmp_path / "src_b")
