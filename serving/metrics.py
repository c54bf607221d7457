"""The service's Prometheus metrics, defined once per process.

The request metrics are in `http_metrics` (route template, method and
status as labels, so an employee id never becomes a label value); everything here is about the
model: what it answered, from where, how loading and auditing go, and the latest drift verdict.
Module-level because a process serves one app and prometheus-client refuses to register a name
twice. The alert rules in deploy/prometheus/attrition-rules.yaml use these names: rename together.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from attrition_platform.contracts.audit_logs import ACTION_LOG, PREDICTION_LOG

PREFIX = "attrition"

# Latency buckets from 0.5 ms: the service answers in about a millisecond; the SLO is 200 ms.
LATENCY_BUCKETS: list[str | float] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5,
]

PREDICTIONS = Counter(
    f"{PREFIX}_predictions_total",
    "Predictions answered, by risk band and source (live model or cached nightly score).",
    ["risk_band", "source"],
)
PREDICTION_ERRORS = Counter(
    f"{PREFIX}_prediction_errors_total",
    "Live scoring failures that were not the caller's fault (the input was valid).",
)
REJECTED_INPUTS = Counter(
    f"{PREFIX}_rejected_inputs_total",
    "Requests or batch rows refused for breaking the input contract, by reason.",
    ["reason"],
)
MODEL_INFO = Info(f"{PREFIX}_model", "The model version being served and when it was published.")
MODEL_LOADED = Gauge(f"{PREFIX}_model_loaded", "1 when a live model is loaded, else 0.")
RELOADS = Counter(
    f"{PREFIX}_model_reloads_total",
    "Attempts to load a newly published model, by outcome (loaded, refused).",
    ["outcome"],
)
FALLBACK_ACTIVE = Gauge(
    f"{PREFIX}_fallback_active",
    "1 while answers come from the nightly cached scores because live scoring is unavailable.",
)
FALLBACK_ROWS = Gauge(f"{PREFIX}_fallback_scores", "Employees in the loaded nightly fallback export.")
FEATURE_INDEX_ROWS = Gauge(
    f"{PREFIX}_feature_index_employees", "Employees in the in-memory index of the latest feature snapshot."
)
AUDIT_QUEUE_DEPTH = Gauge(f"{PREFIX}_audit_queue_depth", "Audit records waiting to be written to Delta.")
AUDIT_WRITTEN = Counter(f"{PREFIX}_audit_records_written_total", "Audit records appended to Delta.", ["table"])
AUDIT_DROPPED = Counter(
    f"{PREFIX}_audit_records_dropped_total",
    "Audit records lost because the queue was full or the lake refused them after retries.",
    ["table", "reason"],
)
AUDIT_WRITE_FAILURES = Counter(
    f"{PREFIX}_audit_write_failures_total", "Failed attempts to append a batch to a Delta log (retried)."
)
SCORING_SECONDS = Histogram(
    f"{PREFIX}_scoring_seconds",
    "Time in the scoring core (validated record to probability and factors).",
    buckets=[0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
)

# The latest drift verdict of the Dagster `drift_report` asset, read from `drift/latest.json`
# on the poll cycle (serving/drift_status.py): the alert rules see drift through these.
DRIFT_DETECTED = Gauge(
    f"{PREFIX}_drift_detected",
    "1 when the latest drift report found PSI at or above the alert line on a key feature, else 0.",
)
DRIFT_SHARE = Gauge(
    f"{PREFIX}_drift_share", "Share of the key features drifted in the latest drift report (0 to 1)."
)
DRIFT_CHECKED = Gauge(
    f"{PREFIX}_drift_checked_timestamp_seconds",
    "Unix time of the latest drift report read (0: none read yet).",
)

# Every known label value starts at 0. Why: `increase()` needs a sample before the first event,
# so a series born at its first drop or refusal would hide that first one from the alert rules.
AUDIT_DROP_REASONS = ("queue_full", "lake_unavailable", "shutdown", "invalid")  # serving/audit.py's reasons
RELOAD_OUTCOMES = ("loaded", "refused")
for _outcome in RELOAD_OUTCOMES:
    RELOADS.labels(_outcome)
for _table in (PREDICTION_LOG, ACTION_LOG):
    AUDIT_WRITTEN.labels(_table)
    for _reason in AUDIT_DROP_REASONS:
        AUDIT_DROPPED.labels(_table, _reason)
