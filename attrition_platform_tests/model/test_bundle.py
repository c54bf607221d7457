from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.model.bundle import BundleError, ModelBundle
from attrition_platform.model.scoring_input import ScoringInputError


def test_directory_round_trip_gives_identical_probabilities(trained_bundle, tmp_path: Path) -> None:
    bundle, test = trained_bundle
    bundle.save(tmp_path / "b")
    loaded = ModelBundle.load(tmp_path / "b")
    assert np.array_equal(bundle.predict_proba(test), loaded.predict_proba(test))
    assert loaded.threshold == bundle.threshold
    assert loaded.spec.feature_names == bundle.spec.feature_names
    assert set(loaded.metadata["risk_bands"]) == {"low", "medium", "high"}


def test_booster_is_stored_natively_not_pickled(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    assert sorted(p.name for p in out.iterdir()) == ["booster.ubj", "feature_spec.json", "metadata.json"]
    assert not list(out.glob("*.pkl"))
    json.loads((out / "metadata.json").read_text())


def test_scoring_a_loaded_bundle_needs_neither_dagster_nor_pandas_nor_mlflow(
    trained_bundle, tmp_path: Path
) -> None:
    bundle, test = trained_bundle
    bundle.save(tmp_path / "b")
    row = {c: [test[c].iloc[0].item() if hasattr(test[c].iloc[0], "item") else test[c].iloc[0]]
           for c in bundle.spec.inputs}
    expected = float(bundle.predict_proba(test.iloc[:1])[0])
    code = f"""
import sys, json
for banned in ("dagster", "pandas", "mlflow", "sklearn"):
    sys.modules[banned] = None  # any import of these now fails
from attrition_platform.model.bundle import ModelBundle
b = ModelBundle.load({str(tmp_path / 'b')!r})
record = {{c: v[0] for c, v in json.loads({json.dumps(row)!r}).items()}}
result = b.score([record, dict(record, Age=None)])
print(json.dumps([float(b.predict_proba(json.loads({json.dumps(row)!r}))[0]),
                  float(result.probabilities[0]), [str(e) for e in result.errors]]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from_columns, from_records, errors = json.loads(out.stdout.strip())
    assert from_columns == pytest.approx(expected, abs=1e-6)
    assert from_records == from_columns
    assert errors == ["row 1: 'Age' is missing"]


def test_missing_booster_file_is_named(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    (out / "booster.ubj").unlink()
    with pytest.raises(BundleError, match="booster.ubj"):
        ModelBundle.load(out)


def test_bundle_of_another_format_version_is_refused(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    meta = json.loads((out / "metadata.json").read_text())
    meta["format_version"] = 99
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="format 99"):
        ModelBundle.load(out)


def test_a_linear_bundle_is_format_2_and_round_trips_its_linear_margin(trained_bundle, tmp_path: Path) -> None:
    bundle, test = trained_bundle
    out = bundle.save(tmp_path / "b")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["format_version"] == 2
    assert set(meta["linear_margin"]["weights"]) == set(bundle.spec.feature_names)
    loaded = ModelBundle.load(out)
    assert "linear_margin" not in loaded.metadata  # held once, in `linear`
    np.testing.assert_array_equal(loaded.linear.weights, bundle.linear.weights)
    assert np.array_equal(loaded.predict_proba(test), bundle.predict_proba(test))


def test_a_linear_margin_that_does_not_match_the_spec_is_refused_naming_the_file(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    meta = json.loads((out / "metadata.json").read_text())
    del meta["linear_margin"]["weights"]["Age"]
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"metadata.json linear_margin does not match the feature spec \(missing \['Age'\]"):
        ModelBundle.load(out)


def test_a_bundle_written_before_the_linear_margin_and_the_analyst_flags_still_loads_and_scores(tmp_path: Path) -> None:
    """A champion published by the previous release (format 1, recipe 1: trees only, without
    the flag features) keeps serving after an upgrade, scored exactly as before."""
    import xgboost as xgb

    from attrition_platform.model.bundle import Calibration
    from attrition_platform.model.feature_spec import FeatureSpec
    from attrition_platform_tests.model.conftest import learnable

    rows, y = learnable(600, 21)
    v1_derived = ["tenure_ratio", "role_tenure_ratio", "promotion_staleness", "manager_tenure_ratio",
                  "companies_per_working_year", "satisfaction_mean", "income_vs_level"]
    fitted = FeatureSpec.fit(rows)
    spec = FeatureSpec(fitted.vocabularies, fitted.income_level_medians, recipe_version=1, derived=v1_derived)
    x = spec.matrix(rows)
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 20)
    ModelBundle(booster, spec, Calibration(), 0.5).save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "metadata.json").read_text())
    assert meta["format_version"] == 1 and "linear_margin" not in meta
    loaded = ModelBundle.load(tmp_path / "old")
    assert loaded.linear is None and loaded.spec.recipe_version == 1
    assert "entry_level" not in loaded.spec.feature_names
    expected = booster.inplace_predict(x, predict_type="margin")
    np.testing.assert_allclose(loaded.predict_proba(rows), 1 / (1 + np.exp(-expected)), rtol=0, atol=1e-6)


def test_a_spec_naming_a_derived_feature_this_code_cannot_compute_is_refused(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    spec = json.loads((out / "feature_spec.json").read_text())
    spec["derived"].append("tenure_squared")
    (out / "feature_spec.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match="feature_spec.json: .*cannot compute: tenure_squared"):
        ModelBundle.load(out)


def test_mlflow_round_trip_through_the_registry_alias(trained_bundle, tmp_path: Path) -> None:
    from attrition_platform.resources.mlflow_registry import MlflowRegistry

    bundle, test = trained_bundle
    reg = MlflowRegistry(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        model_name="roundtrip",
    )
    with reg.start_run("t") as run:
        source = bundle.log_to_mlflow()
        version = reg.register(source, run.info.run_id, "challenger", {"k": "v"})
    loaded = ModelBundle.from_mlflow(reg.model_uri("challenger"), reg.tracking_uri)
    assert version == "1"
    assert str(reg.client().get_model_version_by_alias("roundtrip", "challenger").version) == "1"
    assert np.array_equal(bundle.predict_proba(test), loaded.predict_proba(test))


# -- strict scoring input (issue 5, point 10) ------------------------------------------------


def records(bundle: ModelBundle, rows, n: int = 3) -> list[dict]:
    """Plain JSON-like records (Python scalars), as serving receives them."""
    return [
        {c: (v.item() if hasattr(v, "item") else v) for c, v in rows[bundle.spec.inputs].iloc[i].items()}
        for i in range(n)
    ]


def problems(result) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.problem) for e in result.errors]


def test_missing_age_is_rejected_instead_of_scored_like_an_age_over_60(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test)
    recs[1]["Age"] = None
    result = bundle.score(recs)
    assert problems(result) == [(1, "Age", "is missing")]
    assert np.isnan(result.probabilities[1]) and np.isfinite(result.probabilities[[0, 2]]).all()
    frame = test.head(3).copy()
    frame["Age"] = frame["Age"].astype(float)
    frame.loc[1, "Age"] = np.nan
    assert problems(bundle.score(frame)) == [(1, "Age", "is missing")]
    with pytest.raises(ScoringInputError, match="'Age' is missing"):
        bundle.predict_proba(frame)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("yes", "outside the domain (one of Yes, No)"),
        (None, "is missing"),
        (True, "expected text"),
        (1, "expected text"),
    ],
)
def test_overtime_must_be_exactly_yes_or_no(trained_bundle, value, problem) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 1)
    recs[0]["OverTime"] = value
    result = bundle.score(recs)
    assert problems(result) == [(0, "OverTime", problem)]
    assert np.isnan(result.probabilities[0])


def test_unseen_job_role_is_rejected_and_counted_under_the_default_policy(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 2)
    recs[0]["JobRole"] = "Data Scientist"  # the contract lets job roles grow; training never saw it
    result = bundle.score(recs)
    assert result.unseen_policy == "error" and result.unseen_counts == {"JobRole": 1}
    assert [(e.row, e.column) for e in result.errors] == [(0, "JobRole")]
    assert "not trained on" in result.errors[0].problem
    assert np.isnan(result.probabilities[0]) and np.isfinite(result.probabilities[1])


def test_unseen_job_role_is_scored_as_all_zeros_and_counted_when_allowed(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 2)
    recs[0]["JobRole"] = "Data Scientist"
    result = bundle.score(recs, unseen="allow")
    assert result.ok and result.unseen_policy == "allow" and result.unseen_counts == {"JobRole": 1}
    x = bundle.spec.matrix({c: [recs[0][c]] for c in bundle.spec.inputs})
    roles = [j for j, n in enumerate(bundle.spec.feature_names) if n.startswith("JobRole=")]
    assert not x[0, roles].any()
    expected = bundle.calibration.apply(bundle.margin(x))
    assert result.probabilities[0] == pytest.approx(float(expected[0]), abs=1e-12)


def test_unknown_value_of_a_closed_category_is_an_error_even_when_unseen_is_allowed(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 1)
    recs[0]["Department"] = "Marketing"  # not a department of the contract (only JobRole may grow)
    result = bundle.score(recs, unseen="allow")
    assert [(e.column, e.problem.startswith("outside the domain")) for e in result.errors] == [
        ("Department", True)
    ]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("Age", 17, "outside the domain (integer 18–60)"),
        ("Age", 61, "outside the domain (integer 18–60)"),
        ("JobLevel", 0, "outside the domain (integer 1–5)"),
        ("Age", 35.5, "expected an integer"),
        ("Age", float("inf"), "expected an integer"),
        ("Age", "35", "expected an integer"),
        ("MonthlyIncome", "high", "expected an integer"),
        ("StockOptionLevel", True, "expected an integer"),
    ],
)
def test_numeric_inputs_must_be_whole_numbers_inside_the_contract_domain(
    trained_bundle, column, value, problem
) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 1)
    recs[0][column] = value
    result = bundle.score(recs)
    assert problems(result) == [(0, column, problem)]


def test_whole_floats_are_accepted_as_integers(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 1)
    as_float = [dict(recs[0], Age=float(recs[0]["Age"]))]
    assert bundle.score(as_float).probabilities[0] == bundle.score(recs).probabilities[0]


def test_a_missing_column_raises_and_a_missing_field_rejects_its_row(trained_bundle) -> None:
    bundle, test = trained_bundle
    with pytest.raises(ScoringInputError, match="missing input column"):
        bundle.score(test.drop(columns="OverTime"))
    recs = records(bundle, test, 2)
    del recs[1]["Age"]
    assert problems(bundle.score(recs)) == [(1, "Age", "is missing")]


def test_valid_rows_of_a_mixed_batch_score_as_they_would_alone(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 4)
    recs[2]["OverTime"] = "yes"
    result = bundle.score(recs)
    assert result.valid.tolist() == [True, True, False, True]
    alone = bundle.predict_proba([recs[i] for i in (0, 1, 3)])
    assert np.array_equal(result.probabilities[[0, 1, 3]], alone)
    assert np.array_equal(alone, bundle.predict_proba(test.iloc[[0, 1, 3]]))


def test_error_messages_never_contain_the_values(trained_bundle) -> None:
    bundle, test = trained_bundle
    recs = records(bundle, test, 4)
    recs[0]["Age"] = 987654
    recs[1]["MonthlyIncome"] = "salary-4711"
    recs[2]["OverTime"] = "maybe-4711"
    recs[3]["JobRole"] = "Chief Secret Officer 4711"
    recs[3]["DistanceFromHome"] = 12.4711
    result = bundle.score(recs)
    assert len(result.errors) == 5
    with pytest.raises(ScoringInputError) as raised:
        result.require_all()
    texts = [str(e) for e in result.errors] + [str(raised.value)]
    texts += [m for ms in result.errors_by_row().values() for m in ms]
    for text in texts:
        assert "4711" not in text and "987654" not in text, text


def test_nan_reaches_the_booster_only_for_inputs_the_spec_declares_nullable(trained_bundle) -> None:
    bundle, test = trained_bundle
    assert bundle.spec.nullable == []
    recs = records(bundle, test, 1)
    recs[0]["DistanceFromHome"] = None
    assert not bundle.score(recs).ok
    lenient = ModelBundle(
        booster=bundle.booster,
        spec=type(bundle.spec)(**{**bundle.spec.to_dict(), "nullable": ["DistanceFromHome"]}),
        calibration=bundle.calibration,
        threshold=bundle.threshold,
    )
    assert lenient.score(recs).ok and np.isfinite(lenient.score(recs).probabilities[0])
