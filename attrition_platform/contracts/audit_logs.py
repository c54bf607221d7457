"""prediction_log and action_log: the audit tables serving appends to and governance reads.

Both are Delta tables partitioned by `day` (YYYY-MM-DD of `ts` in UTC), so retention drops
whole days and per-employee erasure rewrites only the days that hold that employee. Written
from arro3 tables (no pyarrow, no pandas); the schema is declared once here and used both to
create the tables and to build every append, so a table cannot drift from this module.
Both tables hold personal data: see docs/serving-contracts.md for retention and erasure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from arro3.core import Array, DataType, Field, Schema, Table
from deltalake import DeltaTable, QueryBuilder, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from attrition_platform.contracts.arrow_columns import (
    TIMESTAMP_TYPE,
    TOP_FACTORS_TYPE,
    Factor,
    string_array,
    timestamp_array,
    factor_lists,
    utc_micros,
)
from attrition_platform.contracts.delta_commits import on_conflict_retry

PREDICTION_LOG = "prediction_log"
ACTION_LOG = "action_log"
PARTITION_COLUMN = "day"
APPEND_ATTEMPTS = 10  # an append loses a race only to a concurrent purge or erasure
REOPEN_AFTER = 50  # appends through one kept-open handle (OpenLogTables)
SOURCES = ("live", "cached")
RISK_BANDS = ("low", "medium", "high")

_STR = DataType.string()
SCHEMAS: dict[str, Schema] = {
    PREDICTION_LOG: Schema(
        [
            Field("prediction_id", _STR, nullable=False),
            Field("ts", TIMESTAMP_TYPE, nullable=False),
            Field(PARTITION_COLUMN, _STR, nullable=False),
            Field("caller", _STR, nullable=False),
            Field("employee_id", DataType.int64(), nullable=True),
            Field("model_version", _STR, nullable=False),
            Field("source", _STR, nullable=False),
            Field("inputs", _STR, nullable=True),
            Field("probability", DataType.float64(), nullable=False),
            Field("risk_band", _STR, nullable=False),
            Field("top_factors", TOP_FACTORS_TYPE, nullable=True),
        ]
    ),
    ACTION_LOG: Schema(
        [
            Field("action_id", _STR, nullable=False),
            Field("ts", TIMESTAMP_TYPE, nullable=False),
            Field(PARTITION_COLUMN, _STR, nullable=False),
            Field("caller", _STR, nullable=False),
            Field("employee_id", DataType.int64(), nullable=False),
            Field("prediction_id", _STR, nullable=False),
            Field("action", _STR, nullable=False),
            Field("reason", _STR, nullable=False),
        ]
    ),
}

# Delta keeps min/max statistics in its commit log for the columns named here, and by default
# for the first 32 columns: that copied the first characters of every batch's `inputs` (an
# employee's age, pay, ...), `caller` and `reason` into JSON commits. Only `ts` (retention and
# monitors select by time) and `employee_id` (erasure deletes by it; one-row batches of light
# traffic skip well) are worth their cost; leaving out the rest also shrank the commit log 4x
# and a long-lived appender's memory growth by a third (benchmarks/README, "Audit log
# statistics").
STATS_COLUMNS: dict[str, tuple[str, ...]] = {
    PREDICTION_LOG: ("ts", "employee_id"),
    ACTION_LOG: ("ts", "employee_id"),
}
STATS_PROPERTY = "delta.dataSkippingStatsColumns"


def table_properties(table: str) -> dict[str, str]:
    """The Delta table properties each log is created with (and brought to when older)."""
    return {STATS_PROPERTY: ",".join(STATS_COLUMNS[table])}


@dataclass(frozen=True)
class PredictionRecord:
    prediction_id: str
    ts: datetime  # timezone-aware
    caller: str  # token subject
    employee_id: int | None
    model_version: str
    source: str  # "live" | "cached"
    inputs: str | None  # JSON of the validated record; None for cached answers
    probability: float
    risk_band: str
    top_factors: tuple[Factor, ...]


@dataclass(frozen=True)
class ActionRecord:
    action_id: str
    ts: datetime  # timezone-aware
    caller: str
    employee_id: int
    prediction_id: str
    action: str
    reason: str  # required: a human says why


def log_uri(lake_root: str, table: str) -> str:
    if table not in SCHEMAS:
        raise ValueError(f"table: {table!r} is not one of {sorted(SCHEMAS)}")
    if "://" in lake_root and not lake_root.startswith("file://"):
        return f"{lake_root.rstrip('/')}/{table}"
    return str(Path(lake_root.removeprefix("file://")) / table)


def _time_columns(micros: np.ndarray) -> tuple[Array, Array]:
    """The `ts` column and `day`, its UTC date (the partition), formatted once per distinct day
    (a batch spans one or two); floor division puts an instant before 1970 on its own day."""
    numbers = micros // 86_400_000_000
    if len(numbers) and numbers.min() == numbers.max():  # the usual flush: one day
        return timestamp_array(micros), string_array([str(numbers[:1].astype("datetime64[D]")[0])] * len(numbers))
    days, which = np.unique(numbers, return_inverse=True)
    names = days.astype("datetime64[D]").astype(str)
    return timestamp_array(micros), string_array(names[which].tolist())


def ensure_log_tables(lake_root: str, storage_options: dict[str, str] | None = None) -> None:
    """Create both tables, empty, with the declared schema and properties where absent; give a
    table created before a property was declared that property (one commit, once).

    Safe to call from every process at start-up: when two create at once, the loser's commit
    fails and it finds the winner's table; a property change that loses to an append retries.
    """
    for table, schema in SCHEMAS.items():
        uri = log_uri(lake_root, table)
        if DeltaTable.is_deltatable(uri, storage_options=storage_options):
            on_conflict_retry(lambda uri=uri, table=table: _bring_properties(uri, table, storage_options))
            continue
        if "://" not in uri:
            Path(uri).mkdir(parents=True, exist_ok=True)
        try:
            DeltaTable.create(
                uri,
                schema,
                mode="ignore",
                partition_by=[PARTITION_COLUMN],
                configuration=table_properties(table),
                storage_options=storage_options,
            )
        except (DeltaError, OSError):
            if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
                raise


def _bring_properties(uri: str, table: str, storage_options: dict[str, str] | None) -> None:
    """Set the declared properties a table lacks; no commit when it has them all."""
    dt = DeltaTable(uri, storage_options=storage_options)
    current = dt.metadata().configuration
    missing = {k: v for k, v in table_properties(table).items() if current.get(k) != v}
    if missing:
        dt.alter.set_table_properties(missing)


class OpenLogTables:
    """Delta handles a long-lived appender keeps open between its batches.

    Opening a log table by URI replays its commit log and holds the GIL for milliseconds;
    `write_deltalake` by URI opens it twice more. Serving's audit thread appends once a second
    while requests wait for that GIL, so it opens each table once and only reads the commits
    that landed since (`update_incremental`, which releases the GIL). A handle that fails is
    forgotten and the next attempt opens the table afresh, so a purge's log cleanup or a
    recreated table costs one retry, never a lost row.

    A handle is also replaced after `reopen_after` appends: a kept-open handle's memory grows
    by ~100 KB per commit it sees (measured with deltalake 1.6.6: 600 appends, +58 MB; a fresh
    open every 50 appends, +16 MB over 1,000), which at one commit a second is ~360 MB an
    hour. One log replay per 50 appends costs the requests nothing visible.
    """

    def __init__(self, reopen_after: int = REOPEN_AFTER) -> None:
        self.reopen_after = reopen_after
        self._open: dict[str, DeltaTable] = {}
        self._uses: dict[str, int] = {}

    def target(self, uri: str, storage_options: dict[str, str] | None) -> DeltaTable | None:
        """The up-to-date handle, or None when no table exists at `uri` yet."""
        if self.is_open(uri):
            self._uses[uri] += 1
            dt = self._open[uri]
            dt.update_incremental()
            return dt
        self.forget(uri)
        if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
            return None
        dt = self._open[uri] = DeltaTable(uri, storage_options=storage_options)
        self._uses[uri] = 1
        return dt

    def is_open(self, uri: str) -> bool:
        """Whether the next `target(uri)` reuses a handle (rather than opening the table)."""
        return uri in self._open and self._uses[uri] < self.reopen_after

    def forget(self, uri: str) -> None:
        self._open.pop(uri, None)
        self._uses.pop(uri, None)


def append_table(
    lake_root: str,
    table: str,
    data: Table,
    storage_options: dict[str, str] | None,
    tables: OpenLogTables | None = None,
) -> int:
    """Append a built batch (`log_table`, `LogBatch.to_table`) as one Delta commit; returns
    its rows. Commit races with a purge or an erasure are retried without duplicating rows."""
    uri = log_uri(lake_root, table)
    handles = tables or OpenLogTables()
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        kept_open = handles.is_open(uri)
        try:
            target = handles.target(uri, storage_options)
            if target is None:
                ensure_log_tables(lake_root, storage_options)
                target = handles.target(uri, storage_options)
            write_deltalake(
                target or uri, data, mode="append", partition_by=[PARTITION_COLUMN], storage_options=storage_options
            )
            return len(data)
        except (DeltaError, FileNotFoundError) as exc:
            handles.forget(uri)
            # Races with a purge or an erasure (privacy/): it committed a delete meanwhile
            # (CommitFailedError), or its log cleanup removed a checkpoint or commit file this
            # append was reading ("... not found"). Before retrying, look for this batch's first
            # id: if the error came after the commit, the rows are already there and a retry
            # would log them twice. A kept-open handle may be stale in ways a fresh open is not
            # (the table was removed and recreated): its failure earns a retry from scratch.
            lost_race = (
                kept_open
                or isinstance(exc, CommitFailedError | FileNotFoundError)
                or "not found" in str(exc)
            )
            if not lost_race or attempt == APPEND_ATTEMPTS:
                raise
            time.sleep(0.02 * attempt)
            if _batch_landed(uri, table, data, storage_options):
                return len(data)
    raise AssertionError("unreachable")


def _batch_landed(uri: str, table: str, data: Table, storage_options: dict[str, str] | None) -> bool:
    """Whether the first row of `data` (by its unique id) is already in the table."""
    key = "prediction_id" if table == PREDICTION_LOG else "action_id"
    first = data[key][0].as_py() if len(data) else None
    if not isinstance(first, str) or not _ID.match(first):
        return False
    try:
        found = (
            QueryBuilder()
            .register("t", DeltaTable(uri, storage_options=storage_options))
            .execute(f"SELECT 1 FROM \"t\" WHERE \"{key}\" = '{first}' LIMIT 1")
            .read_all()
        )
    except (DeltaError, FileNotFoundError):
        return False  # cannot tell yet: the next attempt's own read will tell
    return len(found) > 0


def _text(record: object, name: str) -> None:
    value = getattr(record, name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")


def _check_prediction(r: PredictionRecord) -> None:
    for name in ("prediction_id", "caller", "model_version"):
        _text(r, name)
    if r.source not in SOURCES:
        raise ValueError(f"source must be one of {list(SOURCES)}")
    if r.inputs is not None and (r.source == "cached" or not isinstance(r.inputs, str)):
        raise ValueError("inputs must be null for a cached answer, else a JSON string")
    if r.risk_band not in RISK_BANDS:
        raise ValueError(f"risk_band must be one of {list(RISK_BANDS)}")
    p = r.probability
    if not (isinstance(p, float | int) and 0 <= p <= 1):  # NaN fails both comparisons
        raise ValueError("probability must be a number in [0, 1]")
    if r.employee_id is not None and not isinstance(r.employee_id, int | np.integer):
        raise ValueError("employee_id must be an integer or null")
    try:
        triples = all(
            len(f) == 3 and isinstance(f[0], str) and isinstance(f[1], str) and isinstance(f[2], float | int)
            for f in r.top_factors
        )
    except TypeError:  # not a sequence of sequences
        triples = False
    if not triples:
        raise ValueError("top_factors must hold (feature, label, contribution) triples")


def _check_action(r: ActionRecord) -> None:
    for name in ("reason", "action_id", "caller", "prediction_id", "action"):
        _text(r, name)
    if not isinstance(r.employee_id, int | np.integer):
        raise ValueError("employee_id must be an integer")


_CHECKS = {PREDICTION_LOG: _check_prediction, ACTION_LOG: _check_action}


class LogBatch:
    """Rows for one log table, checked one by one as they arrive and kept as columns.

    Why columns: serving adds a record per request, where the work is cheap and uncontended,
    and its writer thread turns the batch into Arrow with C-level conversions only. Building
    from a list of records instead costs ~5 us of Python a record in the writer, all of it
    holding the GIL while requests wait (the one-client p99 doubled)."""

    def __init__(self, table: str) -> None:
        if table not in SCHEMAS:
            raise ValueError(f"table: {table!r} is not one of {sorted(SCHEMAS)}")
        self.table = table
        self._check = _CHECKS[table]
        self._columns: dict[str, list[Any]] = {
            f.name: [] for f in SCHEMAS[table] if f.name not in ("ts", PARTITION_COLUMN, "top_factors")
        }
        self._micros: list[int] = []
        # top_factors kept flat (one entry per factor, a count per row): no nested conversion later
        self._factors = table == PREDICTION_LOG
        self._factor_counts: list[int] = []
        self._factor_parts: tuple[list[str], list[str], list[float]] = ([], [], [])

    def __len__(self) -> int:
        return len(self._micros)

    def add(self, record: PredictionRecord | ActionRecord) -> None:
        """Check and keep one record; a ValueError names the field and the problem, never the
        value, and leaves the batch as it was."""
        self._check(record)
        micros = utc_micros(record.ts)
        for name, column in self._columns.items():
            column.append(getattr(record, name))
        self._micros.append(micros)
        if self._factors:
            factors = record.top_factors  # type: ignore[union-attr]
            features, labels, contributions = self._factor_parts
            for feature, label, contribution in factors:
                features.append(feature)
                labels.append(label)
                contributions.append(contribution)
            self._factor_counts.append(len(factors))

    def to_table(self) -> Table:
        ts, day = _time_columns(np.array(self._micros, dtype=np.int64))
        arrays = []
        for field in SCHEMAS[self.table]:
            if field.name == "ts":
                arrays.append(ts)
            elif field.name == PARTITION_COLUMN:
                arrays.append(day)
            elif field.type == TOP_FACTORS_TYPE:
                features, labels, contributions = self._factor_parts
                counts = np.array(self._factor_counts, dtype=np.int32)
                arrays.append(factor_lists(counts, features, labels, np.array(contributions, dtype=np.float64)))
            else:
                arrays.append(Array(self._columns[field.name], type=field.type))
        return Table.from_arrays(arrays, schema=SCHEMAS[self.table])


def log_table(table: str, records: Sequence[PredictionRecord] | Sequence[ActionRecord]) -> Table:
    """Records as the log's Arrow table. Every record is checked first, so a bad one rejects
    the whole batch; errors name the record index and the field, not values."""
    batch = LogBatch(table)
    for i, record in enumerate(records):
        try:
            batch.add(record)
        except ValueError as exc:
            raise ValueError(f"record {i}: {exc}") from None
    return batch.to_table()


def append_predictions(
    lake_root: str,
    records: Sequence[PredictionRecord],
    storage_options: dict[str, str] | None = None,
    tables: OpenLogTables | None = None,
) -> int:
    """Check and append one batch (one Delta commit); returns the rows written. A long-lived
    writer passes its `tables` to keep the table open between batches."""
    if not records:
        return 0
    return append_table(lake_root, PREDICTION_LOG, log_table(PREDICTION_LOG, records), storage_options, tables)


def append_actions(
    lake_root: str,
    records: Sequence[ActionRecord],
    storage_options: dict[str, str] | None = None,
    tables: OpenLogTables | None = None,
) -> int:
    """Check and append one batch of managers' actions; a missing or blank `reason` rejects
    the batch (a human says why)."""
    if not records:
        return 0
    return append_table(lake_root, ACTION_LOG, log_table(ACTION_LOG, records), storage_options, tables)


def read_log(
    lake_root: str, table: str, storage_options: dict[str, str] | None = None
) -> dict[str, list]:
    """The whole table as column -> values, ordered by ts (for tests and monitors; not for
    large scans). `top_factors` comes back as tuples of (feature, label, contribution)."""
    uri = log_uri(lake_root, table)
    dt = DeltaTable(uri, storage_options=storage_options)
    key = "prediction_id" if table == PREDICTION_LOG else "action_id"
    result = (
        QueryBuilder()
        .register("t", dt)
        .execute(f'SELECT * FROM "t" ORDER BY "ts", "{key}"')
        .read_all()
    )
    return log_columns(table, result)


def log_columns(table: str, data: Table) -> dict[str, list]:
    """A log's Arrow table as column -> Python values; `top_factors` as tuples of
    (feature, label, contribution), as the records hold them."""
    out: dict[str, list] = {}
    for name in SCHEMAS[table].names:
        values = data[name].to_pylist() if len(data) else []
        if name == "top_factors":
            values = [
                None if v is None else tuple((f["feature"], f["label"], f["contribution"]) for f in v)
                for v in values
            ]
        out[name] = values
    return out


_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def find_prediction(
    lake_root: str, prediction_id: str, storage_options: dict[str, str] | None = None
) -> tuple[bool, int | None]:
    """(found, employee id) of one logged prediction: lets an action be checked against the
    prediction it cites. A scan of `prediction_log` (actions are rare, ~hundreds a day)."""
    if not _ID.match(prediction_id):
        raise ValueError("prediction_id: only letters, digits, '-' and '_' (at most 64)")
    dt = DeltaTable(log_uri(lake_root, PREDICTION_LOG), storage_options=storage_options)
    result = (
        QueryBuilder()
        .register("t", dt)
        .execute(f"SELECT \"employee_id\" FROM \"t\" WHERE \"prediction_id\" = '{prediction_id}' LIMIT 1")
        .read_all()
    )
    if len(result) == 0:
        return False, None
    return True, result["employee_id"].to_pylist()[0]
