"""Reading every byte a Delta table leaves on disk: what the privacy tests search for ids in.

Parquet files (data and checkpoints) are compressed, so a raw byte search proves nothing: they
are decoded with pyarrow and searched as text; everything else (JSON commits, _last_checkpoint)
is searched as raw bytes.
"""

from __future__ import annotations

from pathlib import Path

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
