"""`drift_report` and `drift_psi_within_limit` on a champion the real graph trained and published."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from attrition_platform.defs.training_assets import TRAINING_TABLE
from attrition_platform.model import training_data as td
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import PSI_ALERT
from attrition_platform_tests.monitoring.conftest import (
    Champion,
    check_of,
    log_traffic,
    records_of,
    report_metadata,
    run_drift,
    training_rows,
)

TRAFFIC = 800


def _sample(champion: Champion, home: Path, n: int = TRAFFIC, seed: int = 1) -> pd.DataFrame:
    rows = training_rows(home, champion.bundle)
    return rows.sample(n=n, replace=len(rows) < n, random_state=seed).reset_index(drop=True)


def test_traffic_drawn_from_the_champions_training_rows_shows_no_drift(champion: Champion, platform: Path) -> None:
    log_traffic(platform, champion.bundle, champion.version, records_of(_sample(champion, platform), champion.bundle))
    result = run_drift(platform)
    assert result.success
    meta = report_metadata(result)
    assert meta["enough_data"] is True and meta["drift_detected"] is False
    assert meta["max_psi"] < PSI_ALERT
    assert meta["drifted_features"] == []
    assert meta["model_version"] == champion.version
    assert meta["current_rows"] == TRAFFIC
    assert set(meta["psi"]) == set(meta["key_features"])
    assert meta["prediction_psi"] < PSI_ALERT
    assert Path(meta["report"]).is_file() and Path(meta["report"]).parent == platform / "reports" / "drift"
    assert "<html" in Path(meta["report"]).read_text()[:2000].lower()
    check = check_of(result)
    assert check.passed


def test_overtime_forced_to_eighty_percent_fails_the_check_naming_it(champion: Champion, platform: Path) -> None:
    rows = _sample(champion, platform)
    rng = np.random.default_rng(3)
    rows["OverTime"] = np.where(rng.random(len(rows)) < 0.8, "Yes", "No")
    log_traffic(platform, champion.bundle, champion.version, records_of(rows, champion.bundle))
    result = run_drift(platform)
    assert result.success  # drift is a finding, not a failed run
    meta = report_metadata(result)
    assert "OverTime" in meta["key_features"]  # a top input of this model
    assert meta["psi"]["OverTime"] > PSI_ALERT
    assert meta["drifted_features"][0] == "OverTime" and meta["drift_detected"] is True
    assert meta["max_psi"] == meta["psi"]["OverTime"]
    assert np.isfinite(meta["prediction_psi"]) and meta["prediction_psi"] > 0
    check = check_of(result)
    assert not check.passed
    assert check.severity.value == "ERROR"
    assert "OverTime" in check.description and f"{meta['psi']['OverTime']:.3f}" in check.description


def test_monthly_income_times_one_point_six_is_drift_on_monthly_income(champion: Champion, platform: Path) -> None:
    rows = _sample(champion, platform)
    rows["MonthlyIncome"] = (rows["MonthlyIncome"] * 1.6).round().astype(int)
    log_traffic(platform, champion.bundle, champion.version, records_of(rows, champion.bundle))
    result = run_drift(platform, key_features=["MonthlyIncome", "OverTime", "Age"])
    meta = report_metadata(result)
    assert meta["key_features_source"] == "config"
    assert meta["psi"]["MonthlyIncome"] > PSI_ALERT
    assert meta["psi"]["OverTime"] < PSI_ALERT and meta["psi"]["Age"] < PSI_ALERT
    assert meta["drifted_features"] == ["MonthlyIncome"]
    # Derived from income, so it moves too: reported even though not a key feature here.
    assert meta["psi_other_features"]["income_vs_level"] > PSI_ALERT
    check = check_of(result)
    assert not check.passed and "MonthlyIncome" in check.description and "OverTime" not in check.description


def test_the_reference_is_the_training_set_version_the_champion_was_trained_on(
    champion: Champion, platform: Path
) -> None:
    lake = DeltaLake(root=str(platform / "lake"))
    trained_on = int(champion.bundle.metadata["delta_versions"]["training_set"])
    old = training_rows(platform, champion.bundle)
    # A later training_set: half the rows, every one on overtime with doubled pay.
    everything = lake.read(TRAINING_TABLE, version=trained_on)
    rewritten = everything.iloc[: len(everything) // 2].copy()
    rewritten["OverTime"] = "Yes"
    rewritten["MonthlyIncome"] = rewritten["MonthlyIncome"] * 2
    assert lake.overwrite(TRAINING_TABLE, rewritten) > trained_on
    log_traffic(platform, champion.bundle, champion.version, records_of(_sample(champion, platform), champion.bundle))
    result = run_drift(platform)
    meta = report_metadata(result)
    assert meta["training_set_version"] == trained_on
    assert meta["reference_rows"] == len(old) != int(rewritten[td.SPLIT].isin(["train", "validation"]).sum())
    assert meta["reference_splits"] == ("train+validation" if champion.bundle.metadata.get("refit") else "train")
    assert meta["drift_detected"] is False and check_of(result).passed
    # Against the rewritten version, the same traffic would have been drift on OverTime.
    assert meta["psi"].get("OverTime", meta["psi_other_features"].get("OverTime")) < PSI_ALERT


def test_too_few_live_rows_is_no_verdict_and_the_check_does_not_fail(champion: Champion, platform: Path) -> None:
    empty = report_metadata(run_drift(platform))  # no prediction_log at all yet
    assert empty["enough_data"] is False and empty["current_rows"] == 0
    rows = _sample(champion, platform, n=60)
    rows["OverTime"] = "Yes"  # would be drift with enough rows
    log_traffic(platform, champion.bundle, champion.version, records_of(rows, champion.bundle))
    result = run_drift(platform)
    assert result.success
    meta = report_metadata(result)
    assert meta["enough_data"] is False and meta["drift_detected"] is False
    assert meta["current_rows"] == 60 and meta["drifted_features"] == []
    assert "report" not in meta and "60 valid live predictions" in meta["verdict"]
    check = check_of(result)
    assert check.passed and "no verdict" in check.description
    assert not (platform / "reports").exists()


def test_only_the_windows_live_rows_with_inputs_count(champion: Champion, platform: Path) -> None:
    records = records_of(_sample(champion, platform, n=100), champion.bundle)
    log_traffic(platform, champion.bundle, champion.version, records)  # the window: 100 rows
    log_traffic(platform, champion.bundle, champion.version, records, end=dt.date(2026, 11, 1))
    meta = report_metadata(run_drift(platform, window_days=7, min_current_rows=50))
    assert meta["current_rows"] == 100 and meta["window"] == "2026-11-14..2026-11-20"
    meta = report_metadata(run_drift(platform, window_days=30, min_current_rows=50))
    assert meta["current_rows"] == 200


def test_rows_answered_by_an_earlier_model_are_rescored_by_the_champion(champion: Champion, platform: Path) -> None:
    records = records_of(_sample(champion, platform, n=300), champion.bundle)
    # An earlier model that said 0.97 to everyone: its numbers must not stand for the champion's.
    log_traffic(platform, champion.bundle, "0", records, probability=np.full(len(records), 0.97))
    meta = report_metadata(run_drift(platform, min_current_rows=200))
    assert meta["current_rows_rescored"] == 300
    assert meta["prediction_psi"] < PSI_ALERT
    reference = champion.bundle.score(records, unseen="allow").probabilities
    assert meta["mean_probability_current"] == round(float(np.mean(reference)), 4)


def test_nothing_published_is_a_one_line_failure(tmp_path: Path) -> None:
    result = run_drift(tmp_path)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "nothing is published" in message and "\n" not in message.strip()
    assert not result.get_asset_check_evaluations()


def test_an_unknown_key_feature_or_a_bad_end_date_fails_naming_it(champion: Champion, platform: Path) -> None:
    result = run_drift(platform, key_features=["Salary"])
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "key_features: Salary" in failure.step_failure_data.error.message
    result = run_drift(platform, end="20-11-2026")
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "end: '20-11-2026' is not a date" in failure.step_failure_data.error.message
