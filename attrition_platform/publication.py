"""Putting a model where serving finds it: the bundle, the nightly fallback export, `CURRENT`.

One function `production_model` calls when the champion changes (tests and benchmarks call it
too): score the latest feature snapshot with the bundle (the same validated call serving
makes), write the export, then publish the bundle and the pointer together. The
order matters: the export is written first, so `CURRENT` never names scores that are not there.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from arro3.core import Array

from attrition_platform.contract_columns import KEY
from attrition_platform.contracts import fallback_export
from attrition_platform.contracts.arrow_columns import top_factors_from_arrays
from attrition_platform.contracts.feature_store import latest_employee_features, without_opted_out
from attrition_platform.contracts.published import (
    Pointer,
    Store,
    publish_bundle,
    publish_scores,
    read_pointer,
    store_from_uri,
)
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.explanations import FactorTable

TOP_FACTORS = 3


@dataclass(frozen=True)
class ScoredEmployees:
    """One model's scores of a set of employees, as the export and `nightly_scores` hold them.

    Factors stay arrays (`FactorTable`): a million employees' factors as Python objects cost
    more than scoring them."""

    employee_id: np.ndarray  # int64
    probability: np.ndarray  # float64
    risk_band: np.ndarray  # str
    factors: FactorTable  # one row per scored employee, in the same order
    model_version: str
    scored_at: dt.datetime
    rejected: int  # rows the bundle refused (each named in the scoring errors)

    def __len__(self) -> int:
        return len(self.employee_id)

    def top_factors_array(self) -> Array:
        """The factors as the export's and the Delta table's list<struct> column."""
        f = self.factors
        return top_factors_from_arrays(f.features, f.contributions, f.names, f.labels)

    def export_bytes(self) -> bytes:
        return fallback_export.encode_export(
            employee_id=self.employee_id,
            model_version=self.model_version,
            probability=self.probability,
            risk_band=self.risk_band,
            top_factors=self.top_factors_array(),
            scored_at=self.scored_at,
        )


def score_employees(
    bundle: ModelBundle, model_version: str, columns: dict[str, np.ndarray], now: dt.datetime | None = None,
    nthread: int | None = None,
) -> ScoredEmployees:
    """Score employees (a column mapping of feature rows, already without leavers and
    opted-out employees) with the bundle's one validated call, top factors included."""
    result = bundle.score(columns, unseen="allow", explain=TOP_FACTORS, nthread=nthread)
    ok = result.valid
    probs = result.probabilities[ok]
    assert result.factor_table is not None  # explain > 0: one row per valid input row
    return ScoredEmployees(
        employee_id=np.asarray(columns[KEY], dtype=np.int64)[ok],
        probability=probs,
        risk_band=bundle.band(probs),
        factors=result.factor_table,
        model_version=model_version,
        scored_at=now or dt.datetime.now(dt.UTC),
        rejected=int((~ok).sum()),
    )


def fallback_scores(
    bundle: ModelBundle, model_version: str, lake_root: str, storage_options: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[dt.date, bytes, int] | None:
    """(snapshot date, export bytes, rows) for every non-opted-out employee of the latest snapshot."""
    found = latest_employee_features(lake_root, storage_options)
    if found is None:
        return None
    day, columns = found
    columns, _ = without_opted_out(columns)
    scored = score_employees(bundle, model_version, columns, now)
    snapshot = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
    return snapshot, scored.export_bytes(), len(scored)


def publish(
    bundle: ModelBundle,
    model_version: str,
    serving: str | Store,
    lake_root: str,
    *,
    promoted_by: str,
    reason: str,
    storage_options: dict[str, str] | None = None,
) -> tuple[Pointer, int]:
    """Write the export, then the bundle and `CURRENT`; returns the pointer and the rows scored.
    `serving` is the published location's URI or its store (the graph passes the store of its
    `published` resource); `storage_options` (the AWS_* dict) serve the lake and an s3:// URI alike."""
    store = store_from_uri(serving, storage_options) if isinstance(serving, str) else serving
    scores_key = None
    rows = 0
    scored = fallback_scores(bundle, model_version, lake_root, storage_options)
    if scored is not None:
        day, data, rows = scored
        scores_key = publish_scores(store, day, data)
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "bundle")
        pointer = publish_bundle(
            store, Path(tmp) / "bundle", model_version,
            promoted_by=promoted_by, reason=reason, scores_path=scores_key,
        )
    return pointer, rows


def published_version(serving_uri: str) -> str | None:
    pointer = read_pointer(store_from_uri(serving_uri))
    return pointer.model_version if pointer is not None else None
