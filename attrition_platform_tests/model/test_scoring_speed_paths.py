"""The fast paths of scoring give exactly what the general paths give.

Records (serving's one employee) are validated and encoded record by record; columns (batch
tables) whole columns at a time. Both must accept and reject the same rows with the same
errors and encode them to the same matrix, or serving and the nightly scores would disagree.
"""

from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.model import bundle as bundle_module
from attrition_platform.model.explanations import scoring_threads
from attrition_platform.model.feature_spec import FeatureSpec
from attrition_platform.model.scoring_input import _columns_of, _validate_columns, validate


def records_of(bundle, rows, n: int) -> list[dict]:
    return [
        {
            c: (v.item() if hasattr(v, "item") else v)
            for c, v in rows[bundle.spec.inputs].iloc[i].items()
        }
        for i in range(n)
    ]


def messy_records(bundle, test) -> list:
    """Every kind of problem the validation knows, plus clean and unseen rows."""
    recs = records_of(bundle, test, 14)
    recs[1]["Age"] = None
    recs[2]["Age"] = 35.5
    recs[3]["MonthlyIncome"] = "high"
    recs[4]["StockOptionLevel"] = True
    recs[5]["OverTime"] = "yes"
    recs[6]["OverTime"] = 1
    recs[7]["JobRole"] = "Data Scientist"  # unseen, allowed by the contract
    recs[8]["Department"] = "Marketing"  # outside a closed domain
    del recs[9]["DistanceFromHome"]
    recs[10]["Age"] = float("inf")
    recs[10]["OverTime"] = None  # two problems in one row
    recs[11]["Age"] = 61.0
    recs[12] = "not a record"
    recs[13]["Age"] = float(recs[13]["Age"])  # a whole float is an integer
    return recs


@pytest.mark.parametrize("unseen", ["error", "allow"])
def test_records_and_columns_are_validated_alike(trained_bundle, unseen: str) -> None:
    bundle, test = trained_bundle
    recs = messy_records(bundle, test)
    fast = validate(recs, bundle.spec, unseen)
    general = _validate_columns(*_columns_of(recs, bundle.spec.inputs), bundle.spec, unseen)
    assert fast.errors == general.errors and len(fast.errors) >= 11
    assert fast.valid.tolist() == general.valid.tolist()
    assert fast.unseen_counts == general.unseen_counts == {"JobRole": 1}
    assert set(fast.columns) == set(general.columns)
    for name in general.columns:
        assert fast.columns[name].dtype == general.columns[name].dtype, name
        np.testing.assert_array_equal(fast.columns[name], general.columns[name])


@pytest.mark.parametrize("unseen", ["error", "allow"])
def test_records_and_columns_encode_to_identical_matrices(trained_bundle, unseen: str) -> None:
    bundle, test = trained_bundle
    recs = records_of(bundle, test, 200)
    recs[3]["JobRole"] = "Data Scientist"
    checked = validate(recs, bundle.spec, unseen)
    assert checked.rows is not None
    from_records = checked.model_matrix(bundle.spec)
    from_columns = bundle.spec.matrix(checked.columns)
    assert from_records.dtype == from_columns.dtype == np.float32
    np.testing.assert_array_equal(from_records, from_columns)
    frame = test.iloc[:200].copy()
    frame.loc[frame.index[3], "JobRole"] = "Data Scientist"
    frame_checked = validate(frame, bundle.spec, unseen)
    np.testing.assert_array_equal(from_records, bundle.spec.matrix(frame_checked.columns))
    # One record alone takes the plain-float path (a live request): the same rows, to the bit.
    alone = np.vstack([bundle.spec.records_matrix([row]) for row in checked.rows])
    np.testing.assert_array_equal(alone, from_columns)


def test_a_nullable_input_left_empty_encodes_alike_in_both_paths(trained_bundle) -> None:
    bundle, test = trained_bundle
    spec = FeatureSpec(
        **{**bundle.spec.to_dict(), "nullable": ["DistanceFromHome", "MaritalStatus"]}
    )
    recs = records_of(bundle, test, 3)
    recs[0]["DistanceFromHome"] = None
    recs[1]["MaritalStatus"] = None
    checked = validate(recs, spec)
    assert not checked.errors
    np.testing.assert_array_equal(checked.model_matrix(spec), spec.matrix(checked.columns))
    assert np.isnan(checked.model_matrix(spec)[0, spec.feature_names.index("DistanceFromHome")])


def test_one_record_scores_and_explains_exactly_like_its_row_in_a_frame(trained_bundle) -> None:
    bundle, test = trained_bundle
    (rec,) = records_of(bundle, test, 1)
    one = bundle.score([rec], explain=3)
    frame = bundle.score(test.iloc[:1], explain=3)
    np.testing.assert_array_equal(one.probabilities, frame.probabilities)
    assert one.factors == frame.factors


def test_explaining_in_chunks_gives_the_same_factors(trained_bundle, monkeypatch) -> None:
    bundle, test = trained_bundle
    whole = bundle.score(test, explain=3).factor_table
    monkeypatch.setattr(bundle_module, "EXPLAIN_CHUNK", 7)
    chunked = bundle.score(test, explain=3).factor_table
    np.testing.assert_array_equal(whole.features, chunked.features)
    np.testing.assert_array_equal(whole.contributions, chunked.contributions)


def test_threads_come_from_the_argument_then_omp_num_threads_then_one(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert scoring_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert scoring_threads() == 3
    assert scoring_threads(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert scoring_threads() == 1
    assert scoring_threads(0) == 1  # never "all cores"


def test_direct_booster_calls_give_the_public_api_results_to_the_bit(trained_bundle) -> None:
    import xgboost as xgb

    from attrition_platform.model import booster_calls

    bundle, test = trained_bundle
    assert booster_calls.AVAILABLE  # the pinned xgboost: the fast calls are really in use
    for x in (bundle.spec.matrix(test), bundle.spec.matrix(test.iloc[:1])):
        np.testing.assert_array_equal(
            booster_calls.margin(bundle.booster, x),
            bundle.booster.inplace_predict(x, predict_type="margin"),
        )
        public = bundle.booster.predict(xgb.DMatrix(x), pred_contribs=True, validate_features=False)
        fast = booster_calls.contributions(bundle.booster, x, 1)
        assert fast.shape == public.shape == (len(x), x.shape[1] + 1)
        np.testing.assert_array_equal(fast, public)


def test_direct_margins_are_right_from_several_threads_at_once(trained_bundle) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from attrition_platform.model import booster_calls

    bundle, test = trained_bundle
    x = bundle.spec.matrix(test)
    expected = bundle.booster.inplace_predict(x, predict_type="margin")

    def one(i: int) -> bool:
        return bool(booster_calls.margin(bundle.booster, x[i : i + 1])[0] == expected[i])

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(one, list(range(len(x))) * 4))


def test_one_probabilitys_band_follows_the_same_rule_as_the_array_bands(trained_bundle) -> None:
    from attrition_platform.model.bundle import risk_band

    bundle, _ = trained_bundle
    t = bundle.threshold
    edges = [0.0, t / 2 - 1e-9, t / 2, t - 1e-9, t, 1.0]
    probabilities = np.concatenate([edges, np.random.default_rng(0).random(200)])
    assert [risk_band(p, t) for p in probabilities.tolist()] == bundle.band(probabilities).tolist()
    assert [risk_band(p, t) for p in edges] == ["low", "low", "medium", "medium", "high", "high"]
