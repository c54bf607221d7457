"""What an alert is, and how it looks on the wire of the two services that receive it.

Pure functions (no HTTP, no Dagster) so the exact JSON can be read and tested apart from
delivery. The shapes follow each service's documentation: Slack's incoming webhooks (`text` as
the notification fallback, Block Kit `blocks` as the message) and PagerDuty's Events API v2
(PD-CEF `payload`, `links`, `client`). Limits below are the ones those documents state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # most to least severe
PD_SUMMARY_MAX = 1024
PD_DEDUP_KEY_MAX = 255
SLACK_HEADER_MAX = 150  # header block: plain_text
SLACK_TEXT_MAX = 3000  # section text
SLACK_FIELD_MAX = 2000  # one section field
SLACK_FIELDS_MAX = 10  # fields per section
SLACK_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
PD_CLIENT = "Attrition platform (Dagster)"


def one_line(text: str, limit: int = PD_SUMMARY_MAX) -> str:
    """`text` as a single line of at most `limit` characters (whitespace runs collapsed, an
    ellipsis where it was cut): summaries become notification titles and pager screens."""
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
            raise ValueError("Alert.summary must be one non-empty line (see one_line)")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"Alert.severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}"
            )
        if not self.source.strip():
            raise ValueError("Alert.source must not be empty")
        if not self.dedup_key.strip() or len(self.dedup_key) > PD_DEDUP_KEY_MAX:
            raise ValueError(f"Alert.dedup_key must be 1 to {PD_DEDUP_KEY_MAX} characters")
        for text, url in self.links.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"Alert.links[{text!r}] must be an http(s) URL")

    def at_least(self, severity: str) -> bool:
        """As severe as `severity` or more (critical > error > warning > info)."""
        return SEVERITIES.index(self.severity) <= SEVERITIES.index(severity)


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook message: `text` is the notification fallback, `blocks` the message
    (header, summary, details as fields, links as mrkdwn `<url|text>`: link buttons would need
    the Slack app to acknowledge interaction requests, plain links need nothing)."""
    label = f"{alert.severity.upper()}: {alert.source}"
    summary = f"{SLACK_EMOJI[alert.severity]} {_escape(alert.summary)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": one_line(label, SLACK_HEADER_MAX),
                                    "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(summary, SLACK_TEXT_MAX)}},
    ]
    if alert.details:
        fields = [
            {"type": "mrkdwn", "text": _cut(f"*{_escape(str(k))}*\n{_escape(_plain(v))}", SLACK_FIELD_MAX)}
            for k, v in list(alert.details.items())[:SLACK_FIELDS_MAX]
        ]
        blocks.append({"type": "section", "fields": fields})
    context = [f"dedup key `{_escape(alert.dedup_key)}`"]
    context += [f"<{_escape(url)}|{_escape(text)}>" for text, url in alert.links.items()]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    # The fallback is mrkdwn too: escaped, or a summary holding `<!channel>` would ping everyone.
    text = one_line(f"[{alert.severity.upper()}] {alert.source}: {_escape(alert.summary)}", SLACK_TEXT_MAX)
    return {"text": text, "blocks": blocks}


def pagerduty_trigger(
    alert: Alert, routing_key: str, *, timestamp: str, group: str, client_url: str, service: str
) -> dict[str, Any]:
    """PagerDuty Events API v2 trigger event: `source` is the platform (`service`), `component`
    what raised the alert, `group` the environment (local/test/prod), `class` the alert's kind."""
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
        "client": PD_CLIENT,
        "client_url": client_url,
    }


def pagerduty_resolve(dedup_key: str, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2 resolve event: closes the alert opened under `dedup_key`."""
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}


def _escape(text: str) -> str:
    """Slack reads &, < and > as markup (`<!channel>` would ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value)
