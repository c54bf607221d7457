"""Serving's view of the feature store: the latest `employee_features` snapshot as numpy columns.

The graph writes `employee_features` (defs/feature_assets.py) partitioned by `snapshot_date`,
one partition per HRIS extract. Serving answers `GET /v1/employees/{id}/risk` from the latest
partition only, read here without pyarrow or pandas (deltalake's DataFusion query -> arro3 ->
numpy), so training and serving share the one feature code path that wrote the table.

Who counts: a snapshot lists the employees on the books at that date. A single static export
(no dates) also lists leavers, marked Attrition = "Yes"; those rows, and any row whose
`termination_date` is on or before the snapshot date, are dropped. The opt-out flag is kept as
the boolean column `opt_out` (a missing value counts as opted out: the cautious reading), so
serving can answer such an employee with a clear refusal instead of "unknown employee".
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
from arro3.core import ChunkedArray, DataType
from deltalake import DeltaTable, QueryBuilder

from attrition_platform.contracts.arrow_columns import numpy_column

FEATURES_TABLE = "employee_features"  # = attrition_platform.defs.feature_assets.FEATURES_TABLE
PARTITION_COLUMN = "snapshot_date"
OPT_OUT = "opt_out"


def _uri(lake_root: str, table: str) -> str:
    if "://" in lake_root and not lake_root.startswith("file://"):
        return f"{lake_root.rstrip('/')}/{table}"
    return str(Path(lake_root.removeprefix("file://")) / table)


def _open(lake_root: str, table: str, storage_options: dict[str, str] | None) -> DeltaTable | None:
    uri = _uri(lake_root, table)
    if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
        return None
    return DeltaTable(uri, storage_options=storage_options)


def table_version(
    lake_root: str, table: str, storage_options: dict[str, str] | None = None
) -> int | None:
    """The table's current Delta version (reads only the log): poll it to see a new snapshot land."""
    dt = _open(lake_root, table, storage_options)
    return None if dt is None else dt.version()


def _to_numpy(column: ChunkedArray) -> np.ndarray:
    """Numbers stay numeric (float with NaN when values are missing), dates become
    datetime64[D], everything else an object array of Python values."""
    typ = column.type
    numeric = DataType.is_integer(typ) or DataType.is_floating(typ)
    if numeric and not column.null_count:  # zero-copy per chunk, no Python objects
        kind = np.int64 if DataType.is_integer(typ) else np.float64
        return numpy_column(column).astype(kind, copy=False)
    values = column.to_pylist()
    if typ.equals(DataType.date32()):
        return np.array(values, dtype="datetime64[D]")
    if typ.equals(DataType.bool()):
        return np.array(values, dtype=object) if column.null_count else np.array(values, dtype=bool)
    if numeric:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def latest_employee_features(
    lake_root: str, storage_options: dict[str, str] | None = None
) -> tuple[str, dict[str, np.ndarray]] | None:
    """(snapshot date as YYYY-MM-DD, column -> values) of the latest snapshot's active
    employees; None when the table does not exist or is empty."""
    return employee_features_at(lake_root, None, storage_options)


def employee_features_at(
    lake_root: str, day: date | None, storage_options: dict[str, str] | None = None
) -> tuple[str, dict[str, np.ndarray]] | None:
    """`latest_employee_features` for one snapshot date (None: the latest): the active
    employees of that snapshot, by the rule of this module's docstring (no rows for a date
    the table does not hold); None when the table does not exist or is empty."""
    dt = _open(lake_root, FEATURES_TABLE, storage_options)
    if dt is None:
        return None
    qb = QueryBuilder().register("f", dt)
    if day is None:
        latest = qb.execute(f'SELECT MAX("{PARTITION_COLUMN}") AS d FROM "f"').read_all()
        day = latest["d"].to_pylist()[0] if len(latest) else None
        if day is None:
            return None
    names = {f.name for f in dt.schema().fields}
    where = [f"\"{PARTITION_COLUMN}\" = DATE '{day.isoformat()}'"]
    if "Attrition" in names:
        where.append('("Attrition" IS NULL OR "Attrition" <> \'Yes\')')
    if "termination_date" in names:
        where.append(f'("termination_date" IS NULL OR "termination_date" > "{PARTITION_COLUMN}")')
    rows = qb.execute(f'SELECT * FROM "f" WHERE {" AND ".join(where)}').read_all()
    columns = {name: _to_numpy(rows[name]) for name in rows.column_names}
    if OPT_OUT in columns:
        flag = columns[OPT_OUT]
        columns[OPT_OUT] = np.array([True if v is None else bool(v) for v in flag], dtype=bool)
    return day.isoformat(), columns


def without_opted_out(columns: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """The rows of employees who did not opt out (of columns from this module), and how many
    were left out: what batch scoring may score and publish."""
    if OPT_OUT not in columns:
        return columns, 0
    opted = np.asarray(columns[OPT_OUT], dtype=bool)
    return {k: np.asarray(v)[~opted] for k, v in columns.items()}, int(opted.sum())
