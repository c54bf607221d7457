"""What is current in a data directory, judged by results and content rather than by names.

A snapshot partition is current when its latest run succeeded (a failed blocking check fails
the run, so its partition is retried). The model is current when the challenger alias loads and
was trained on inputs with the same content as today's: rewriting identical snapshots
(`--refresh`) bumps Delta versions but not content, so it registers nothing new.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE

INPUT_TABLES = ("employee_features", "hris_terminations")
INPUTS_TAG = "attrition.inputs_sha256"
ALIAS = "challenger"


def table_digest(df: pd.DataFrame) -> str:
    """A digest of a table's rows, independent of row order, column order and Delta version."""
    df = df[sorted(df.columns)]
    order = [c for c in (SNAPSHOT_DATE, KEY) if c in df.columns]
    if order:
        df = df.sort_values(order, kind="stable")
    h = hashlib.sha256(",".join(f"{c}:{df[c].dtype}" for c in df.columns).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def inputs_fingerprint(lake: Any, source_identity: dict[str, Any]) -> str:
    """The content of everything training reads: the source and the tables it landed."""
    h = hashlib.sha256(repr(sorted(source_identity.items())).encode())
    for table in INPUT_TABLES:
        h.update(table.encode())
        if lake.exists(table):
            h.update(table_digest(lake.read(table)).encode())
    return h.hexdigest()


def model_is_current(registry: Any, fingerprint: str) -> bool:
    version = registry.alias_version(ALIAS)
    if version is None or version.tags.get(INPUTS_TAG) != fingerprint:
        return False
    return bool(registry.alias_loads(ALIAS))


def record_inputs(registry: Any, fingerprint: str) -> str | None:
    """Tag the challenger (after its training run succeeded) with the content it learned from."""
    version = registry.alias_version(ALIAS)
    if version is None:
        return None
    registry.client().set_model_version_tag(registry.model_name, version.version, INPUTS_TAG, fingerprint)
    return str(version.version)
