"""The latest `employee_features` snapshot as an in-memory index: employee id → model inputs.

The portal sends only an id; the features come from the same Delta table training and the
nightly scores read, so no personal data crosses the wire and the feature code path is one.
Refreshed when the table's Delta version moves; the old index serves until the new one is built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from attrition_platform.contract_columns import KEY
from attrition_platform.contracts.feature_store import latest_employee_features, table_version
from serving import metrics
from serving.schemas import MODEL_INPUTS

log = logging.getLogger("attrition.serving")
FEATURES_TABLE = "employee_features"


@dataclass(frozen=True)
class _Snapshot:
    snapshot_date: str
    rows: dict[int, int]
    columns: dict[str, np.ndarray]
    opted_out: frozenset[int]


class EmployeeIndex:
    def __init__(self, lake_root: str, storage_options: dict[str, str] | None = None) -> None:
        self.lake_root = lake_root
        self.storage_options = storage_options
        self._snap: _Snapshot | None = None
        self._version: int | None = None

    @property
    def snapshot_date(self) -> str | None:
        return self._snap.snapshot_date if self._snap else None

    def __len__(self) -> int:
        return len(self._snap.rows) if self._snap else 0

    def refresh(self) -> bool:
        try:
            version = table_version(self.lake_root, FEATURES_TABLE, self.storage_options)
            if version is None or version == self._version:
                return False
            found = latest_employee_features(self.lake_root, self.storage_options)
        except Exception as exc:
            log.error("employee feature index not refreshed (%s); keeping the previous one", exc)
            return False
        if found is None:
            return False
        day, columns = found
        ids = np.asarray(columns[KEY], dtype=np.int64)
        opt = columns.get("opt_out")
        opted = frozenset(int(i) for i in ids[np.asarray(opt, dtype=bool)]) if opt is not None else frozenset()
        keep = {name: np.asarray(columns[name]) for name in MODEL_INPUTS if name in columns}
        self._snap = _Snapshot(str(day), {int(e): i for i, e in enumerate(ids)}, keep, opted)
        self._version = version
        metrics.FEATURE_INDEX_ROWS.set(len(ids))
        log.info("employee feature index: %d employees as of %s", len(ids), day)
        return True

    def scoreable_ids(self, limit: int | None = None) -> list[int]:
        """Employees who may be scored (not opted out), in snapshot order, at most `limit`."""
        snap = self._snap
        if snap is None:
            return []
        found = (e for e in snap.rows if e not in snap.opted_out)
        return [e for _, e in zip(range(limit), found, strict=False)] if limit is not None else list(found)

    def example_id(self) -> int | None:
        """An employee who may be scored (for the example `attrition serve` prints)."""
        first = self.scoreable_ids(1)
        return first[0] if first else None

    def is_opted_out(self, employee_id: int) -> bool:
        return self._snap is not None and employee_id in self._snap.opted_out

    def record(self, employee_id: int) -> dict[str, Any] | None:
        snap = self._snap
        if snap is None:
            return None
        row = snap.rows.get(employee_id)
        if row is None:
            return None
        return {name: _python(col[row]) for name, col in snap.columns.items()}


def _python(value: Any) -> Any:
    """A numpy scalar as the plain Python value a JSON request would have carried."""
    return value.item() if isinstance(value, np.generic) else value
