"""Alerts as a Dagster resource: one `send(Alert)` that reaches Slack, PagerDuty and a local record.

Every alert is appended as one JSON line to a file under the data directory and logged, whatever
else is configured: that record is the embedded default (no account needed) and the audit trail
when a channel fails. Slack (incoming webhook) and PagerDuty (Events API v2) are each on when
their setting is present. Delivery never raises: a monitor that found drift must not fail
because Slack is down; a failure is retried when the service says "later" (429, 5xx, network),
then written into the same JSON line and the log, so no alert is lost silently.

Secrets (the webhook URL, the routing key) are read from the environment at send time when the
resource does not set them (`ATTRITION_SLACK_WEBHOOK_URL`, `ATTRITION_PAGERDUTY_ROUTING_KEY`).
Why not `dg.EnvVar`: Dagster 1.13 has no optional EnvVar; an unset one fails the run (or the
sensor tick) at launch with "environment variable ... is not set", which would turn "no Slack
here" into "no alerts at all". Read at send time, they are never part of run config nor shown
in the UI. Neither value is ever logged or written to the record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from attrition_platform.resources.alert_payloads import (
    SEVERITIES,
    Alert,
    Severity,
    one_line,
    pagerduty_resolve,
    pagerduty_trigger,
    slack_payload,
)
from attrition_platform.settings import SettingsError, environment, paths

__all__ = ["Alert", "AlertOutcome", "Alerts", "Severity", "SEVERITIES", "one_line"]

SLACK_ENV = "ATTRITION_SLACK_WEBHOOK_URL"
PAGERDUTY_ENV = "ATTRITION_PAGERDUTY_ROUTING_KEY"
DAGSTER_UI_ENV = "DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI = "http://127.0.0.1:3000"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Answers that mean "try again later" (PagerDuty's retry table; Slack's rate limit and 5xx).
RETRYABLE = frozenset({429, 500, 502, 503, 504})
LOG_LEVEL = {"critical": logging.CRITICAL, "error": logging.ERROR,
             "warning": logging.WARNING, "info": logging.INFO}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertOutcome:
    """Where an alert went: channels that took it, channels that failed and why (status or
    network error, after how many attempts), channels not used and why, and the record's path
    (None when even the file could not be written; then the log is the only trace)."""

    delivered: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    recorded: str | None = None

    @property
    def ok(self) -> bool:
        """Every configured channel took it and the record was written."""
        return not self.failed and self.recorded is not None

    def to_dict(self) -> dict[str, Any]:
        """For asset or sensor metadata (`dg.MetadataValue.json`)."""
        return asdict(self) | {"delivered": list(self.delivered)}


@dataclass(frozen=True)
class _Reply:
    status: int
    text: str  # the first 200 characters
    retry_after: str | None = None


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> _Reply:
    """POST `body` as JSON. HTTP errors are answers here, not exceptions; network errors
    (refused, timeout, DNS) raise OSError."""
    request = urllib.request.Request(
        url, data=json.dumps(body, default=str).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "attrition-platform-alerts"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return _Reply(reply.status, reply.read(200).decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        with exc:
            text = exc.read(200).decode(errors="replace")
            return _Reply(exc.code, text, exc.headers.get("Retry-After"))


def _network_problem(exc: OSError) -> str:
    """A short name for a network failure, without the URL (a Slack webhook URL is a secret)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    return type(reason).__name__


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not what Slack or PagerDuty send)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def _now_iso() -> str:
    """ISO 8601 with milliseconds and the UTC offset, e.g. 2026-11-30T11:40:00.123+00:00."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _group() -> str:
    """PagerDuty `group`: the environment, so a test or staging alert never looks like prod."""
    try:
        return environment()
    except SettingsError:
        return "unknown"


class _Tally:
    """What happened to one alert on each channel, as the outcome and the record tell it."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.attempts: dict[str, int] = {}

    def record(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "failed": self.failed, "skipped": self.skipped}

    def outcome(self, recorded: str | None) -> AlertOutcome:
        return AlertOutcome(tuple(self.delivered), self.failed, self.skipped, self.attempts, recorded)


class Alerts(dg.ConfigurableResource):
    """Where alerts go. Every alert is recorded (JSON lines) and logged; Slack and PagerDuty
    when configured (the field, else the environment variable at send time; "" = off)."""

    slack_webhook_url: str | None = Field(
        default=None, description=f"Slack incoming-webhook URL (default: ${SLACK_ENV}; '' = off)."
    )
    pagerduty_routing_key: str | None = Field(
        default=None,
        description=f"PagerDuty Events API v2 integration key (default: ${PAGERDUTY_ENV}; '' = off).",
    )
    pagerduty_url: str = Field(
        default=PAGERDUTY_EVENTS_URL, description="Events API v2 endpoint (EU: events.eu.pagerduty.com)."
    )
    pagerduty_min_severity: Severity = Field(
        default="error", description="Least severe alert that pages; milder ones: Slack and the record."
    )
    slack_min_severity: Severity = Field(default="info", description="Least severe alert posted to Slack.")
    jsonl_path: str | None = Field(
        default=None, description="The alert record (default: <ATTRITION_HOME>/alerts/alerts.jsonl)."
    )
    dagster_ui_url: str | None = Field(
        default=None,
        description=f"Dagster UI base URL for run links (default: ${DAGSTER_UI_ENV}, else {DEFAULT_DAGSTER_UI}).",
    )
    service_name: str = Field(default="attrition-platform", description="PagerDuty payload `source`.")
    timeout_s: float = Field(default=5.0, gt=0, description="Per HTTP attempt.")
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per channel when the answer is 429, 5xx or a network error."
    )
    backoff_s: float = Field(
        default=1.0, ge=0, description="First retry delay, doubled per attempt (Retry-After wins)."
    )
    max_backoff_s: float = Field(default=30.0, ge=0, description="Longest single wait between attempts.")

    # -- settings read at call time ----------------------------------------------------------
    def _setting(self, value: str | None, env: str) -> str:
        return (value if value is not None else os.environ.get(env, "")).strip()

    def record_path(self) -> Path:
        """The JSON-lines record: one line per alert (and per resolve)."""
        return Path(self.jsonl_path) if self.jsonl_path else paths().home / "alerts" / "alerts.jsonl"

    def ui_base(self) -> str:
        return (self.dagster_ui_url or os.environ.get(DAGSTER_UI_ENV) or DEFAULT_DAGSTER_UI).rstrip("/")

    def run_url(self, run_id: str) -> str:
        """The Dagster UI page of one run."""
        return f"{self.ui_base()}/runs/{run_id}"

    # -- sending -----------------------------------------------------------------------------
    def send(self, alert: Alert, log: logging.Logger | None = None) -> AlertOutcome:
        """Deliver `alert` to every configured channel, record it and log it; never raises.
        `log`: a Dagster context's `context.log`, so the alert shows in the run or tick log."""
        log = log or logger
        timestamp = _now_iso()
        tally = _Tally()
        slack_url = self._setting(self.slack_webhook_url, SLACK_ENV)
        routing_key = self._setting(self.pagerduty_routing_key, PAGERDUTY_ENV)
        channels: list[tuple[str, str, str, Callable[[], dict[str, Any]]]] = [
            ("slack", slack_url, self.slack_min_severity, lambda: slack_payload(alert)),
            ("pagerduty", routing_key and self.pagerduty_url, self.pagerduty_min_severity,
             lambda: pagerduty_trigger(alert, routing_key, timestamp=timestamp, group=_group(),
                                       client_url=self.ui_base(), service=self.service_name)),
        ]
        for channel, url, min_severity, payload in channels:
            if not url:
                tally.skipped[channel] = "not configured"
            elif not alert.at_least(min_severity):
                tally.skipped[channel] = f"severity {alert.severity} below {min_severity}"
            else:
                self._deliver(channel, url, payload, tally, log)
        record = {
            "time": timestamp, "action": "trigger", "severity": alert.severity,
            "source": alert.source, "kind": alert.kind or alert.source, "summary": alert.summary,
            "dedup_key": alert.dedup_key, "links": alert.links, "details": alert.details,
        } | tally.record()
        recorded = self._append(record, log)
        where = ", ".join(tally.delivered + ["record" if recorded else "log only"])
        log.log(LOG_LEVEL[alert.severity],
                f"alert [{alert.severity}] {alert.source}: {alert.summary} "
                f"(dedup {alert.dedup_key}; to {where})")
        return tally.outcome(recorded)

    def resolve(self, dedup_key: str, log: logging.Logger | None = None) -> AlertOutcome:
        """Close the PagerDuty alert opened under `dedup_key` (Slack has nothing to close);
        recorded like a trigger. Never raises."""
        log = log or logger
        tally = _Tally()
        tally.skipped["slack"] = "nothing to resolve"
        routing_key = self._setting(self.pagerduty_routing_key, PAGERDUTY_ENV)
        if routing_key:
            body = pagerduty_resolve(dedup_key, routing_key)
            self._deliver("pagerduty", self.pagerduty_url, lambda: body, tally, log)
        else:
            tally.skipped["pagerduty"] = "not configured"
        record = {"time": _now_iso(), "action": "resolve", "dedup_key": dedup_key} | tally.record()
        recorded = self._append(record, log)
        log.info(f"alert {dedup_key} resolved ({', '.join(tally.delivered) or 'record only'})")
        return tally.outcome(recorded)

    def _deliver(self, channel: str, url: str, payload: Callable[[], dict[str, Any]],
                 tally: _Tally, log: logging.Logger) -> None:
        """POST with bounded retries on 429, 5xx and network errors; other 4xx are final.
        The result goes into `tally` and, when it failed, the log."""
        problem = ""
        attempt = 0
        try:
            body = payload()
            for attempt in range(1, self.max_attempts + 1):
                retry_after: float | None = None
                try:
                    reply = _post_json(url, body, self.timeout_s)
                except OSError as exc:
                    problem = _network_problem(exc)
                else:
                    if 200 <= reply.status < 300:
                        tally.delivered.append(channel)
                        tally.attempts[channel] = attempt
                        return
                    retry_after = _seconds(reply.retry_after)
                    said = f" ({one_line(reply.text, 120)})" if reply.text.strip() else ""
                    problem = f"HTTP {reply.status}{said}"
                    if reply.status not in RETRYABLE:
                        break
                if attempt < self.max_attempts:
                    backoff = self.backoff_s * 2 ** (attempt - 1)
                    delay = min(backoff if retry_after is None else retry_after, self.max_backoff_s)
                    log.info(f"alert to {channel}: {problem}; attempt {attempt + 1} in {delay:.2g} s")
                    time.sleep(delay)
            else:
                problem += f" after {attempt} attempt{'s' if attempt > 1 else ''}"
        except Exception as exc:  # a bug building a payload must not lose the alert
            problem = f"{type(exc).__name__} building the request"
        tally.failed[channel] = problem
        tally.attempts[channel] = attempt
        log.warning(f"alert not delivered to {channel}: {problem}")

    def _append(self, record: dict[str, Any], log: logging.Logger) -> str | None:
        """Append one JSON line with a single O_APPEND write, so concurrent senders (sensors,
        runs in other processes) never interleave inside a line."""
        path = self.record_path()
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                written = os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error(f"alert record {path} not written ({exc.strerror or type(exc).__name__})")
            return None
        if written != len(line):
            log.error(f"alert record {path}: short write ({written} of {len(line)} bytes)")
            return None
        return str(path)
