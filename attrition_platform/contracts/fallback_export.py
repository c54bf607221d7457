"""The nightly fallback export: one row per active, non-opted-out employee, as one Arrow IPC file.

Written by the graph's nightly scoring (issue 7) and read by serving when live scoring is down.
Arrow IPC (zstd-compressed) rather than Parquet: it loads by mapping columns straight into numpy, so 100,000
employees load well under a second, and it needs only arro3 on both sides (no pyarrow).
Columns (see docs/serving-contracts.md): employee_id int64, model_version string, probability
float64, risk_band string, top_factors list<struct<feature, label, contribution>>, scored_at
timestamp[us, UTC].
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from arro3.core import Array, DataType, Schema, Table
from arro3.io import read_ipc, write_ipc

from attrition_platform.contracts.arrow_columns import (
    TIMESTAMP_TYPE,
    TOP_FACTORS_TYPE,
    Factor,
    from_micros,
    micros_column,
    numpy_column,
    string_array,
    top_factors_array,
    top_factors_column,
    utc_micros,
)

FILE_EXTENSION = "arrow"
COLUMNS: dict[str, DataType] = {
    "employee_id": DataType.int64(),
    "model_version": DataType.string(),
    "probability": DataType.float64(),
    "risk_band": DataType.string(),
    "top_factors": TOP_FACTORS_TYPE,
    "scored_at": TIMESTAMP_TYPE,
}
RISK_BANDS = ("low", "medium", "high")


class ExportError(ValueError):
    """An export that cannot be written or read; names the column and the problem."""


def encode_export(
    employee_id: np.ndarray,
    model_version: str,
    probability: np.ndarray,
    risk_band: np.ndarray,
    top_factors: Sequence[Sequence[Factor]] | Array,
    scored_at: datetime,
) -> bytes:
    """The export file's bytes. Rows are checked here, once, so a reader can trust the file:
    unique ids, probabilities in [0, 1], known risk bands, one factor list per row."""
    ids = np.asarray(employee_id)
    n = len(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ExportError("employee_id: must be a 1-d integer array")
    ids = ids.astype(np.int64, copy=False)
    probs = np.asarray(probability, dtype=np.float64)
    bands = np.asarray(risk_band)
    for name, arr in (("probability", probs), ("risk_band", bands)):
        if arr.shape != (n,):
            raise ExportError(f"{name}: {arr.shape[0] if arr.ndim else 0} values for {n} employees")
    if isinstance(top_factors, Array) and not top_factors.type.equals(TOP_FACTORS_TYPE):
        raise ExportError(f"top_factors: type {top_factors.type}, expected {TOP_FACTORS_TYPE}")
    if len(top_factors) != n:
        raise ExportError(f"top_factors: {len(top_factors)} lists for {n} employees")
    if not model_version:
        raise ExportError("model_version: must be non-empty")
    if n and (np.diff(np.sort(ids)) == 0).any():
        raise ExportError("employee_id: duplicate ids (the export holds one row per employee)")
    if n and not (np.isfinite(probs).all() and probs.min() >= 0.0 and probs.max() <= 1.0):
        raise ExportError("probability: every value must be a number in [0, 1]")
    known = np.zeros(n, dtype=bool)
    for band in RISK_BANDS:  # elementwise compares: np.unique on 1M strings takes a second
        known |= bands == band
    if not known.all():
        raise ExportError(f"risk_band: {int((~known).sum())} row(s) outside {list(RISK_BANDS)}")
    stamp = utc_micros(scored_at)
    arrays = [
        Array.from_numpy(ids),
        Array([model_version] * n, type=DataType.string()),
        Array.from_numpy(probs),
        string_array(bands.tolist()),
        top_factors if isinstance(top_factors, Array) else top_factors_array(top_factors),
        Array.from_numpy(np.full(n, stamp, dtype=np.int64)).cast(TIMESTAMP_TYPE),
    ]
    table = Table.from_arrays(arrays, names=list(COLUMNS))
    buf = io.BytesIO()
    write_ipc(table, buf, compression="zstd")
    return buf.getvalue()


def _read_table(data: bytes) -> Table:
    try:
        table = read_ipc(data).read_all()
    except Exception as exc:  # noqa: BLE001 - arro3 raises plain Exception for corrupt input
        raise ExportError(
            f"fallback export: not a readable Arrow IPC file ({type(exc).__name__})"
        ) from None
    schema: Schema = table.schema
    for name, typ in COLUMNS.items():
        if name not in schema.names:
            raise ExportError(f"fallback export: column {name} is missing")
        if not schema.field(name).type.equals(typ):
            raise ExportError(
                f"fallback export: column {name} has type {schema.field(name).type}, expected {typ}"
            )
    return table


def check_export(data: bytes) -> int:
    """Refuse bytes that are not an export of this contract (before they are published);
    returns the row count."""
    return len(_read_table(data))


@dataclass(frozen=True)
class CachedScore:
    employee_id: int
    model_version: str
    probability: float
    risk_band: str
    top_factors: tuple[Factor, ...]
    scored_at: str  # ISO 8601, UTC


class FallbackIndex:
    """The export held in memory for lookups by employee id.

    Only ids, probabilities and bands are expanded at load; each row's factors are sliced out
    on lookup, so loading costs one pass over the columns.
    """

    def __init__(
        self,
        ids: np.ndarray,
        model_versions: list[str],
        probabilities: np.ndarray,
        bands: list[str],
        factors: list[tuple[Factor, ...]],
        scored_at: np.ndarray,
    ) -> None:
        self._row = dict(zip(ids.tolist(), range(len(ids)), strict=True))
        self._ids = ids
        self._versions = model_versions
        self._probabilities = probabilities
        self._bands = bands
        self._factors = factors
        self._scored_at = scored_at
        self.model_version: str | None = model_versions[0] if model_versions else None
        self.scored_at: str | None = (
            from_micros(int(scored_at.max())).isoformat() if len(scored_at) else None
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FallbackIndex:
        table = _read_table(data)
        if len(table) == 0:
            return cls(
                np.array([], np.int64), [], np.array([], np.float64), [], [], np.array([], np.int64)
            )
        ids = numpy_column(table["employee_id"])
        if len(np.unique(ids)) != len(ids):
            raise ExportError("fallback export: duplicate employee_id values")
        return cls(
            ids=ids,
            model_versions=table["model_version"].to_pylist(),
            probabilities=numpy_column(table["probability"]),
            bands=table["risk_band"].to_pylist(),
            factors=top_factors_column(table["top_factors"]),
            scored_at=micros_column(table["scored_at"]),
        )

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, employee_id: object) -> bool:
        return employee_id in self._row

    def get(self, employee_id: int) -> CachedScore | None:
        i = self._row.get(employee_id)
        if i is None:
            return None
        return CachedScore(
            employee_id=int(self._ids[i]),
            model_version=str(self._versions[i]),
            probability=float(self._probabilities[i]),
            risk_band=str(self._bands[i]),
            top_factors=self._factors[i],
            scored_at=from_micros(int(self._scored_at[i])).isoformat(),
        )
