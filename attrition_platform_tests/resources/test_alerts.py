"""The alerts resource against real HTTP receivers on loopback: the exact Slack and PagerDuty
payloads, retries on the answers that mean "later", no retry on the ones that mean "never",
nothing raised and nothing lost (the JSON-lines record), and concurrent senders."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from attrition_platform.resources.alerts import Alert, Alerts
from attrition_platform_tests.loopback import json_server

PD_KEY = "e93facc04764012d7bfb002500d5d1a6"
DRIFT = Alert(
    summary="PSI 0.31 on MonthlyIncome above 0.2 <!channel> & co",
    severity="error",
    source="drift_report",
    dedup_key="drift-2026-11-30",
    links={"Dagster run": "http://dagster.example/runs/r1", "Drift report": "http://dagster.example/r.html"},
    details={"max_psi": 0.3127, "features": ["MonthlyIncome", "OverTime"], "rows": 5000},
    kind="drift",
)


@pytest.fixture(autouse=True)
def _no_channels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ATTRITION_SLACK_WEBHOOK_URL", "ATTRITION_PAGERDUTY_ROUTING_KEY", "DAGSTER_UI_URL"):
        monkeypatch.delenv(name, raising=False)


class Receiver:
    """Records every request; answers with `statuses` in order (the last one repeats)."""

    def __init__(self, *statuses: int, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses) or [200]
        self.delay_s = delay_s
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, body))
            status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
        time.sleep(self.delay_s)
        if path.startswith("/slack"):
            return status, "ok" if status == 200 else "rollup_error"
        if status == 202:
            return status, {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
        return status, {"status": "invalid event", "message": "Event object is invalid", "errors": ["bad"]}

    @property
    def bodies(self) -> list[Any]:
        return [body for _, _, body in self.requests]


@contextmanager
def receiving(receiver: Receiver) -> Iterator[str]:
    with json_server(receiver) as base:
        yield base


def alerts_to(base: str | None, tmp_path: Path, **kw: Any) -> Alerts:
    """Both channels at `base` (None: neither), fast retries, a record in tmp_path."""
    channels = {"slack_webhook_url": f"{base}/slack/T0/B0/secret-token", "pagerduty_routing_key": PD_KEY,
                "pagerduty_url": f"{base}/v2/enqueue"} if base else {}
    return Alerts(**(channels | {"jsonl_path": str(tmp_path / "alerts.jsonl"), "backoff_s": 0.01,
                                 "dagster_ui_url": "http://dagster.example/"} | kw))


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slack_receives_the_documented_incoming_webhook_message(tmp_path: Path) -> None:
    receiver = Receiver(200)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, pagerduty_routing_key="").send(DRIFT)
    assert outcome.delivered == ("slack",) and outcome.ok
    [(method, path, body)] = receiver.requests
    assert (method, path) == ("POST", "/slack/T0/B0/secret-token")
    assert body == {
        "text": "[ERROR] drift_report: PSI 0.31 on MonthlyIncome above 0.2 &lt;!channel&gt; &amp; co",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "ERROR: drift_report", "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                ":large_orange_circle: PSI 0.31 on MonthlyIncome above 0.2 &lt;!channel&gt; &amp; co"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*max_psi*\n0.3127"},
                {"type": "mrkdwn", "text": "*features*\nMonthlyIncome, OverTime"},
                {"type": "mrkdwn", "text": "*rows*\n5000"},
            ]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                "dedup key `drift-2026-11-30` · <http://dagster.example/runs/r1|Dagster run>"
                " · <http://dagster.example/r.html|Drift report>"}]},
        ],
    }


def test_pagerduty_receives_the_documented_events_v2_trigger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRITION_ENV", "prod")
    receiver = Receiver(202)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, slack_webhook_url="").send(DRIFT)
    assert outcome.delivered == ("pagerduty",) and outcome.attempts == {"pagerduty": 1}
    [(method, path, body)] = receiver.requests
    assert (method, path) == ("POST", "/v2/enqueue")
    timestamp = body["payload"].pop("timestamp")
    sent = dt.datetime.fromisoformat(timestamp)
    assert sent.utcoffset() == dt.timedelta(0) and abs(dt.datetime.now(dt.UTC) - sent) < dt.timedelta(minutes=1)
    assert body == {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "drift-2026-11-30",
        "payload": {
            "summary": "PSI 0.31 on MonthlyIncome above 0.2 <!channel> & co",
            "source": "attrition-platform",
            "severity": "error",
            "component": "drift_report",
            "group": "prod",
            "class": "drift",
            "custom_details": {"max_psi": 0.3127, "features": ["MonthlyIncome", "OverTime"], "rows": 5000},
        },
        "links": [
            {"href": "http://dagster.example/runs/r1", "text": "Dagster run"},
            {"href": "http://dagster.example/r.html", "text": "Drift report"},
        ],
        "client": "Attrition platform (Dagster)",
        "client_url": "http://dagster.example",
    }
    # the record carries the same time as the page
    assert records(tmp_path)[0]["time"] == timestamp


def test_pagerduty_summary_is_cut_to_its_documented_limit(tmp_path: Path) -> None:
    receiver = Receiver(202)
    long = Alert(summary="x" * 2000, severity="critical", source="recall_monitor", dedup_key="k")
    with receiving(receiver) as base:
        alerts_to(base, tmp_path, slack_webhook_url="").send(long)
    summary = receiver.bodies[0]["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…")


def test_resolve_closes_the_pagerduty_alert_by_its_dedup_key(tmp_path: Path) -> None:
    receiver = Receiver(202)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path).resolve("drift-2026-11-30")
    assert outcome.delivered == ("pagerduty",)
    assert receiver.bodies == [{"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": "drift-2026-11-30"}]
    [line] = records(tmp_path)
    assert (line["action"], line["dedup_key"], line["delivered"]) == ("resolve", "drift-2026-11-30", ["pagerduty"])


@pytest.mark.parametrize(
    ("severity", "min_severity", "channels"),
    [
        ("critical", "error", {"slack", "pagerduty"}),
        ("error", "error", {"slack", "pagerduty"}),
        ("warning", "error", {"slack"}),
        ("info", "error", {"slack"}),
        ("warning", "warning", {"slack", "pagerduty"}),
    ],
)
def test_severity_decides_who_is_paged(tmp_path: Path, severity: str, min_severity: str, channels: set[str]) -> None:
    receiver = Receiver(200)
    alert = Alert(summary="s", severity=severity, source="fairness_report", dedup_key="f")  # type: ignore[arg-type]
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, pagerduty_min_severity=min_severity).send(alert)
    assert set(outcome.delivered) == channels
    assert {path.split("/")[1] for _, path, _ in receiver.requests} == {
        {"slack": "slack", "pagerduty": "v2"}[c] for c in channels}
    if "pagerduty" not in channels:
        assert outcome.skipped["pagerduty"] == f"severity {severity} below {min_severity}"
        assert records(tmp_path)[0]["skipped"]["pagerduty"] == f"severity {severity} below {min_severity}"


def test_receiver_down_is_recorded_and_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with caplog.at_level(logging.INFO):
        outcome = alerts_to(base, tmp_path, max_attempts=2).send(DRIFT)
    assert outcome.delivered == () and not outcome.ok
    assert outcome.failed == {"slack": "connection refused after 2 attempts",
                              "pagerduty": "connection refused after 2 attempts"}
    [line] = records(tmp_path)
    assert (line["dedup_key"], line["summary"], line["failed"]) == (DRIFT.dedup_key, DRIFT.summary, outcome.failed)
    assert "not delivered to slack: connection refused" in caplog.text
    # the webhook URL and the routing key are secrets: in neither the record nor the log
    for text in ((tmp_path / "alerts.jsonl").read_text(), caplog.text):
        assert "secret-token" not in text and PD_KEY not in text


def test_server_error_then_accepted_is_delivered_on_retry(tmp_path: Path) -> None:
    receiver = Receiver(500, 202)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, slack_webhook_url="").send(DRIFT)
    assert outcome.delivered == ("pagerduty",) and outcome.attempts == {"pagerduty": 2}
    assert receiver.bodies[0] == receiver.bodies[1]  # the same event again, same dedup key
    assert records(tmp_path)[0]["delivered"] == ["pagerduty"]


def test_rate_limit_is_retried(tmp_path: Path) -> None:
    receiver = Receiver(429, 429, 202)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, slack_webhook_url="").send(DRIFT)
    assert outcome.delivered == ("pagerduty",) and outcome.attempts == {"pagerduty": 3}
    assert len(receiver.requests) == 3


def test_bad_request_is_not_retried(tmp_path: Path) -> None:
    receiver = Receiver(400)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, slack_webhook_url="").send(DRIFT)
    assert len(receiver.requests) == 1
    assert outcome.attempts == {"pagerduty": 1}
    assert outcome.failed["pagerduty"].startswith("HTTP 400 (") and "Event object is invalid" in outcome.failed["pagerduty"]
    assert records(tmp_path)[0]["failed"] == outcome.failed


def test_retries_are_bounded(tmp_path: Path) -> None:
    receiver = Receiver(503)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, pagerduty_routing_key="", max_attempts=4).send(DRIFT)
    assert len(receiver.requests) == 4
    assert outcome.failed == {"slack": 'HTTP 503 ("rollup_error") after 4 attempts'}


def test_a_receiver_slower_than_the_timeout_is_a_failure(tmp_path: Path) -> None:
    receiver = Receiver(200, delay_s=1.0)
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, pagerduty_routing_key="", timeout_s=0.2, max_attempts=1).send(DRIFT)
    assert outcome.failed == {"slack": "timed out after 1 attempt"}
    assert records(tmp_path)[0]["failed"] == outcome.failed


def test_embedded_default_writes_one_line_per_alert_under_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path / "home"))
    alerts = Alerts()  # nothing configured: the record and the log
    for i in range(3):
        outcome = alerts.send(Alert(summary=f"drift {i}", severity="warning", source="drift_report", dedup_key=f"d{i}"))
        assert outcome.recorded == str(tmp_path / "home" / "alerts" / "alerts.jsonl")
        assert outcome.skipped == {"slack": "not configured", "pagerduty": "not configured"}
    lines = (tmp_path / "home" / "alerts" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["dedup_key"] for line in lines] == ["d0", "d1", "d2"]
    first = json.loads(lines[0])
    assert {k: first[k] for k in ("action", "severity", "source", "summary", "links", "details", "delivered")} == {
        "action": "trigger", "severity": "warning", "source": "drift_report", "summary": "drift 0",
        "links": {}, "details": {}, "delivered": [],
    }


def test_two_threads_sending_fifty_each_leave_a_hundred_intact_lines(tmp_path: Path) -> None:
    alerts = alerts_to(None, tmp_path)
    padding = "x" * 3000  # lines larger than a pipe buffer's atomic size still stay whole

    def send_many(thread: int) -> None:
        for i in range(50):
            alerts.send(Alert(summary=f"{thread}-{i}", severity="info", source="test", dedup_key=f"{thread}-{i}",
                              details={"padding": padding}))

    threads = [threading.Thread(target=send_many, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = records(tmp_path)
    assert len(lines) == 100
    assert sorted(r["dedup_key"] for r in lines) == sorted(f"{t}-{i}" for t in range(2) for i in range(50))
    assert all(r["details"]["padding"] == padding for r in lines)


def test_channels_come_from_the_environment_at_send_time_and_empty_turns_them_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(202)
    with receiving(receiver) as base:
        alerts = Alerts(jsonl_path=str(tmp_path / "alerts.jsonl"), pagerduty_url=f"{base}/v2/enqueue")
        assert alerts.send(DRIFT).delivered == ()  # nothing set yet
        monkeypatch.setenv("ATTRITION_SLACK_WEBHOOK_URL", f"{base}/slack/env")
        monkeypatch.setenv("ATTRITION_PAGERDUTY_ROUTING_KEY", PD_KEY)
        assert alerts.send(DRIFT).delivered == ("slack", "pagerduty")  # same resource, read now
        off = Alerts(jsonl_path=str(tmp_path / "alerts.jsonl"), slack_webhook_url="", pagerduty_routing_key="")
        assert off.send(DRIFT).skipped == {"slack": "not configured", "pagerduty": "not configured"}
    assert [path for _, path, _ in receiver.requests] == ["/slack/env", "/v2/enqueue"]


def test_run_links_use_the_configured_dagster_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Alerts().run_url("abc") == "http://127.0.0.1:3000/runs/abc"
    monkeypatch.setenv("DAGSTER_UI_URL", "https://dagster.hr.example/")
    assert Alerts().run_url("abc") == "https://dagster.hr.example/runs/abc"
    assert Alerts(dagster_ui_url="http://ui:80").run_url("abc") == "http://ui:80/runs/abc"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"summary": "two\nlines"}, "Alert.summary"),
        ({"severity": "fatal"}, "Alert.severity"),
        ({"dedup_key": "k" * 256}, "Alert.dedup_key"),
        ({"links": {"run": "javascript:alert(1)"}}, "Alert.links['run']"),
    ],
)
def test_an_alert_that_cannot_be_delivered_is_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    base = {"summary": "s", "severity": "error", "source": "x", "dedup_key": "k"}
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Alert(**(base | fields))


def test_details_that_json_cannot_encode_arrive_as_text(tmp_path: Path) -> None:
    """A date (or any object) in details must not cost the page: it is sent as its text."""
    receiver = Receiver(202)
    alert = Alert(summary="recall dropped", severity="error", source="recall_monitor", dedup_key="r",
                  details={"month": dt.date(2026, 10, 1), "recall": 0.61})
    with receiving(receiver) as base:
        outcome = alerts_to(base, tmp_path, slack_webhook_url="").send(alert)
    assert outcome.delivered == ("pagerduty",)
    assert receiver.bodies[0]["payload"]["custom_details"] == {"month": "2026-10-01", "recall": 0.61}
    assert records(tmp_path)[0]["details"] == {"month": "2026-10-01", "recall": 0.61}
