"""Reading every byte a Delta table leaves on disk: what the privacy tests search for ids in.

Parquet files (data and checkpoints) are compressed, so a raw byte search proves nothing: they
are decoded with pyarrow and searched as text; everything else (JSON commits, _last_checkpoint)
is searched as raw bytes.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def texts_on_disk(root: Path) -> dict[Path, str]:
    """Every file under `root` as searchable text (parquet decoded row by row)."""
    out: dict[Path, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            out[path] = repr(pq.read_table(path).to_pylist())
        else:
            out[path] = path.read_bytes().decode("utf-8", errors="replace")
    return out


def files_holding(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """needle -> files (relative to root) whose text holds it."""
    texts = texts_on_disk(root)
    found: dict[str, list[str]] = {}
    for needle in needles:
        hits = [str(p.relative_to(root)) for p, text in texts.items() if needle in text]
        if hits:
            found[needle] = hits
    return found


def parquet_values(root: Path, column: str) -> list[object]:
    """Every value of `column` in every data file under `root` (checkpoints excluded), whether
    or not the latest version references the file."""
    values: list[object] = []
    for path in sorted(root.rglob("*.parquet")):
        if "_delta_log" in path.parts:
            continue
        table = pq.read_table(path)
        if column in table.column_names:
            values += table.column(column).to_pylist()
    return values


ID_COLUMNS = ("EmployeeNumber", "employee_id")


def _stats_hold(stats: object, employee_id: int) -> bool:
    if not stats:
        return False
    parsed = json.loads(stats) if isinstance(stats, str) else stats
    return any(
        parsed.get(bound, {}).get(column) == employee_id
        for bound in ("minValues", "maxValues")
        for column in ID_COLUMNS
    )


def _action_holds(action: dict, employee_id: int) -> bool:
    for kind in ("add", "remove"):
        body = action.get(kind)
        if body and _stats_hold(body.get("stats"), employee_id):
            return True
    info = action.get("commitInfo")
    if info:
        text = json.dumps(info.get("operationParameters", {}))
        if re.search(rf"(EmployeeNumber|employee_id)\\?\"? *(=|IN|in) *\(?{employee_id}\b", text):
            return True
    return False


def files_holding_employee(root: Path, employee_id: int) -> list[str]:
    """Every file under `root` that still holds the employee: a data file with the id in an id
    column, a Delta commit or checkpoint whose file statistics (min/max) or operation
    predicate name it, or an Arrow IPC export with a row for it."""
    hits: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            if "_delta_log" in path.parts:  # a checkpoint: one action per row
                rows = table.to_pylist()
                if any(_action_holds({k: v for k, v in r.items() if v}, employee_id) for r in rows):
                    hits.append(rel)
                continue
            for column in ID_COLUMNS:
                if column in table.column_names and employee_id in table.column(column).to_pylist():
                    hits.append(rel)
        elif path.suffix == ".json" and "_delta_log" in path.parts:
            for line in path.read_text().splitlines():
                if line.strip() and _action_holds(json.loads(line), employee_id):
                    hits.append(rel)
                    break
        elif path.suffix == ".arrow":
            table = pa.ipc.open_file(io.BytesIO(path.read_bytes())).read_all()
            if employee_id in table.column("employee_id").to_pylist():
                hits.append(rel)
    return hits
