"""Decision-pattern tables give one row XGBoost's margin and TreeSHAP values, or are not used."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from attrition_platform.model import booster_calls, tree_patterns, tree_shap
from attrition_platform_tests.model.test_tree_shap import _booster, _rows


def _patterns(booster: xgb.Booster, groups: np.ndarray) -> tree_patterns.TreePatterns | None:
    tables = tree_shap.build(booster)
    assert tables is not None
    return tree_patterns.build(tables, tables.grouping(groups))


@pytest.mark.parametrize(("depth", "rounds", "base_score"), [(1, 30, None), (2, 60, 0.3), (3, 25, 0.71), (4, 40, 0.42), (5, 12, None)])
def test_one_rows_margin_is_xgboosts_to_the_bit_and_its_values_are_treeshaps(depth, rounds, base_score) -> None:
    booster = _booster(depth, rounds, seed=depth, base_score=base_score)
    patterns = _patterns(booster, np.arange(6))  # every feature its own group
    assert patterns is not None
    rows = _rows(400, seed=200 + depth)  # 10 % missing: the default directions are exercised
    reference = booster.predict(xgb.DMatrix(rows), pred_contribs=True)
    margins = booster_calls.margin(booster, rows)
    for i, row in enumerate(rows):
        picked = patterns.rows(row)
        np.testing.assert_array_equal(patterns.margin(picked), margins[i : i + 1])
        np.testing.assert_allclose(patterns.grouped(picked), reference[i, :-1], rtol=0, atol=2e-5)
    assert np.abs(reference[:, :-1]).max() > 0.01


def test_grouped_features_receive_the_sum_of_their_members_values() -> None:
    booster = _booster(2, 40, seed=21)
    groups = np.array([0, 0, 1, 2, 2, 3])  # features 0+1 and 3+4 form one factor each
    patterns = _patterns(booster, groups)
    assert patterns is not None
    rows = _rows(200, seed=22)
    reference = booster.predict(xgb.DMatrix(rows), pred_contribs=True)[:, :-1]
    expected = np.stack([reference[:, groups == g].sum(axis=1) for g in range(4)], axis=1)
    got = np.stack([patterns.grouped(patterns.rows(row)) for row in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


def test_a_tree_without_a_split_adds_its_leaf_and_nothing_else() -> None:
    rng = np.random.default_rng(23)
    x = rng.normal(size=(500, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    # A huge min_child_weight after a few rounds leaves later trees as single leaves.
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(x, label=y), 3)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "min_child_weight": 1e9},
        xgb.DMatrix(x, label=y),
        2,
        xgb_model=booster,
    )
    tables = tree_shap.build(booster)
    assert tables is not None
    assert (np.diff(np.append(tables.tree_starts, len(tables.leaf_value))) == 1).any()  # a splitless tree
    patterns = tree_patterns.build(tables, tables.grouping(np.arange(3)))
    assert patterns is not None
    rows = rng.normal(size=(100, 3)).astype(np.float32)
    margins = booster_calls.margin(booster, rows)
    reference = booster.predict(xgb.DMatrix(rows), pred_contribs=True)
    for i, row in enumerate(rows):
        picked = patterns.rows(row)
        np.testing.assert_array_equal(patterns.margin(picked), margins[i : i + 1])
        np.testing.assert_allclose(patterns.grouped(picked), reference[i, :-1], atol=2e-5)


def test_a_tree_over_the_unit_limit_is_cut_into_units_of_a_subtree_and_the_splits_above_it() -> None:
    booster = _booster(4, 20, seed=26)  # up to 15 splits a tree: two units of 8 each
    tables = tree_shap.build(booster)
    assert tables is not None
    patterns = tree_patterns.build(tables, tables.grouping(np.arange(6)))
    assert patterns is not None
    n_trees = len(tables.tree_starts)
    assert len(patterns.unit_base) > n_trees and patterns.width == tree_patterns.MAX_SPLITS_PER_UNIT
    # A split above two units (a root) is decided in each: the units of one tree share it.
    per_unit = patterns.node_feature.reshape(-1, tree_patterns.SLOTS)
    thresholds = patterns.node_threshold.reshape(-1, tree_patterns.SLOTS)
    same_first = (per_unit[1:, 0] == per_unit[:-1, 0]) & (thresholds[1:, 0] == thresholds[:-1, 0])
    assert same_first.sum() >= len(patterns.unit_base) - n_trees


def test_paths_longer_than_a_unit_or_a_small_budget_get_no_pattern_tables() -> None:
    tables = tree_shap.build(_booster(3, 10, seed=24))  # paths of 3 splits
    assert tables is not None
    grouping = tables.grouping(np.arange(6))
    assert tree_patterns.build(tables, grouping, max_splits=2) is None
    assert tree_patterns.build(tables, grouping, max_splits=3) is not None
    assert tree_patterns.build(tables, grouping, budget_bytes=64) is None
    assert tree_patterns.build(tables, grouping) is not None


def test_a_recipe_bundle_scores_one_record_through_the_pattern_tables(trained_bundle) -> None:
    bundle, test = trained_bundle
    row_model = bundle._row_model()
    assert row_model.patterns is not None  # the recipe's shallow trees: the fast path is in use
    inputs = test[bundle.spec.inputs]
    x = bundle.spec.matrix(test.iloc[:40])
    batch = bundle.score(test.iloc[:40], explain=3)
    for i in range(40):
        record = {c: (v.item() if hasattr(v, "item") else v) for c, v in inputs.iloc[i].items()}
        plain, explained = bundle.score([record]), bundle.score([record], explain=3)
        # the probability does not depend on asking for factors, and matches the batch's
        assert plain.probabilities[0] == explained.probabilities[0]
        assert abs(plain.probabilities[0] - batch.probabilities[i]) < 1e-9
        assert abs(explained.margins[0] - bundle.margin(x[i : i + 1])[0]) < 1e-6
        assert explained.factor_table.features[0].tolist() == batch.factor_table.features[i].tolist()
