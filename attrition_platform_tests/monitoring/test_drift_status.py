"""`drift_report` writes its verdict as `drift/latest.json` beside its HTML report, in the format
serving reads for its `attrition_drift_*` gauges; a run without a verdict writes neither."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from attrition_platform.contracts.drift_status import DRIFT_STATUS_KEY, DriftStatus, decode_status, encode_status
from attrition_platform.contracts.object_store import s3_client_from_env
from attrition_platform.monitoring.reports import save_report
from attrition_platform_tests.monitoring.conftest import (
    WINDOW_END,
    Champion,
    log_traffic,
    records_of,
    report_metadata,
    run_drift,
    training_rows,
)
from attrition_platform_tests.s3_server import new_bucket, s3_env, s3_server  # noqa: F401
from serving.drift_status import DriftStatusReader

WINDOW_START = (WINDOW_END - dt.timedelta(days=6)).isoformat()


def _seconds_ago(iso: str) -> float:
    return dt.datetime.now(dt.UTC).timestamp() - dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_verdict_lands_beside_its_html_report_on_s3_and_serving_exports_it(
    champion: Champion, platform: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """Both halves against a real S3 API: the asset writes the status with the reports
    location's storage options, next to the HTML; serving's reader finds it by the same location
    rule and sets the gauges. (Locally the same save_report writes a file: serving's tests.)"""
    bucket = new_bucket(s3_env)
    monkeypatch.setenv("ATTRITION_REPORTS_URI", f"s3://{bucket}/reports")
    # Small on purpose (the status, not PSI precision, is under test): 300 rows with OverTime at
    # 80% against a 2,000-row reference still put OverTime far above 0.2.
    rows = training_rows(platform, champion.bundle).sample(n=300, random_state=5).reset_index(drop=True)
    rows["OverTime"] = np.where(np.random.default_rng(3).random(len(rows)) < 0.8, "Yes", "No")
    log_traffic(platform, champion.bundle, champion.version, records_of(rows, champion.bundle))
    result = run_drift(platform, min_current_rows=200, reference_max_rows=2000)
    assert result.success
    meta = report_metadata(result)
    body = s3_client_from_env(s3_env).get_object(Bucket=bucket, Key=f"reports/{DRIFT_STATUS_KEY}")["Body"].read()
    status = decode_status(body)
    assert meta["drift_detected"] is True and status.drifted is True
    assert "OverTime" in status.drifted_features
    assert list(status.drifted_features) == meta["drifted_features"]
    assert status.drifted_share == pytest.approx(len(meta["drifted_features"]) / len(meta["key_features"]))
    assert 0 < status.drifted_share <= 1
    assert status.max_psi == pytest.approx(meta["max_psi"])
    assert status.model_version == champion.version
    assert (status.window_start, status.window_end) == (WINDOW_START, WINDOW_END.isoformat())
    assert status.report == meta["report"] and status.report.startswith(f"s3://{bucket}/reports/drift/")
    assert 0 <= _seconds_ago(status.checked_at) < 300
    assert not (platform / "reports").exists()  # nothing fell back to a local folder

    reader = DriftStatusReader.for_lake(str(platform / "lake"), None)  # AWS_* from the environment
    assert reader.refresh() is True
    assert REGISTRY.get_sample_value("attrition_drift_detected") == 1.0
    assert REGISTRY.get_sample_value("attrition_drift_share") == pytest.approx(status.drifted_share)
    assert REGISTRY.get_sample_value("attrition_drift_checked_timestamp_seconds") == pytest.approx(
        status.checked_at_seconds
    )


def test_a_run_without_a_verdict_leaves_the_last_status_and_its_age_alone(
    champion: Champion, platform: Path
) -> None:
    """Too few live rows: no HTML and no new status, so the status keeps the time of the last
    verdict and the staleness alert can say that drift monitoring has gone blind."""
    earlier = DriftStatus(
        checked_at="2026-11-13T05:00:00Z", drifted=False, drifted_share=0.0, drifted_features=(),
        model_version=champion.version, window_start="2026-11-07", window_end="2026-11-13",
    )
    save_report(str(platform / "lake"), DRIFT_STATUS_KEY, encode_status(earlier))
    before = (platform / "reports" / DRIFT_STATUS_KEY).read_bytes()
    rows = training_rows(platform, champion.bundle).head(50)
    log_traffic(platform, champion.bundle, champion.version, records_of(rows, champion.bundle))
    result = run_drift(platform)
    assert result.success and report_metadata(result)["enough_data"] is False
    assert (platform / "reports" / DRIFT_STATUS_KEY).read_bytes() == before
    assert list((platform / "reports" / "drift").iterdir()) == [platform / "reports" / DRIFT_STATUS_KEY]
