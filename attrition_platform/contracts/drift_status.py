"""The drift status: the latest drift verdict as one small JSON object, for serving to export.

Why it exists: the production alert rules (deploy/prometheus) see only what the serving service
exports, and serving imports no Dagster. So `drift_report` writes its verdict, besides the
Evidently HTML, as `drift/latest.json` under the reports location (monitoring/reports.py:
`ATTRITION_REPORTS_URI`, else `reports` beside the lake, local or `s3://`), and serving reads it
on its poll cycle and exports it as the `attrition_drift_*` gauges. Both sides use this module,
so the key and the fields are written down once.

One object, replaced atomically by each verdict (temp file and rename, or one PUT): a reader sees
the previous verdict or the new one, never half of either. A run with too few live rows for a
verdict writes no HTML and no status, so `checked_at` is the time of the last verdict. msgspec
only, like every contract.
"""

from __future__ import annotations

import datetime as dt
import math

import msgspec

DRIFT_STATUS_KEY = "drift/latest.json"
STATUS_FORMAT = 1


class DriftStatusError(ValueError):
    """A status object that cannot be trusted; the message says what is wrong with it."""


class DriftStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """The verdict of one drift_report run (docs/monitoring.md, "Drift status")."""

    checked_at: str  # ISO 8601 with a zone (UTC): when the report ran
    drifted: bool  # PSI >= the alert line on at least one key feature
    drifted_share: float  # drifted key features / key features, 0 to 1
    drifted_features: tuple[str, ...]  # the drifted key features, highest PSI first
    model_version: str  # the champion judged
    window_start: str  # YYYY-MM-DD, first day of live traffic compared (inclusive)
    window_end: str  # YYYY-MM-DD, last day (inclusive)
    max_psi: float = 0.0  # highest PSI over the key features
    report: str | None = None  # the HTML report's path or s3:// URL
    format: int = STATUS_FORMAT

    @property
    def checked_at_seconds(self) -> float:
        """`checked_at` as Unix seconds (what Prometheus compares with `time()`)."""
        return _parse_time(self.checked_at).timestamp()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def encode_status(status: DriftStatus) -> bytes:
    """Pretty JSON: a person may open it to see why an alert fired."""
    return msgspec.json.format(msgspec.json.encode(status), indent=2)


def decode_status(data: bytes) -> DriftStatus:
    """The status in `data`, checked: a time with a zone, a share in [0, 1], finite numbers.
    Anything else is a DriftStatusError, so a reader never exports a half-believable value."""
    try:
        status = msgspec.json.decode(data, type=DriftStatus)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DriftStatusError(f"not a drift status ({exc})") from None
    _parse_time(status.checked_at)
    if not (math.isfinite(status.drifted_share) and 0.0 <= status.drifted_share <= 1.0):
        raise DriftStatusError("drifted_share must be a number from 0 to 1")
    if not math.isfinite(status.max_psi):
        raise DriftStatusError("max_psi must be a finite number")
    return status


def _parse_time(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DriftStatusError(f"checked_at {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise DriftStatusError(f"checked_at {value!r} has no time zone")
    return parsed
