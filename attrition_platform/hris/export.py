"""Synthetic exports in the contract's layout, for trying and testing the file source.

A time-aware export is what an HRIS report of all snapshots looks like: every row of a leaver
carries the exit (date and type), which the file source hides from snapshots taken before it.
A static export is the public IBM layout: one snapshot, `Attrition` = voluntary exit within a
year after it, no date columns.
"""

from __future__ import annotations

import datetime as dt
import os
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


class ExportTargetError(ValueError):
    """The export cannot be written where asked; one line naming the path and the reason."""


def write_synthetic_export(config: SyntheticConfig, out: Path, *, static: bool = False) -> int:
    """Write the export and return its row count.

    The target is checked before the simulation (which can take a while) and written to a
    temporary name first, so a failure never leaves a half-written export under `out`.
    """
    kind = _target_kind(out)
    _prepare_directory(out)
    df = synthetic_export(config, static=static)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if kind == "parquet":
            df.to_parquet(partial, index=False)
        else:
            df.to_csv(partial, index=False)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ExportTargetError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(df)


def _target_kind(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        shown = f"not {out.suffix!r}" if out.suffix else "the name has no suffix"
        raise ExportTargetError(f"--out {out}: expected a .csv or .parquet file ({shown})")
    return suffix[1:]


def _prepare_directory(out: Path) -> None:
    if out.is_dir():
        raise ExportTargetError(f"cannot write {out}: it is a directory")
    blocking = next((p for p in (out.parent, *out.parent.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise ExportTargetError(f"cannot write {out}: {blocking} is a file, not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportTargetError(
            f"cannot write {out}: cannot create {out.parent} ({exc.strerror or exc})"
        ) from None
    if not os.access(out.parent, os.W_OK):
        raise ExportTargetError(f"cannot write {out}: {out.parent} is not writable")
