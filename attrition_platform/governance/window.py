"""The evaluation window and the proof that the champion never saw it.

Candidate and champion are compared on the candidate's test window (the latest labelled
snapshots of its training set, which the candidate itself never trained, validated or
calibrated on). The comparison is only fair if the champion never did either, so before the
gate compares anything it proves it from what the champion's bundle records: the
`training_set` Delta version it learned from, read back by time travel, and the split of
each of its rows. Everything in its `train` and `validation` splits counts as seen
(validation rows chose its rounds, threshold and calibration; a refit trains on them).

- Time-aware rows: the window shares no (employee, snapshot) row with the champion's fitted
  rows, and starts at least one label horizon after the champion's last fitted snapshot, so no
  exit that labelled a champion training row also labels a window row.
- Static rows (one export, labelled by `Attrition`): the window shares no employee with the
  champion's fitted rows (a person's label does not change between copies of a static export).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.model import training_data as td

FIT_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class WindowProof:
    """Whether the champion is provably unseen on the window, and the evidence either way."""

    unseen: bool
    reason: str
    window_first: str
    window_last: str
    window_rows: int
    champion_fit_rows: int
    champion_fit_last: str | None
    gap_days: int | None
    required_gap_days: int
    shared_rows: int
    shared_employees: int

    def as_metadata(self) -> dict[str, object]:
        return asdict(self)


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame[SNAPSHOT_DATE]).dt.date


def prove_unseen(
    window: pd.DataFrame, champion_rows: pd.DataFrame | None, *, static: bool, horizon_days: int
) -> WindowProof:
    """`window`: the evaluation rows; `champion_rows`: the champion's training set at the version
    it records (all splits), or None when that version cannot be read (then nothing is proved)."""
    w_dates = _dates(window)
    first, last = (min(w_dates).isoformat(), max(w_dates).isoformat()) if len(window) else ("", "")
    base = dict(window_first=first, window_last=last, window_rows=len(window),
                required_gap_days=0 if static else horizon_days)
    if champion_rows is None:
        return WindowProof(False, "the champion's training set version cannot be read back "
                           "(vacuumed or erased history): nothing proves it never saw this window",
                           champion_fit_rows=0, champion_fit_last=None, gap_days=None,
                           shared_rows=0, shared_employees=0, **base)
    if window.empty:
        return WindowProof(False, "the evaluation window is empty", champion_fit_rows=0,
                           champion_fit_last=None, gap_days=None, shared_rows=0, shared_employees=0, **base)
    fit = champion_rows[champion_rows[td.SPLIT].isin(FIT_SPLITS)]
    fit_dates = _dates(fit)
    fit_last = max(fit_dates) if len(fit) else None
    w_keys = pd.MultiIndex.from_arrays([window[KEY].to_numpy(), w_dates.to_numpy()])
    f_keys = pd.MultiIndex.from_arrays([fit[KEY].to_numpy(), fit_dates.to_numpy()])
    shared_rows = int(w_keys.isin(f_keys).sum())
    shared_employees = len(set(window[KEY]) & set(fit[KEY]))
    gap = (min(w_dates) - fit_last).days if fit_last is not None else None
    common = dict(champion_fit_rows=len(fit), champion_fit_last=fit_last.isoformat() if fit_last else None,
                  gap_days=gap, shared_rows=shared_rows, shared_employees=shared_employees, **base)
    if shared_rows:
        return WindowProof(False, f"the champion trained or validated on {shared_rows} of the "
                           f"window's {len(window)} rows", **common)
    if static:
        if shared_employees:
            return WindowProof(False, f"static export: the champion learned the labels of "
                               f"{shared_employees} employees of the window", **common)
        return WindowProof(True, "static export: no employee of the window is in the champion's "
                           "training or validation rows", **common)
    if gap is not None and gap < horizon_days:
        return WindowProof(False, f"the window starts {gap} days after the champion's last "
                           f"training snapshot ({fit_last}); its labels looked {horizon_days} days "
                           "ahead, so exits it learned from also label window rows", **common)
    return WindowProof(True, f"no shared rows, and the window starts {gap} days after the champion's "
                       f"last training snapshot (≥ its {horizon_days}-day label horizon)", **common)

