"""The proof that the champion never saw the evaluation window, on rows built to pass or fail."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.governance.window import prove_unseen
from attrition_platform.model import training_data as td


def _rows(dates: list[str], employees: range, split: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{KEY: e, SNAPSHOT_DATE: dt.date.fromisoformat(d), td.SPLIT: split} for d in dates for e in employees]
    )


WINDOW = _rows(["2026-09-01", "2026-10-01"], range(100), "test")


def test_a_window_after_the_champions_fit_rows_and_its_horizon_is_proved_unseen() -> None:
    champion = pd.concat([_rows(["2025-12-01", "2026-01-01"], range(100), "train"),
                          _rows(["2026-03-01"], range(100), "validation"),
                          _rows(["2026-09-01", "2026-10-01"], range(100), "test")])
    proof = prove_unseen(WINDOW, champion, static=False, horizon_days=180)
    assert proof.unseen, proof.reason
    assert proof.champion_fit_last == "2026-03-01"
    assert proof.gap_days == 184 and proof.shared_rows == 0


def test_a_window_row_the_champion_trained_on_is_refused_with_the_count() -> None:
    champion = _rows(["2026-10-01"], range(10), "train")
    proof = prove_unseen(WINDOW, champion, static=False, horizon_days=30)
    assert not proof.unseen
    assert proof.shared_rows == 10
    assert "10 of the window's 200 rows" in proof.reason


def test_validation_rows_count_as_seen() -> None:
    proof = prove_unseen(WINDOW, _rows(["2026-09-01"], range(5), "validation"), static=False, horizon_days=0)
    assert not proof.unseen and proof.shared_rows == 5


def test_a_window_closer_than_one_horizon_to_the_champions_training_is_refused() -> None:
    champion = _rows(["2026-06-01"], range(100, 200), "train")  # other employees, 92 days before
    proof = prove_unseen(WINDOW, champion, static=False, horizon_days=180)
    assert not proof.unseen
    assert proof.gap_days == 92
    assert "180 days ahead" in proof.reason


def test_static_exports_are_judged_by_employee() -> None:
    window = _rows(["2026-10-01"], range(50), "test")
    other_copy = _rows(["2026-11-01"], range(40, 90), "train")  # 10 shared people, later copy
    refused = prove_unseen(window, other_copy, static=True, horizon_days=0)
    assert not refused.unseen and refused.shared_employees == 10
    disjoint = _rows(["2026-11-01"], range(50, 90), "train")
    assert prove_unseen(window, disjoint, static=True, horizon_days=0).unseen


def test_nothing_is_proved_when_the_champions_training_set_cannot_be_read() -> None:
    proof = prove_unseen(WINDOW, None, static=False, horizon_days=180)
    assert not proof.unseen
    assert "cannot be read back" in proof.reason
