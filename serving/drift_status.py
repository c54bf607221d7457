"""The latest drift verdict as Prometheus gauges, read on the service's poll cycle.

Why here: the alert rules (deploy/prometheus) see only what this service exports, and the
verdict is made by the Dagster `drift_report` asset, which writes it as `drift/latest.json`
under the reports location (contracts/drift_status.py). Reading that one small object on the
existing poll (never per request) gives Prometheus the verdict and its age without serving
importing Dagster, and without Prometheus needing access to the lake.

A missing or malformed status must never hurt serving: the gauges keep their last good values
(zero until one was read; a never-seen check then looks stale, which is the truth), one log line
says what is wrong, and that line is not repeated every poll while the problem stays the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from attrition_platform.contracts.drift_status import DRIFT_STATUS_KEY, DriftStatus, DriftStatusError, decode_status
from attrition_platform.contracts.published import PublicationError, Store, store_from_uri
from attrition_platform.contracts.storage_options import is_remote
from attrition_platform.monitoring.reports import reports_uri
from serving import metrics

log = logging.getLogger("attrition.serving")


class DriftStatusReader:
    """Reads `drift/latest.json` from a store and sets the `attrition_drift_*` gauges."""

    def __init__(self, store: Store | None, location: str) -> None:
        self.store = store  # None: the reports location itself is unusable (logged once)
        self.location = location
        self.status: DriftStatus | None = None  # the last good status
        self.problem: str | None = None  # why the last read gave nothing new (None: it did)
        self._seen: bytes | None = None

    @classmethod
    def for_lake(cls, lake_root: str, storage_options: Mapping[str, str] | None) -> DriftStatusReader:
        """The reader of the status `drift_report` writes for this lake: the same location rule
        (`ATTRITION_REPORTS_URI`, else `reports` beside the lake) and the service's own
        object-store options (Vault credentials included)."""
        uri = reports_uri(lake_root)
        location = f"{uri.rstrip('/')}/{DRIFT_STATUS_KEY}"
        try:
            store = store_from_uri(uri, storage_options if is_remote(uri) else None)
        except Exception as exc:  # a bad URI must not stop the service: the model matters more
            reader = cls(None, location)
            reader._report(f"the reports location cannot be used ({_short(exc)})")
            return reader
        return cls(store, location)

    def refresh(self) -> bool:
        """Read the status; True when new values were exported. Never raises."""
        if self.store is None:
            return False
        try:
            data = self.store.read_bytes(DRIFT_STATUS_KEY)
        except (PublicationError, OSError) as exc:
            self._report(f"unreadable ({_short(exc)})")
            return False
        except Exception as exc:  # boto errors and the like: the poll must go on
            self._report(f"unreadable ({type(exc).__name__})")
            return False
        if data is None:
            self._report("missing (no drift_report verdict yet?)")
            return False
        if data == self._seen:
            self.problem = None  # the last good status is back (or never left)
            return False  # unchanged since the last good read: nothing to export or log
        try:
            status = decode_status(data)
            checked = status.checked_at_seconds
        except DriftStatusError as exc:
            self._report(f"malformed: {exc}")
            return False
        metrics.DRIFT_DETECTED.set(1 if status.drifted else 0)
        metrics.DRIFT_SHARE.set(status.drifted_share)
        metrics.DRIFT_CHECKED.set(checked)
        if self.problem is not None or self.status is None:
            log.info(
                "drift status read: %s for model %s (checked %s)",
                "drift on " + ", ".join(status.drifted_features) if status.drifted else "no drift",
                status.model_version, status.checked_at,
            )
        self.status = status
        self.problem = None
        self._seen = data
        return True

    def _report(self, problem: str) -> None:
        """One log line per distinct problem, not one per poll."""
        if problem != self.problem:
            kept = "keeping the last values" if self.status is not None else "no drift values yet"
            log.warning("drift status %s: %s; %s", self.location, problem, kept)
        self.problem = problem


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
