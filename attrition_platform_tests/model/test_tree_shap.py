"""The TreeSHAP tables must give XGBoost's own numbers, or not be used at all."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from attrition_platform.model import booster_calls, tree_shap


def _booster(depth: int, rounds: int, seed: int, base_score: float | None = None) -> xgb.Booster:
    """A booster whose paths reuse features (few features, deep trees) and that learned
    default directions from missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3_000, 6)).astype(np.float32)
    x[:, 5] = rng.integers(0, 3, size=len(x))
    x[rng.random(x.shape) < 0.05] = np.nan
    z = np.nan_to_num(x[:, 0]) * 1.5 - np.nan_to_num(x[:, 1]) ** 2 + (x[:, 5] == 2)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-z))).astype(int)
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "nthread": 1}
    if base_score is not None:
        params["base_score"] = base_score
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=rounds)


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=1.5, size=(n, 6)).astype(np.float32)
    x[:, 5] = rng.integers(0, 3, size=n)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


@pytest.mark.parametrize(("depth", "rounds", "base_score"), [(1, 30, None), (2, 60, None), (4, 40, 0.3), (6, 15, 0.71)])
def test_tables_give_xgboosts_contributions_and_exactly_its_margins(depth, rounds, base_score) -> None:
    booster = _booster(depth, rounds, seed=depth, base_score=base_score)
    tables = tree_shap.build(booster)
    assert tables is not None
    rows = _rows(2_000, seed=100 + depth)  # not the rows the build checked itself on
    margins, contribs = tables.explain(rows)
    np.testing.assert_array_equal(margins, booster_calls.margin(booster, rows))
    reference = booster.predict(xgb.DMatrix(rows), pred_contribs=True)
    np.testing.assert_allclose(contribs, reference, rtol=0, atol=2e-5)
    assert np.abs(contribs[:, :-1]).max() > 0.01  # the comparison is about real values


def test_paths_that_split_on_a_feature_twice_are_explained_exactly() -> None:
    booster = _booster(6, 15, seed=6)
    tables = tree_shap.build(booster)
    assert tables is not None
    # A path of depth 6 over 6 features where a feature repeats has fewer slots than nodes.
    slots_per_leaf = [bin(m).count("1") for m in tables.full_mask.tolist()]
    assert min(slots_per_leaf) < tables.depth
    rows = _rows(500, seed=7)
    np.testing.assert_allclose(
        tables.explain(rows)[1], booster.predict(xgb.DMatrix(rows), pred_contribs=True), atol=2e-5
    )


def test_one_row_gives_bit_for_bit_what_the_batch_gives_for_that_row() -> None:
    booster = _booster(4, 40, seed=11)
    tables = tree_shap.build(booster)
    assert tables is not None
    rows = _rows(300, seed=12)
    margins, contribs = tables.explain(rows)
    for i in range(0, 300, 17):
        one_margin, one_contribs = tables.explain(rows[i : i + 1])
        np.testing.assert_array_equal(one_margin, margins[i : i + 1])
        np.testing.assert_array_equal(one_contribs, contribs[i : i + 1])


def test_batches_split_into_chunks_give_the_same_numbers(monkeypatch) -> None:
    booster = _booster(3, 30, seed=13)
    tables = tree_shap.build(booster)
    assert tables is not None
    rows = _rows(1_000, seed=14)
    whole = tables.explain(rows)
    monkeypatch.setattr(tree_shap, "_CHUNK_ELEMENTS", 1)  # two rows per chunk
    chunked = tables.explain(rows)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])
    threaded = tables.explain(rows, threads=2)  # chunks side by side, each in its own slice
    np.testing.assert_array_equal(whole[0], threaded[0])
    np.testing.assert_array_equal(whole[1], threaded[1])


def test_a_wrong_table_is_caught_at_build_and_no_tables_are_used(monkeypatch) -> None:
    booster = _booster(3, 30, seed=15)
    original = tree_shap._tables_for

    def off_by_a_little(zero, values, k, width):
        out = original(zero, values, k, width)
        out[:, -1, 0] *= 1.001  # one pattern of one slot, slightly wrong
        return out

    monkeypatch.setattr(tree_shap, "_tables_for", off_by_a_little)
    assert tree_shap.build(booster) is None


def test_a_model_over_the_memory_budget_gets_no_tables(monkeypatch) -> None:
    booster = _booster(4, 40, seed=16)
    assert tree_shap.build(booster, budget_bytes=1024) is None
    monkeypatch.setenv(tree_shap.BUDGET_ENV, "0")
    assert tree_shap.build(booster) is None
    monkeypatch.setenv(tree_shap.BUDGET_ENV, "64")
    assert tree_shap.build(booster) is not None


def test_rows_of_the_wrong_width_are_refused_with_the_expected_shape() -> None:
    tables = tree_shap.build(_booster(2, 10, seed=17))
    assert tables is not None
    with pytest.raises(ValueError, match="expected n x 6"):
        tables.explain(np.zeros((1, 5), dtype=np.float32))


def test_a_recipe_bundle_explains_through_tables_with_the_same_factors_as_xgboost(
    trained_bundle, monkeypatch
) -> None:
    from attrition_platform.model.bundle import ModelBundle

    bundle, test = trained_bundle
    assert bundle.shap_tables() is not None
    with_tables = bundle.score(test, explain=3)
    monkeypatch.setenv(tree_shap.BUDGET_ENV, "0")
    plain = ModelBundle(bundle.booster, bundle.spec, bundle.calibration, bundle.threshold, linear=bundle.linear)
    assert plain.shap_tables() is None
    with_xgboost = plain.score(test, explain=3)
    np.testing.assert_array_equal(with_tables.probabilities, with_xgboost.probabilities)
    np.testing.assert_array_equal(with_tables.margins, with_xgboost.margins)
    np.testing.assert_allclose(
        with_tables.factor_table.contributions, with_xgboost.factor_table.contributions, atol=2e-5
    )
    # Same factors, except where two are within float32 rounding of each other.
    same = (with_tables.factor_table.features == with_xgboost.factor_table.features).all(axis=1)
    assert same.mean() > 0.98


def test_the_margin_alone_of_one_row_is_xgboosts_to_the_bit() -> None:
    booster = _booster(4, 40, seed=18, base_score=0.3)
    tables = tree_shap.build(booster)
    assert tables is not None
    rows = _rows(300, seed=19)
    reference = booster_calls.margin(booster, rows)
    alone = np.concatenate([tables.margin_one(rows[i]) for i in range(len(rows))])
    np.testing.assert_array_equal(alone, reference)


def test_one_rows_factors_summed_by_field_match_the_batch_factors_of_that_row(trained_bundle) -> None:
    bundle, test = trained_bundle
    batch = bundle.score(test.iloc[:60], explain=4).factor_table
    inputs = test[bundle.spec.inputs]
    for i in range(60):
        record = {c: (v.item() if hasattr(v, "item") else v) for c, v in inputs.iloc[i].items()}
        one = bundle.score([record], explain=4).factor_table
        np.testing.assert_allclose(one.contributions[0], batch.contributions[i], rtol=0, atol=2e-6)
        assert one.features[0].tolist() == batch.features[i].tolist(), i
