"""The service exports the latest drift verdict (`drift/latest.json`) as gauges, read on its poll
cycle, and a missing or malformed status never hurts it: last values kept, one log line."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from attrition_platform.contracts.drift_status import DRIFT_STATUS_KEY, DriftStatus, encode_status
from attrition_platform.contracts.published import LocalStore
from attrition_platform.monitoring.reports import save_report
from attrition_platform_tests.serving.harness import running, wait_until
from serving.drift_status import DriftStatusReader

DRIFTED = DriftStatus(
    checked_at="2026-11-20T05:00:12Z",
    drifted=True,
    drifted_share=0.25,
    drifted_features=("OverTime", "MonthlyIncome"),
    model_version="7",
    window_start="2026-11-14",
    window_end="2026-11-20",
    max_psi=0.41,
)
CALM = DriftStatus(
    checked_at="2026-11-21T05:00:09+00:00",
    drifted=False,
    drifted_share=0.0,
    drifted_features=(),
    model_version="7",
    window_start="2026-11-15",
    window_end="2026-11-21",
)
DRIFT_GAUGES = (
    "attrition_drift_detected", "attrition_drift_share", "attrition_drift_checked_timestamp_seconds",
)


def _gauges(base: str) -> dict[str, float]:
    """The drift gauges as Prometheus would scrape them from the running service."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in DRIFT_GAUGES
    }


def _publish_status(home: Path, data: bytes) -> None:
    """Where and how drift_report writes it: save_report under the lake's reports location."""
    save_report(str(home / "lake"), DRIFT_STATUS_KEY, data)


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_the_service_exports_the_status_and_keeps_it_through_a_malformed_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    _publish_status(home, encode_status(DRIFTED))
    caplog.set_level(logging.INFO, logger="attrition.serving")
    with running(home) as stack:  # no model needed: the status is read on the same poll
        assert _gauges(stack.base) == {
            "attrition_drift_detected": 1.0,
            "attrition_drift_share": 0.25,
            "attrition_drift_checked_timestamp_seconds": DRIFTED.checked_at_seconds,
        }

        _publish_status(home, b'{"checked_at": "2026-11-22T05:00:00Z", "drifted": tru')
        wait_until(lambda: (stack.service.drift.problem or "").startswith("malformed"), what="the bad status")
        for _ in range(3):  # more polls over the same bad file
            assert stack.service.drift.refresh() is False
        assert _gauges(stack.base)["attrition_drift_detected"] == 1.0  # the old values stay
        assert _gauges(stack.base)["attrition_drift_checked_timestamp_seconds"] == DRIFTED.checked_at_seconds
        assert len(_warnings(caplog, "malformed")) == 1  # one line, not one per poll
        assert httpx.get(f"{stack.base}/healthz", timeout=10).status_code == 200
        assert stack.thread.is_alive()

        _publish_status(home, encode_status(CALM))  # the poll goes on: the next good one counts
        wait_until(lambda: _gauges(stack.base)["attrition_drift_detected"] == 0.0, what="the new status")
        assert _gauges(stack.base) == {
            "attrition_drift_detected": 0.0,
            "attrition_drift_share": 0.0,
            "attrition_drift_checked_timestamp_seconds": CALM.checked_at_seconds,
        }
        assert stack.service.drift.problem is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "missing"),
        (b"<html>not json</html>", "malformed"),
        (b'{"checked_at": "2026-11-22T05:00:00Z"}', "malformed"),  # required fields absent
        (encode_status(DRIFTED).replace(b'"drifted": true', b'"drifted": "yes"'), "malformed"),
        (encode_status(DRIFTED).replace(b"0.25", b"1.5"), "drifted_share"),
        (encode_status(DRIFTED).replace(b"2026-11-20T05:00:12Z", b"2026-11-20T05:00:12"), "time zone"),
        (encode_status(DRIFTED).replace(b"2026-11-20T05:00:12Z", b"last tuesday"), "ISO 8601"),
    ],
    ids=["missing", "not-json", "fields-absent", "wrong-type", "share-above-one", "naive-time", "not-a-time"],
)
def test_a_missing_or_bad_status_keeps_the_last_values_and_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None, problem: str
) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes(DRIFT_STATUS_KEY, encode_status(DRIFTED))
    reader = DriftStatusReader(store, str(tmp_path / DRIFT_STATUS_KEY))
    assert reader.refresh() is True and reader.status == DRIFTED
    if content is None:
        (tmp_path / DRIFT_STATUS_KEY).unlink()
    else:
        store.write_bytes(DRIFT_STATUS_KEY, content)
    caplog.set_level(logging.INFO, logger="attrition.serving")
    assert [reader.refresh() for _ in range(3)] == [False, False, False]
    assert problem in (reader.problem or "")
    assert reader.status == DRIFTED  # the last good one
    lines = _warnings(caplog, "drift status")
    assert len(lines) == 1 and "keeping the last values" in lines[0]
    assert REGISTRY.get_sample_value("attrition_drift_detected") == 1.0
    assert REGISTRY.get_sample_value("attrition_drift_checked_timestamp_seconds") == DRIFTED.checked_at_seconds


def test_an_unusable_reports_location_does_not_stop_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ATTRITION_REPORTS_URI", "ftp://nowhere/reports")
    caplog.set_level(logging.INFO, logger="attrition.serving")
    reader = DriftStatusReader.for_lake(str(tmp_path / "lake"), None)
    assert reader.refresh() is False and reader.status is None
    assert "cannot be used" in (reader.problem or "")
    assert len(_warnings(caplog, "drift status")) == 1
