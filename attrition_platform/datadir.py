"""The data directory as a unit: one writer at a time, one recorded source, a safe reset.

A data directory (ATTRITION_HOME) holds the lake, the Dagster instance and the MLflow store of
ONE source. Two writers at once duplicate keys and half-migrate SQLite stores; a second source
mixes two companies in one lake. Both are refused here, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrition_platform.settings import Paths

SOURCE_FILE = "_source.json"
# What a data directory may contain; anything else means ATTRITION_HOME points somewhere that
# is not ours, and --reset must not delete in it.
OWN_ENTRIES = {"dagster", "lake", "mlflow", "cache", "serving", "secrets", "alerts", "reports", ".lock"}
STATE_ENTRIES = ("lake", "dagster", "mlflow", "serving", "alerts", "reports")
_FILE_OR_SQL_FIELDS = {"path", "static_snapshot_date", "sql_url", "sql_table", "sql_query"}


class DataDirError(ValueError):
    """The data directory cannot be used as asked; the message says why and the way out."""


# -- one writer ---------------------------------------------------------------------------------
@contextmanager
def exclusive(
    p: Paths,
    command: str,
    wait_seconds: float,
    on_wait: Callable[[str], None],
    poll_seconds: float = 0.5,
) -> Iterator[None]:
    """Hold the data directory's lock for the whole block (flock: released by the kernel when
    the process dies, so a kill -9 never leaves a stale lock behind).

    A second writer waits up to `wait_seconds` (0: not at all), telling `on_wait` who holds it.
    """
    p.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(p.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise DataDirError(
                        f"the data directory {p.home} is in use by {holder}; wait for it to "
                        "finish or use another ATTRITION_HOME"
                    ) from None
                if not told:
                    on_wait(f"waiting for the data directory lock held by {holder} ...")
                    told = True
                time.sleep(poll_seconds)
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "started": started}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} ({info['command']}, started at {info['started']})"
    except (ValueError, KeyError, OSError):
        return "another process"


# -- one source ---------------------------------------------------------------------------------
def source_identity(source: Any) -> dict[str, Any]:
    """Everything about the HRIS source that changes the data it returns.

    For the synthetic kind that is every setting (seed, size, end date, drift knobs...), so a
    knob added later counts without a change here. For a file or SQL source it is where the data
    comes from (an export that grows with new dates is the same source); the SQL password is
    never recorded.
    """
    values = source.model_dump()
    if source.kind == "synthetic":
        return {k: v for k, v in values.items() if k not in _FILE_OR_SQL_FIELDS}
    ident: dict[str, Any] = {"kind": source.kind, "static_snapshot_date": values["static_snapshot_date"]}
    if source.kind == "file":
        ident["path"] = str(Path(values["path"]).expanduser().resolve()) if values["path"] else None
    else:
        ident.update(sql_url=source.masked_sql_url(), sql_table=values["sql_table"],
                     sql_query=values["sql_query"])
    return ident


def describe(ident: dict[str, Any]) -> str:
    if ident.get("kind") == "synthetic":
        return (f"synthetic seed {ident.get('seed')}, {ident.get('employees')} employees, "
                f"{ident.get('months')} months to {ident.get('end_date')}")
    if ident.get("kind") == "file":
        return f"the file export {ident.get('path')}"
    return f"the SQL source {ident.get('sql_url')} ({ident.get('sql_table') or 'query'})"


def _differences(held: dict[str, Any], asked: dict[str, Any]) -> str:
    if held.get("kind") != asked.get("kind"):
        return describe(asked)
    parts = []
    for key in sorted(set(held) | set(asked)):
        if held.get(key) != asked.get(key):
            parts.append(f"{key.replace('_', ' ')} {asked.get(key)}")
    return ", ".join(parts)


def check_source(p: Paths, ident: dict[str, Any]) -> None:
    """Refuse a source other than the one the data directory holds; record it on first use.

    Call before anything is written. An empty data directory records `ident`.
    """
    ident = json.loads(json.dumps(ident, sort_keys=True, default=str))  # as it reads back
    recorded = p.lake / SOURCE_FILE
    if recorded.is_file():
        held = json.loads(recorded.read_text())
        if held != ident:
            raise DataDirError(
                f"this data directory ({p.home}) holds {describe(held)}; you asked for "
                f"{_differences(held, ident)}. Use another ATTRITION_HOME, or `attrition demo "
                "--reset` to wipe this one"
            )
        return
    tables = [d.name for d in p.lake.iterdir() if d.is_dir()] if p.lake.is_dir() else []
    if tables:
        raise DataDirError(
            f"this data directory ({p.home}) holds tables ({', '.join(sorted(tables))}) from an "
            "unrecorded source. Use another ATTRITION_HOME, or `attrition demo --reset` to wipe it"
        )
    p.lake.mkdir(parents=True, exist_ok=True)
    tmp = recorded.with_suffix(".tmp")
    tmp.write_text(json.dumps(ident, indent=2, sort_keys=True, default=str))
    os.replace(tmp, recorded)  # atomic: a reader sees no file or the whole file


# -- reset --------------------------------------------------------------------------------------
def foreign_entries(home: Path) -> list[str]:
    """What a directory holds that a data directory never does (sorted names; [] if absent)."""
    if not home.is_dir():
        return []
    return sorted(e.name for e in home.iterdir() if e.name not in OWN_ENTRIES)


def reset(p: Paths, say: Callable[[str], None]) -> None:
    """Wipe the lake, the Dagster instance and the MLflow store of this data directory.

    Only inside ATTRITION_HOME, and only when the home looks like a data directory (nothing in
    it that is not ours): a mistyped ATTRITION_HOME=~ must not delete a home directory.
    """
    if not p.home.is_dir():
        return
    foreign = foreign_entries(p.home)
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise DataDirError(
            f"--reset refused: {p.home} does not look like an attrition data directory "
            f"(it also holds {shown})"
        )
    for name in STATE_ENTRIES:
        target = p.home / name
        if target.exists():
            say(f"reset: removing {target}")
            shutil.rmtree(target)
