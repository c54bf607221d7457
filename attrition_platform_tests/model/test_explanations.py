from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.contract_columns import COLUMNS
from attrition_platform.model import explanations as ex
from attrition_platform.model.feature_spec import CATEGORICAL_RAW, DERIVED, NUMERIC_RAW, FeatureSpec


def full_vocabulary_spec() -> FeatureSpec:
    """A spec whose vocabularies hold every category the contract allows: every feature name
    a fitted spec can produce, and then some."""
    vocab = {name: list(COLUMNS[name].categories) for name in CATEGORICAL_RAW}
    return FeatureSpec(vocabularies=vocab, income_level_medians={"1": 3000.0})


def records_of(bundle, rows, n: int) -> list[dict]:
    return [
        {
            c: (v.item() if hasattr(v, "item") else v)
            for c, v in rows[bundle.spec.inputs].iloc[i].items()
        }
        for i in range(n)
    ]


# -- labels ------------------------------------------------------------------------------------


def test_every_feature_the_spec_can_produce_has_hand_written_business_words() -> None:
    spec = full_vocabulary_spec()
    for name in spec.feature_names + list(CATEGORICAL_RAW):
        label = ex.factor_label(name, strict=True)  # raises for a name that falls through
        assert label and "=" not in label and "_" not in label.split(":")[0], (name, label)
    # The tables hold exactly the spec's numeric and derived features: none forgotten, none stale.
    assert set(ex.NUMERIC_LABELS) == set(NUMERIC_RAW) | set(DERIVED)
    assert set(ex.FIELD_LABELS) == set(CATEGORICAL_RAW)


@pytest.mark.parametrize(
    ("feature", "label"),
    [
        ("MonthlyIncome", "Monthly income"),
        ("OverTime=Yes", "Works overtime"),
        ("OverTime=No", "Does not work overtime"),
        ("JobRole=Sales Representative", "Job role: Sales Representative"),
        ("JobRole=Data Scientist", "Job role: Data Scientist"),  # a role added after training
        ("JobRole", "Job role"),
        ("promotion_staleness", "Years since promotion relative to tenure"),
    ],
)
def test_features_are_named_in_business_words(feature: str, label: str) -> None:
    assert ex.factor_label(feature) == label


def test_an_unknown_feature_passes_through_unless_strict() -> None:
    assert ex.factor_label("shoe_size") == "shoe_size"
    with pytest.raises(KeyError, match="shoe_size"):
        ex.factor_label("shoe_size", strict=True)


# -- ranking -------------------------------------------------------------------------------------

NAMES = ["a", "b", "c", "F=x", "F=y"]


def test_factors_rank_by_size_keep_their_sign_and_break_ties_by_feature_order() -> None:
    contribs = np.array([[0.1, -0.5, 0.5, 0.2, 0.3, 9.0]], dtype=np.float32)  # last: bias
    x = np.array([[1.0, 2.0, 3.0, 0.0, 1.0]], dtype=np.float32)
    (row,) = ex.top_factors(contribs, NAMES, 3, x=x)
    assert [(f.feature, f.contribution) for f in row] == [
        ("b", pytest.approx(-0.5)),
        ("c", pytest.approx(0.5)),
        ("F=y", pytest.approx(0.5)),  # F=x + F=y, named by the level the row holds
    ]


def test_a_field_whose_level_is_unknown_is_named_by_the_bare_field() -> None:
    contribs = np.array([[0.0, 0.0, 0.0, -0.2, -0.3]], dtype=np.float32)
    unseen = np.zeros((1, 5), dtype=np.float32)  # no level held: an unseen category
    (row,) = ex.top_factors(contribs, NAMES, 1, x=unseen)
    assert [(f.feature, f.label) for f in row] == [("F", "F")]
    (row,) = ex.top_factors(contribs, NAMES, 1)  # without the matrix: the field, too
    assert row[0].feature == "F" and row[0].contribution == pytest.approx(-0.5)


def test_factors_that_moved_nothing_are_left_out() -> None:
    contribs = np.array([[0.0, 0.3, 0.0, 0.0, 0.0]], dtype=np.float32)
    assert [f.feature for f in ex.top_factors(contribs, NAMES, 3)[0]] == ["b"]


def test_vectorised_ranking_matches_a_row_by_row_reference() -> None:
    rng = np.random.default_rng(5)
    n, names = 400, ["n0", "n1", "n2", "n3", "G=p", "G=q", "G=r", "H=u", "H=v"]
    # Coarse values so that ties are frequent.
    contribs = (rng.integers(-4, 5, size=(n, len(names) + 1)) / 4).astype(np.float32)
    x = np.zeros((n, len(names)), dtype=np.float32)
    x[np.arange(n), 4 + rng.integers(0, 3, n)] = 1.0
    x[np.arange(n), 7 + rng.integers(0, 2, n)] = 1.0
    x[::7, 4:7] = 0.0  # some rows hold no level of G
    table = ex.rank_factors(contribs, names, 4, x=x)
    for i in range(n):
        c = contribs[i]
        groups = [("n0", c[0]), ("n1", c[1]), ("n2", c[2]), ("n3", c[3])]
        g_level = [names[j] for j in range(4, 7) if x[i, j] == 1.0]
        h_level = [names[j] for j in range(7, 9) if x[i, j] == 1.0]
        groups.append((g_level[0] if g_level else "G", c[4] + c[5] + c[6]))
        groups.append((h_level[0] if h_level else "H", c[7] + c[8]))
        expected = sorted(range(len(groups)), key=lambda g: -abs(groups[g][1]))[:4]  # stable
        got = [table.names[j] for j in table.features[i]]
        assert got == [groups[g][0] for g in expected], i
        assert np.allclose(table.contributions[i], [groups[g][1] for g in expected], atol=1e-6)
        # One row alone takes the plain-Python path (what a live request uses): same answer.
        alone = ex.rank_factors(contribs[i : i + 1], names, 4, x=x[i : i + 1])
        assert [alone.names[j] for j in alone.features[0]] == got, i
        assert np.array_equal(alone.contributions[0], table.contributions[i]), i


def test_contributions_of_a_wrong_width_are_refused() -> None:
    with pytest.raises(ValueError, match="5 feature names"):
        ex.rank_factors(np.zeros((2, 3), dtype=np.float32), NAMES, 2)


# -- on a real bundle --------------------------------------------------------------------------


def test_contributions_plus_base_value_sum_to_the_models_margin_linear_part_and_trees(trained_bundle) -> None:
    bundle, test = trained_bundle
    assert bundle.linear is not None  # the default recipe boosts from a linear margin
    x = bundle.spec.matrix(test)
    contribs = bundle.contributions(x)
    assert contribs.shape == (len(test), len(bundle.spec.feature_names) + 1)
    margin = bundle.margin(x)
    np.testing.assert_allclose(contribs.sum(axis=1), margin, rtol=0, atol=2e-5)
    # the margin is the model's: calibrating it gives the served probability
    np.testing.assert_allclose(bundle.calibration.apply(margin), bundle.predict_proba(test), rtol=0, atol=1e-6)
    # both parts contribute: the trees' values alone do not add up to the margin
    trees = ex.contributions(bundle.booster, x)
    assert np.abs(trees[:, :-1]).sum() > 0 and np.abs(contribs[:, :-1] - trees[:, :-1]).sum() > 0
    assert np.abs(trees.sum(axis=1) - margin).max() > 1e-2


def test_explaining_leaves_the_probabilities_unchanged(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records_of(bundle, test, 6)
    recs[2]["Age"] = None
    plain = bundle.score(recs)
    explained = bundle.score(recs, explain=3)
    np.testing.assert_array_equal(plain.probabilities, explained.probabilities)
    assert plain.factors is None and plain.margins is None
    np.testing.assert_array_equal(
        bundle.calibration.apply(explained.margins[explained.valid]),
        explained.probabilities[explained.valid],
    )


def test_factors_align_with_the_batch_and_rejected_rows_have_none(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records_of(bundle, test, 4)
    recs[1]["OverTime"] = "yes"
    result = bundle.score(recs, explain=2)
    assert result.valid.tolist() == [True, False, True, True]
    assert result.factors[1] is None and np.isnan(result.margins[1])
    for i in (0, 2, 3):
        factors = result.factors[i]
        assert 1 <= len(factors) <= 2
        assert abs(factors[0].contribution) >= abs(factors[-1].contribution)
        assert all(f.label == ex.factor_label(f.feature) for f in factors)
    # The factor of a field is named by the level the employee holds.
    for f in result.factors[0]:
        if "=" in f.feature:
            field, level = f.feature.split("=", 1)
            assert recs[0][field] == level


def test_all_factors_with_the_bias_add_up_to_the_margin(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records_of(bundle, test, 5)
    result = bundle.score(recs, explain=1000)  # every factor
    x = bundle.spec.matrix(test.iloc[:5])
    bias = bundle.contributions(x)[:, -1]
    sums = np.array([sum(f.contribution for f in row) for row in result.factors]) + bias
    np.testing.assert_allclose(sums, result.margins, rtol=1e-5, atol=1e-5)
    groups = len(bundle.spec.numeric) + len(bundle.spec.derived) + len(bundle.spec.categorical)
    assert max(len(row) for row in result.factors) <= groups


def test_a_batch_of_only_rejected_rows_explains_nothing(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records_of(bundle, test, 2)
    for r in recs:
        r["Age"] = None
    result = bundle.score(recs, explain=3)
    assert result.factors == [None, None] and np.isnan(result.margins).all()
