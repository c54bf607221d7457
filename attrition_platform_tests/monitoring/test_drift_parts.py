"""The pure parts of drift monitoring: key features, the compared fields, the live window, the
report location (local and a real S3 API) and Evidently's telemetry switch."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.contracts.audit_logs import PredictionRecord, append_predictions
from attrition_platform.contracts.object_store import S3Store, s3_client_from_env
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.monitoring import drift
from attrition_platform.monitoring.live_window import read_live_window, window
from attrition_platform.monitoring.reports import ENV_VAR, reports_uri, save_report
from attrition_platform_tests.hris.factories import static_rows
from attrition_platform_tests.s3_server import new_bucket, s3_env, s3_server  # noqa: F401
from attrition_platform_tests.serving.harness import make_bundle


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return make_bundle(seed=5)


@pytest.fixture(scope="module")
def trees_only() -> ModelBundle:
    """A bundle of the earlier trees-only recipe: all its signal is in the trees' gain."""
    from attrition_platform.model.recipe import RecipeParams, train_xgboost
    from attrition_platform_tests.model.conftest import learnable

    train, y_train = learnable(1500, 5)
    val, y_val = learnable(500, 105)
    params = RecipeParams(linear_base=False, max_depths=(2,), balance_classes=True, max_rounds=60)
    return train_xgboost(train, y_train, val, y_val, params)


def test_key_features_follow_the_recorded_importance_linear_part_included(bundle: ModelBundle) -> None:
    """The learnable world's strongest drivers (overtime, job satisfaction) lead by
    mean |contribution|, which counts the linear part the trees' gain cannot see."""
    from attrition_platform_tests.model.conftest import learnable

    assert bundle.linear is not None
    rows, _ = learnable(2000, 77)
    recorded = dict(bundle.metadata, importance=bundle.importance(bundle.spec.matrix(rows)))
    with_importance = ModelBundle(bundle.booster, bundle.spec, bundle.calibration, bundle.threshold,
                                  recorded, linear=bundle.linear)
    keys = drift.key_features(with_importance, 5)
    assert "OverTime" in keys and not any("=" in k for k in keys)
    assert {"JobSatisfaction", "lowest_job_satisfaction", "satisfaction_mean"} & set(keys)
    assert list(recorded["importance"].values()) == sorted(recorded["importance"].values(), reverse=True)
    # a bundle trained before importance was recorded falls back to the trees' gain
    assert "importance" not in bundle.metadata
    assert drift.key_features(bundle, 4) == drift.key_features_by_gain(bundle.booster, bundle.spec, 4)


def test_key_features_add_up_the_gain_of_a_fields_one_hot_columns(trees_only: ModelBundle) -> None:
    bundle = trees_only
    gain = bundle.booster.get_score(importance_type="total_gain")
    overtime = sum(v for k, v in gain.items() if k.startswith("OverTime="))
    keys = drift.key_features_by_gain(bundle.booster, bundle.spec, 5)
    assert "OverTime" in keys and not any("=" in k for k in keys)
    ranked = drift.key_features_by_gain(bundle.booster, bundle.spec, 100)
    below = [k for k in ranked if k != "OverTime" and gain.get(k, 0.0) > overtime]
    assert ranked.index("OverTime") == len(below)  # placed by the field's summed gain
    with pytest.raises(drift.DriftInputError, match="key_features: Salary"):
        drift.check_key_features(["Salary"], bundle.spec)


def test_reference_splits_follow_the_refit_flag() -> None:
    assert drift.reference_splits({"refit": True}) == ("train", "validation")
    assert drift.reference_splits({"refit": False}) == ("train",)


def test_derived_fields_are_the_models_own_and_records_compare_like_columns(bundle: ModelBundle) -> None:
    rows = static_rows(200, seed=4)
    p = bundle.score(rows, unseen="allow").probabilities
    side = drift.drift_side(rows, bundle.spec, p)
    matrix = bundle.spec.matrix(rows)
    names = bundle.spec.feature_names
    for derived in bundle.spec.derived:  # exactly what the booster sees (float32 there)
        np.testing.assert_allclose(side.columns[derived], matrix[:, names.index(derived)], rtol=1e-6)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows[bundle.spec.inputs].to_dict("records")]
    from_records = drift.drift_side(records, bundle.spec, p)
    for name, values in side.columns.items():
        np.testing.assert_array_equal(from_records.columns[name], values)
    assert set(side.columns["OverTime"]) == {"Yes", "No"} and side.rows == 200 and side.rejected == 0


def test_rows_the_spec_refuses_are_counted_not_compared(bundle: ModelBundle) -> None:
    rows = static_rows(50, seed=4)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows[bundle.spec.inputs].to_dict("records")]
    records[3]["Age"] = -5
    del records[7]["OverTime"]
    p = np.full(50, 0.1)
    side = drift.drift_side(records, bundle.spec, p)
    assert side.rows == 48 and side.rejected == 2


def _record(day: dt.date, source: str, inputs: str | None) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=uuid.uuid4().hex, ts=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
        caller="hr", employee_id=1, model_version="3", source=source, inputs=inputs,
        probability=0.25, risk_band="high", top_factors=(),
    )


def test_the_live_window_reads_its_days_live_rows_only_and_counts_unreadable_inputs(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    start, end = window(dt.date(2026, 11, 20), 7)
    assert (start, end) == (dt.date(2026, 11, 14), dt.date(2026, 11, 20))
    assert read_live_window(lake, start, end).rows == 0  # no table yet: no traffic
    good = json.dumps({"Age": 30})
    append_predictions(lake, [
        _record(dt.date(2026, 11, 13), "live", good),  # the day before the window
        _record(dt.date(2026, 11, 14), "live", good),
        _record(dt.date(2026, 11, 20), "live", good),
        _record(dt.date(2026, 11, 21), "live", good),  # the day after
        _record(dt.date(2026, 11, 16), "cached", None),
        _record(dt.date(2026, 11, 17), "live", "not json"),
        _record(dt.date(2026, 11, 18), "live", "[1, 2]"),
    ])
    live = read_live_window(lake, start, end)
    assert live.rows == 2 and live.unreadable == 2
    assert live.records == [{"Age": 30}, {"Age": 30}] and live.model_version == ["3", "3"]
    np.testing.assert_array_equal(live.probability, [0.25, 0.25])


def test_reports_go_beside_the_lake_unless_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert reports_uri(str(tmp_path / "lake")) == str(tmp_path / "reports")
    assert reports_uri("s3://bucket/prod/lake") == "s3://bucket/prod/reports"
    assert reports_uri("s3://bucket/lake/") == "s3://bucket/reports"
    assert reports_uri("s3://bucket") == "s3://bucket/reports"
    saved = save_report(str(tmp_path / "lake"), "drift/x.html", b"<html></html>")
    assert Path(saved.location) == tmp_path / "reports" / "drift" / "x.html" and not saved.remote
    assert Path(saved.location).read_bytes() == b"<html></html>"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert Path(save_report(str(tmp_path / "lake"), "drift/y.html", b"y").location).parent == tmp_path / "elsewhere" / "drift"


def test_a_report_beside_an_s3_lake_is_one_object_in_the_same_bucket(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv(ENV_VAR, raising=False)
    bucket = new_bucket(s3_env)
    saved = save_report(f"s3://{bucket}/prod/lake", "drift/2026-11-20-abc.html", b"<html>r</html>")
    assert saved.remote and saved.location == f"s3://{bucket}/prod/reports/drift/2026-11-20-abc.html"
    store = S3Store(s3_client_from_env(s3_env), bucket, "prod/reports")
    assert store.read_bytes("drift/2026-11-20-abc.html") == b"<html>r</html>"


def test_evidently_runs_with_its_telemetry_switched_off() -> None:
    code = (
        "import numpy as np\n"
        "from attrition_platform.monitoring import drift\n"
        "from attrition_platform_tests.serving.harness import make_bundle\n"
        "from attrition_platform_tests.hris.factories import static_rows\n"
        "b = make_bundle(seed=5, rounds=10)\n"
        "rows = static_rows(300, seed=4)\n"
        "side = drift.drift_side(rows, b.spec, b.score(rows, unseen='allow').probabilities)\n"
        "result = drift.evidently_psi(side, side, b.spec, 0.2)\n"
        "import evidently.telemetry as t\n"
        "assert max(result.psi.values()) < 1e-9, result.psi\n"
        "print('enabled', t.event_logger.is_enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "ITERATIVE_DO_NOT_TRACK")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("enabled False")
