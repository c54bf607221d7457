"""Synthetic exports in the contract's layout, for trying and testing the file source.

A time-aware export is what an HRIS report of all snapshots looks like: every row of a leaver
carries the exit (date and type), which the file source hides from snapshots taken before it.
A static export is the public IBM layout: one snapshot, `Attrition` = voluntary exit within a
year after it, no date columns.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE, STATIC_NAMES
from attrition_platform.hris.synthetic import SyntheticConfig, simulate

STATIC_LABEL_DAYS = 365


def synthetic_export(config: SyntheticConfig, *, static: bool = False) -> pd.DataFrame:
    company = simulate(config)
    exits = company.terminations.set_index(KEY)
    if static:
        dates = company.snapshot_dates()
        # The snapshot a year before the end, so every label window has elapsed.
        cut = max([d for d in dates if d <= dates[-1] - dt.timedelta(days=STATIC_LABEL_DAYS)] or [dates[0]])
        rows = company.snapshots[company.snapshots[SNAPSHOT_DATE] == cut].copy()
        when = pd.to_datetime(rows[KEY].map(exits["termination_date"]))
        kind = rows[KEY].map(exits["termination_type"])
        left = (kind == "voluntary") & (when > pd.Timestamp(cut)) & (
            when <= pd.Timestamp(cut) + pd.Timedelta(days=STATIC_LABEL_DAYS)
        )
        rows["Attrition"] = left.map({True: "Yes", False: "No"})
        return rows[list(STATIC_NAMES)].reset_index(drop=True)
    rows = company.snapshots.copy()
    rows["termination_date"] = rows[KEY].map(exits["termination_date"])
    rows["termination_type"] = rows[KEY].map(exits["termination_type"])
    rows["Attrition"] = rows["termination_type"].eq("voluntary").map({True: "Yes", False: "No"})
    return rows.reset_index(drop=True)


def write_synthetic_export(config: SyntheticConfig, out: Path, *, static: bool = False) -> int:
    df = synthetic_export(config, static=static)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        df.to_parquet(out, index=False)
    elif out.suffix.lower() == ".csv":
        df.to_csv(out, index=False)
    else:
        raise ValueError(f"--out must end in .csv or .parquet, not {out.suffix!r}")
    return len(df)
