"""Right to erasure: one employee removed from every table and export the platform owns.

Every Delta table in the lake that has an employee id column (the known ones below, plus any
other table found in a local lake, so a table added later is not missed) loses the employee's
rows; then `forget_history` deletes the files and log entries of every earlier version of
every such table, since any of them may hold the employee (a re-landed snapshot, an older
training set). The nightly fallback exports under the published location are rewritten without
the employee, each in one atomic write, so `CURRENT` keeps naming a valid export. The employee's
salted hash goes on the suppression list first: if the erasure stops halfway, later extracts
still leave them out and running it again finishes the job.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, QueryBuilder

from attrition_platform.contract_columns import KEY
from attrition_platform.contracts.audit_logs import ACTION_LOG, PREDICTION_LOG
from attrition_platform.contracts.delta_commits import on_conflict_retry
from attrition_platform.contracts.published import (
    SCORES_FILE,
    SCORES_PREFIX,
    PublicationError,
    Store,
    default_serving_uri,
    point_scores,
    publish_scores,
    read_pointer,
    store_from_uri,
)
from attrition_platform.contracts.storage_options import is_remote, storage_options_from_env
from attrition_platform.privacy import suppression
from attrition_platform.privacy.history import forget_history
from attrition_platform.settings import environment, paths

ID_COLUMNS = (KEY, "employee_id")
# Tables the platform writes that hold employees (the lake resource's table names).
KNOWN_TABLES = (
    "hris_employees",
    "hris_terminations",
    "employee_features",
    "training_set",
    "nightly_scores",
    PREDICTION_LOG,
    ACTION_LOG,
)
LAKE_ENV = "ATTRITION_LAKE_URI"


@dataclass(frozen=True)
class Locations:
    lake_root: str
    serving_uri: str
    storage_options: dict[str, str] | None

    def store(self) -> Store:
        return store_from_uri(self.serving_uri, self.storage_options)


def locations_from_env() -> Locations:
    """Where the platform's data lives, as the graph's resources see it: the data directory
    locally, ATTRITION_LAKE_URI and ATTRITION_SERVING_URI in production."""
    if environment() == "prod":
        lake = os.environ.get(LAKE_ENV, "").strip()
        if not lake:
            raise suppression.SuppressionError(f"{LAKE_ENV} must be set when ATTRITION_ENV=prod")
    else:
        lake = str(paths().lake)
    serving = default_serving_uri()
    remote = is_remote(lake) or is_remote(serving)
    return Locations(lake, serving, storage_options_from_env() if remote else None)


@dataclass(frozen=True)
class PersonalTable:
    name: str
    uri: str
    id_column: str


@dataclass(frozen=True)
class TableErasure:
    table: str
    rows_removed: int
    files_deleted: int  # data files deleted from disk (the rewritten ones and older versions')
    kept_from_version: int  # earlier versions no longer exist


@dataclass(frozen=True)
class ExportErasure:
    key: str
    rows_removed: int


@dataclass
class Findings:
    """Where an employee is, before anything is changed."""

    tables: dict[str, int] = field(default_factory=dict)  # table -> rows in the latest version
    exports: dict[str, int] = field(default_factory=dict)  # export key -> rows

    @property
    def found(self) -> bool:
        return any(self.tables.values()) or any(self.exports.values())

    def lines(self) -> list[str]:
        out = [f"  {t}: {n} row(s)" for t, n in self.tables.items() if n]
        out += [f"  {k}: {n} row(s)" for k, n in self.exports.items() if n]
        return out


@dataclass(frozen=True)
class ErasureReport:
    employee_id: int
    tables: list[TableErasure]
    exports: list[ExportErasure]
    newly_suppressed: bool

    def lines(self) -> list[str]:
        out = [
            f"  {t.table}: {t.rows_removed} row(s) removed, {t.files_deleted} file(s) deleted "
            f"from disk (history before version {t.kept_from_version} dropped)"
            for t in self.tables
        ]
        out += [f"  {e.key}: {e.rows_removed} row(s) removed (export rewritten)" for e in self.exports]
        out.append(
            "  suppression list: salted hash added (later extracts leave this employee out)"
            if self.newly_suppressed
            else "  suppression list: already listed"
        )
        return out


def _table_uri(lake_root: str, name: str) -> str:
    if is_remote(lake_root):
        return f"{lake_root.rstrip('/')}/{name}"
    return str(Path(lake_root.removeprefix("file://")) / name)


def personal_tables(lake_root: str, storage_options: dict[str, str] | None = None) -> list[PersonalTable]:
    """Every Delta table of the lake with an employee id column."""
    names = list(KNOWN_TABLES)
    if not is_remote(lake_root):
        root = Path(lake_root.removeprefix("file://"))
        if root.is_dir():
            names += sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in names)
    found = []
    for name in names:
        uri = _table_uri(lake_root, name)
        if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
            continue
        columns = DeltaTable(uri, storage_options=storage_options).schema().to_arrow().names
        column = next((c for c in ID_COLUMNS if c in columns), None)
        if column is not None:
            found.append(PersonalTable(name, uri, column))
    return found


def _predicate(column: str, employee_id: int) -> str:
    return f'"{column}" = {int(employee_id)}'


def _count(table: PersonalTable, employee_id: int, storage_options: dict[str, str] | None) -> int:
    delta = DeltaTable(table.uri, storage_options=storage_options)
    result = (
        QueryBuilder()
        .register("t", delta)
        .execute(f'SELECT COUNT(*) AS n FROM "t" WHERE {_predicate(table.id_column, employee_id)}')
        .read_all()
    )
    return int(result["n"].to_pylist()[0])


# -- the fallback exports ----------------------------------------------------------------------
def export_keys(store: Store) -> list[str]:
    return [k for k in store.list(SCORES_PREFIX) if k.endswith(f"/{SCORES_FILE}")]


def _read_export(data: bytes) -> pa.Table:
    return pa.ipc.open_file(io.BytesIO(data)).read_all()


def _export_day(key: str) -> date:
    return date.fromisoformat(key[len(SCORES_PREFIX) :].split("/")[0])


def without_employee(data: bytes, employee_id: int) -> tuple[bytes, int]:
    """The export's bytes without one employee's row (same schema, zstd like the original),
    and how many rows were dropped."""
    table = _read_export(data)
    keep = pc.not_equal(table.column("employee_id"), pa.scalar(int(employee_id), pa.int64()))
    kept = table.filter(keep)
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(kept)
    return sink.getvalue(), len(table) - len(kept)


def _export_rows(data: bytes, employee_id: int) -> int:
    ids = _read_export(data).column("employee_id")
    return int(pc.sum(pc.equal(ids, pa.scalar(int(employee_id), pa.int64()))).as_py() or 0)


# -- find and erase ----------------------------------------------------------------------------
def find_employee(employee_id: int, where: Locations) -> Findings:
    findings = Findings()
    for table in personal_tables(where.lake_root, where.storage_options):
        findings.tables[table.name] = _count(table, employee_id, where.storage_options)
    store = where.store()
    for key in export_keys(store):
        data = store.read_bytes(key)
        if data is not None:
            findings.exports[key] = _export_rows(data, employee_id)
    return findings


def erase_employee(
    employee_id: int, where: Locations, say: Callable[[str], None] = lambda _: None
) -> ErasureReport:
    """Remove the employee everywhere (see the module docstring for the order and why)."""
    newly = suppression.suppress(where.lake_root, employee_id, where.storage_options)
    results: list[TableErasure] = []
    for table in personal_tables(where.lake_root, where.storage_options):
        say(f"erasing from {table.name} ...")
        predicate = _predicate(table.id_column, employee_id)

        def delete(uri: str = table.uri) -> dict:
            return DeltaTable(uri, storage_options=where.storage_options).delete(predicate)

        metrics = on_conflict_retry(delete)
        cleanup = forget_history(table.uri, where.storage_options)
        results.append(
            TableErasure(
                table=table.name,
                rows_removed=int(metrics.get("num_deleted_rows", 0)),
                files_deleted=cleanup.files_vacuumed,
                kept_from_version=cleanup.kept_from_version,
            )
        )
    exports: list[ExportErasure] = []
    store = where.store()
    for key in export_keys(store):
        data = store.read_bytes(key)
        if data is None:
            continue
        cleaned, removed = without_employee(data, employee_id)
        if removed:
            publish_scores(store, _export_day(key), cleaned)  # checked, atomic, read back
            exports.append(ExportErasure(key, removed))
    _renew_served_export(store, {e.key for e in exports})
    return ErasureReport(employee_id, results, exports, newly)


def _renew_served_export(store: Store, rewritten: set[str]) -> None:
    """Bump CURRENT's scores revision when the export it names was rewritten, so a running
    service reloads it at its next poll (it keeps an export in memory, keyed by path and
    revision) instead of answering from the erased employee's cached score."""
    try:
        pointer = read_pointer(store)
    except PublicationError:
        return  # a damaged pointer is the graph's to repair; nothing is served from it
    if pointer is not None and pointer.scores_path in rewritten:
        point_scores(store, pointer.scores_path)
