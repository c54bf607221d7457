"""The suppression list: erased employees stay out of every later HRIS extract.

It holds only salted SHA-256 hashes of employee ids, never the ids: the list itself must not
become a register of who asked to be forgotten. Stored as the small Delta table
`suppression_list` in the lake (so it works the same on a local lake and on S3, and two
erasures appending at once both land). The salt is generated once per lake and kept beside the
list in `suppression_list.salt` (mode 0600) for a local lake; production sets
ATTRITION_SUPPRESSION_SALT (from Vault), and a remote lake without it is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from attrition_platform.contracts.storage_options import is_remote

TABLE = "suppression_list"
SALT_FILE = "suppression_list.salt"
SALT_ENV = "ATTRITION_SUPPRESSION_SALT"
HASH_COLUMN = "id_sha256"
SCHEMA = pa.schema(
    [
        pa.field(HASH_COLUMN, pa.string(), nullable=False),
        pa.field("suppressed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


class SuppressionError(ValueError):
    """The suppression list cannot be used as configured; the message names the setting."""


def _uri(lake_root: str) -> str:
    if is_remote(lake_root):
        return f"{lake_root.rstrip('/')}/{TABLE}"
    return str(Path(lake_root.removeprefix("file://")) / TABLE)


def salt(lake_root: str) -> bytes:
    """$ATTRITION_SUPPRESSION_SALT, else the local lake's salt file (created once, 0600)."""
    value = os.environ.get(SALT_ENV, "").strip()
    if value:
        return value.encode()
    if is_remote(lake_root):
        raise SuppressionError(f"{SALT_ENV} must be set when the lake is remote ({lake_root})")
    path = Path(lake_root.removeprefix("file://")) / SALT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a private name, then linked into place: link refuses an existing
        # target, so two first users agree on one salt and nobody reads a half-written file.
        tmp = path.with_name(f".{SALT_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    data = path.read_bytes().strip()
    if not data:
        raise SuppressionError(f"{path}: the salt file is empty")
    return data


def id_hashes(employee_ids: Iterable[int], key: bytes) -> list[str]:
    return [hashlib.sha256(key + str(int(i)).encode()).hexdigest() for i in employee_ids]


def suppressed_hashes(lake_root: str, storage_options: dict[str, str] | None = None) -> set[str]:
    uri = _uri(lake_root)
    if not DeltaTable.is_deltatable(uri, storage_options=storage_options):
        return set()
    table = DeltaTable(uri, storage_options=storage_options).to_pyarrow_table(columns=[HASH_COLUMN])
    return set(table.column(HASH_COLUMN).to_pylist())


def is_suppressed(
    lake_root: str, employee_id: int, storage_options: dict[str, str] | None = None
) -> bool:
    hashes = suppressed_hashes(lake_root, storage_options)
    return bool(hashes) and id_hashes([employee_id], salt(lake_root))[0] in hashes


def suppress(
    lake_root: str,
    employee_id: int,
    storage_options: dict[str, str] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Add one employee; False when already listed (the list never holds a hash twice)."""
    if is_suppressed(lake_root, employee_id, storage_options):
        return False
    uri = _uri(lake_root)
    if not is_remote(lake_root):
        Path(uri).mkdir(parents=True, exist_ok=True)
    row = pa.table(
        {
            HASH_COLUMN: id_hashes([employee_id], salt(lake_root)),
            "suppressed_at": [now or dt.datetime.now(dt.UTC)],
        },
        schema=SCHEMA,
    )
    write_deltalake(uri, row, mode="append", storage_options=storage_options)
    return True


def suppressed_mask(
    employee_ids: Iterable[int], lake_root: str, storage_options: dict[str, str] | None = None
) -> np.ndarray:
    """True for each id on the list. Hashing costs ~1 µs an id, and nothing when the list is
    empty (the common case: the salt is not even read)."""
    ids = list(employee_ids)
    hashes = suppressed_hashes(lake_root, storage_options)
    if not hashes:
        return np.zeros(len(ids), dtype=bool)
    key = salt(lake_root)
    return np.fromiter((h in hashes for h in id_hashes(ids, key)), dtype=bool, count=len(ids))
