"""Alerts as a Dagster resource: one `send(Alert)` that reaches Slack, PagerDuty and a local record.

Every alert is appended as one JSON line to a file under the data directory and logged, whatever
else is configured: that record is the embedded default (no account needed) and the audit trail
when a channel fails. Slack (incoming webhook) and PagerDuty (Events API v2) are each on when
their setting is present. Delivery never raises: a monitor that found drift must not fail
because Slack is down; the failure is retried when the service says "later" (429, 5xx, network),
then written into the same JSON line and the log, so no alert is lost silently.

Secrets (the webhook URL, the routing key) are read from the environment at send time when the
resource does not set them (`ATTRITION_SLACK_WEBHOOK_URL`, `ATTRITION_PAGERDUTY_ROUTING_KEY`).
Why not `dg.EnvVar`: Dagster 1.13 has no optional EnvVar; an unset one fails the run (or the
sensor tick) at launch with "environment variable ... is not set", which would turn "no Slack
here" into "no alerts at all". Read at send time, they are never frozen into run config and
never shown in the UI. Neither value is ever logged or written to the record.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import dagster as dg
from pydantic import Field

from attrition_platform.settings import environment, paths

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # most to least severe
SLACK_ENV = "ATTRITION_SLACK_WEBHOOK_URL"
PAGERDUTY_ENV = "ATTRITION_PAGERDUTY_ROUTING_KEY"
DAGSTER_UI_ENV = "DAGSTER_UI_URL"
DEFAULT_DAGSTER_UI = "http://127.0.0.1:3000"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Limits the two services document: PagerDuty's summary and dedup key; Slack's header text,
# section text and number of fields in one section.
PD_SUMMARY_MAX = 1024
PD_DEDUP_KEY_MAX = 255
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10
# Answers that mean "try again later" (PagerDuty's retry table; Slack's rate limit and 5xx).
RETRYABLE = frozenset({429, 500, 502, 503, 504})
SLACK_EMOJI = {"critical": ":red_circle:", "error": ":large_orange_circle:",
               "warning": ":large_yellow_circle:", "info": ":large_blue_circle:"}
LOG_LEVEL = {"critical": logging.CRITICAL, "error": logging.ERROR,
             "warning": logging.WARNING, "info": logging.INFO}

logger = logging.getLogger(__name__)


def one_line(text: str, limit: int = PD_SUMMARY_MAX) -> str:
    """`text` as a single line of at most `limit` characters (whitespace runs collapsed, an
    ellipsis where it was cut): summaries go into notification titles and pager screens."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Alert:
    """One event worth telling a person about. No personal data in any field: numbers, feature
    names, model versions and links only (alerts leave the platform for Slack and PagerDuty)."""

    summary: str  # one line
    severity: Severity
    source: str  # what raised it: "drift_report", "recall_monitor", "run_failure"
    dedup_key: str  # same event -> same key (PagerDuty merges; the record shows repeats)
    links: dict[str, str] = field(default_factory=dict)  # text -> URL
    details: dict[str, Any] = field(default_factory=dict)  # PagerDuty custom_details
    kind: str | None = None  # PagerDuty `class` ("drift", "recall_drop"...); default: source

    def __post_init__(self) -> None:
        if not self.summary.strip() or "\n" in self.summary:
            raise ValueError("Alert.summary must be one non-empty line (see alerts.one_line)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert.severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")
        if not self.source.strip():
            raise ValueError("Alert.source must not be empty")
        if not self.dedup_key.strip() or len(self.dedup_key) > PD_DEDUP_KEY_MAX:
            raise ValueError(f"Alert.dedup_key must be 1 to {PD_DEDUP_KEY_MAX} characters")
        for text, url in self.links.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"Alert.links[{text!r}] must be an http(s) URL")


@dataclass(frozen=True)
class AlertOutcome:
    """Where an alert went: channels that accepted it, channels that failed and why (status or
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
class _Delivery:
    ok: bool
    attempts: int
    problem: str = ""


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook message: `text` is the notification fallback, `blocks` the message
    (header, the summary, details as fields, links as mrkdwn `<url|text>`: link buttons would
    need the Slack app to answer interaction requests, plain links need nothing)."""
    header = one_line(f"{alert.severity.upper()}: {alert.source}", SLACK_HEADER_MAX)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn_text(
            f"{SLACK_EMOJI[alert.severity]} {_slack_escape(alert.summary)}")}},
    ]
    if alert.details:
        items = list(alert.details.items())
        fields = [{"type": "mrkdwn", "text": _mrkdwn_text(f"*{_slack_escape(k)}*\n{_slack_escape(_plain(v))}")}
                  for k, v in items[:SLACK_FIELDS_MAX]]
        blocks.append({"type": "section", "fields": fields})
    context = [f"dedup key `{_slack_escape(alert.dedup_key)}`"]
    context += [f"<{_slack_escape(url)}|{_slack_escape(text)}>" for text, url in alert.links.items()]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": one_line(f"[{alert.severity.upper()}] {alert.source}: {alert.summary}", SLACK_TEXT_MAX),
            "blocks": blocks}


def pagerduty_trigger(alert: Alert, routing_key: str, *, timestamp: str, group: str,
                      client_url: str, service: str = "attrition-platform") -> dict[str, Any]:
    """PagerDuty Events API v2 trigger event (PD-CEF payload): `source` is the platform,
    `component` what raised the alert, `group` the environment (local/test/prod)."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": one_line(alert.summary, PD_SUMMARY_MAX),
            "source": service,
            "severity": alert.severity,
            "timestamp": timestamp,
            "component": alert.source,
            "group": group,
            "class": alert.kind or alert.source,
            "custom_details": dict(alert.details),
        },
        "links": [{"href": url, "text": text} for text, url in alert.links.items()],
        "client": "Attrition platform (Dagster)",
        "client_url": client_url,
    }


def pagerduty_resolve(dedup_key: str, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2 resolve event: closes the alert opened under `dedup_key`."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (`<!channel>` would ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn_text(text: str) -> str:
    return text if len(text) <= SLACK_TEXT_MAX else text[: SLACK_TEXT_MAX - 1] + "…"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _now_iso() -> str:
    """ISO 8601 with milliseconds and the UTC offset, e.g. 2026-11-30T11:40:00.123+00:00."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class _Reply:
    status: int
    text: str  # the first 200 characters
    retry_after: str | None = None


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> _Reply:
    """POST `body` as JSON. HTTP errors are answers here, not exceptions; network errors
    (refused, timeout, DNS) raise OSError."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "attrition-platform-alerts"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return _Reply(reply.status, reply.read(200).decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        with exc:
            return _Reply(exc.code, exc.read(200).decode(errors="replace"), exc.headers.get("Retry-After"))


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


class Alerts(dg.ConfigurableResource):
    """Where alerts go. Every alert is recorded (JSON lines) and logged; Slack and PagerDuty
    when configured (field, else environment variable at send time; "" turns a channel off)."""

    slack_webhook_url: str | None = Field(
        default=None, description=f"Slack incoming-webhook URL (default: ${SLACK_ENV}; unset or '' = off)."
    )
    pagerduty_routing_key: str | None = Field(
        default=None, description=f"PagerDuty Events API v2 integration key (default: ${PAGERDUTY_ENV}; unset or '' = off)."
    )
    pagerduty_url: str = Field(default=PAGERDUTY_EVENTS_URL, description="Events API v2 endpoint (EU: events.eu.pagerduty.com).")
    pagerduty_min_severity: Severity = Field(
        default="error", description="Least severe alert that pages; less severe ones go to Slack and the record only."
    )
    slack_min_severity: Severity = Field(default="info", description="Least severe alert posted to Slack.")
    jsonl_path: str | None = Field(
        default=None, description="The alert record (default: <ATTRITION_HOME>/alerts/alerts.jsonl)."
    )
    dagster_ui_url: str | None = Field(
        default=None, description=f"Dagster UI base URL for run links (default: ${DAGSTER_UI_ENV}, else {DEFAULT_DAGSTER_UI})."
    )
    service_name: str = Field(default="attrition-platform", description="PagerDuty payload `source`.")
    timeout_s: float = Field(default=5.0, gt=0, description="Per HTTP attempt.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per channel when the answer is 429, 5xx or a network error.")
    backoff_s: float = Field(default=1.0, ge=0, description="First retry delay, doubled per attempt (a Retry-After header wins, up to max_backoff_s).")
    max_backoff_s: float = Field(default=30.0, ge=0, description="Longest single wait between attempts.")

    # -- settings read at call time -------------------------------------------------------
    def _slack_url(self) -> str:
        return (self.slack_webhook_url if self.slack_webhook_url is not None else os.environ.get(SLACK_ENV, "")).strip()

    def _routing_key(self) -> str:
        value = self.pagerduty_routing_key
        return (value if value is not None else os.environ.get(PAGERDUTY_ENV, "")).strip()

    def record_path(self) -> Path:
        """The JSON-lines record: one line per alert (and per resolve)."""
        return Path(self.jsonl_path) if self.jsonl_path else paths().home / "alerts" / "alerts.jsonl"

    def ui_base(self) -> str:
        return (self.dagster_ui_url or os.environ.get(DAGSTER_UI_ENV) or DEFAULT_DAGSTER_UI).rstrip("/")

    def run_url(self, run_id: str) -> str:
        """The Dagster UI page of one run."""
        return f"{self.ui_base()}/runs/{run_id}"

    # -- sending ----------------------------------------------------------------------------
    def send(self, alert: Alert, log: logging.Logger | None = None) -> AlertOutcome:
        """Deliver `alert` to every configured channel, record it and log it; never raises.
        `log`: a Dagster context's `context.log`, so the alert shows in the run or tick log."""
        log = log or logger
        timestamp = _now_iso()
        delivered: list[str] = []
        failed: dict[str, str] = {}
        skipped: dict[str, str] = {}
        attempts: dict[str, int] = {}

        def route(channel: str, configured: bool, min_severity: str, body: Any) -> None:
            if not configured:
                skipped[channel] = "not configured"
                return
            if SEVERITIES.index(alert.severity) > SEVERITIES.index(min_severity):
                skipped[channel] = f"severity {alert.severity} below {min_severity}"
                return
            try:
                url, payload = body()
                result = self._deliver(url, payload, channel, log)
            except Exception as exc:  # a bug in a payload must not lose the alert
                result = _Delivery(False, 0, f"{type(exc).__name__} building the request")
            attempts[channel] = result.attempts
            if result.ok:
                delivered.append(channel)
            else:
                failed[channel] = result.problem

        slack_url, routing_key = self._slack_url(), self._routing_key()
        route("slack", bool(slack_url), self.slack_min_severity, lambda: (slack_url, slack_payload(alert)))
        route("pagerduty", bool(routing_key), self.pagerduty_min_severity, lambda: (
            self.pagerduty_url,
            pagerduty_trigger(alert, routing_key, timestamp=timestamp, group=_group(),
                              client_url=self.ui_base(), service=self.service_name),
        ))
        record = {
            "time": timestamp, "action": "trigger", "severity": alert.severity,
            "source": alert.source, "kind": alert.kind or alert.source, "summary": alert.summary,
            "dedup_key": alert.dedup_key, "links": alert.links, "details": alert.details,
            "delivered": delivered, "failed": failed, "skipped": skipped,
        }
        recorded = self._record(record, log)
        outcome = AlertOutcome(tuple(delivered), failed, skipped, attempts, recorded)
        where = ", ".join(delivered + ["record" if recorded else "log only"])
        log.log(LOG_LEVEL[alert.severity], f"alert [{alert.severity}] {alert.source}: {alert.summary} "
                f"(dedup {alert.dedup_key}; sent to {where})")
        for channel, problem in failed.items():
            log.warning(f"alert {alert.dedup_key} not delivered to {channel}: {problem}")
        return outcome

    def resolve(self, dedup_key: str, log: logging.Logger | None = None) -> AlertOutcome:
        """Close the PagerDuty alert opened under `dedup_key` (Slack has nothing to close);
        recorded like a trigger. Never raises."""
        log = log or logger
        routing_key = self._routing_key()
        delivered: list[str] = []
        failed: dict[str, str] = {}
        attempts: dict[str, int] = {}
        skipped = {"slack": "nothing to resolve"}
        if routing_key:
            result = self._deliver(self.pagerduty_url, pagerduty_resolve(dedup_key, routing_key), "pagerduty", log)
            attempts["pagerduty"] = result.attempts
            if result.ok:
                delivered.append("pagerduty")
            else:
                failed["pagerduty"] = result.problem
        else:
            skipped["pagerduty"] = "not configured"
        recorded = self._record({"time": _now_iso(), "action": "resolve", "dedup_key": dedup_key,
                                 "delivered": delivered, "failed": failed, "skipped": skipped}, log)
        log.info(f"alert {dedup_key} resolved ({', '.join(delivered) or 'record only'})")
        return AlertOutcome(tuple(delivered), failed, skipped, attempts, recorded)

    def _deliver(self, url: str, payload: dict[str, Any], channel: str, log: logging.Logger) -> _Delivery:
        """POST with bounded retries on 429, 5xx and network errors; other 4xx are final."""
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                reply = _post_json(url, payload, self.timeout_s)
            except OSError as exc:
                problem = _network_problem(exc)
            else:
                if 200 <= reply.status < 300:
                    return _Delivery(True, attempt)
                retry_after = _seconds(reply.retry_after)
                problem = f"HTTP {reply.status}" + (f" ({one_line(reply.text, 120)})" if reply.text.strip() else "")
                if reply.status not in RETRYABLE:
                    return _Delivery(False, attempt, problem)
            if attempt < self.max_attempts:
                delay = min(retry_after if retry_after is not None else self.backoff_s * 2 ** (attempt - 1),
                            self.max_backoff_s)
                log.info(f"alert to {channel}: {problem}; retry {attempt + 1}/{self.max_attempts} in {delay:.2g} s")
                time.sleep(delay)
        tries = f"{self.max_attempts} attempt{'s' if self.max_attempts > 1 else ''}"
        return _Delivery(False, self.max_attempts, f"{problem} after {tries}")

    def _record(self, record: dict[str, Any], log: logging.Logger) -> str | None:
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


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by Slack or PagerDuty)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def _group() -> str:
    """PagerDuty `group`: the environment, so a test or staging alert never looks like prod."""
    try:
        return environment()
    except ValueError:
        return "unknown"
