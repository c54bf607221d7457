"""Small, valid HRIS frames built straight from the contract, for the source tests.

Derived from `contract.COLUMNS` rather than from the synthetic generator so that source tests
only depend on the contract, and every domain change shows up here automatically.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from attrition_platform import contract


def static_rows(n: int, *, seed: int = 7) -> pd.DataFrame:
    """`n` rows in the IBM layout, every value inside its contract domain, unique keys."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for col in contract.STATIC_COLUMNS:
        if col.name == contract.KEY:
            data[col.name] = np.arange(1, n + 1, dtype=np.int64) * 3
        elif col.kind == "int":
            assert col.low is not None and col.high is not None
            data[col.name] = rng.integers(int(col.low), int(col.high) + 1, size=n)
        else:
            data[col.name] = rng.choice(np.array(col.categories, dtype=object), size=n)
    return pd.DataFrame(data)


def time_aware_rows(
    n: int, *, snapshots: tuple[str, ...] = ("2024-01-31", "2024-02-29"), seed: int = 7
) -> pd.DataFrame:
    """The same employees at every snapshot, with dates as ISO text like a CSV export has them.

    Every third employee has left (both termination columns set), the others are still employed
    (both null), so the nullable columns are exercised in both states.
    """
    base = static_rows(n, seed=seed).drop(columns="Attrition")
    hire = [dt.date(2015, 1, 1) + dt.timedelta(days=int(d)) for d in np.arange(n) * 37]
    left = np.arange(n) % 3 == 0
    frames = []
    for snapshot in snapshots:
        frame = base.copy()
        frame[contract.SNAPSHOT_DATE] = snapshot
        frame["hire_date"] = [d.isoformat() for d in hire]
        frame["termination_date"] = np.where(left, "2023-12-15", None)
        frame["termination_type"] = np.where(left, "voluntary", None)
        frame["opt_out"] = np.arange(n) % 5 == 0
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
