from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from attrition_platform.model import training_data as td

D = dt.date


def _features(dates: list[dt.date], keys: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"EmployeeNumber": k, "snapshot_date": d, "x": 1} for d in dates for k in keys]
    )


def _exits(rows: list[tuple[int, dt.date, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["EmployeeNumber", "termination_date", "termination_type"])


def test_label_is_a_voluntary_exit_inside_the_horizon_only() -> None:
    feats = _features([D(2024, 1, 1)], [1, 2, 3, 4])
    exits = _exits(
        [
            (1, D(2024, 3, 1), "voluntary"),  # inside 90 days
            (2, D(2024, 6, 1), "voluntary"),  # after the horizon
            (3, D(2024, 2, 1), "involuntary"),  # not voluntary
        ]
    )
    rows = td.label_time_aware(feats, exits, 90, known_until=D(2025, 1, 1))
    assert dict(zip(rows["EmployeeNumber"], rows["label"])) == {1: 1, 2: 0, 3: 0, 4: 0}


def test_snapshots_whose_horizon_has_not_elapsed_get_no_label() -> None:
    feats = _features([D(2024, 1, 1), D(2024, 5, 1), D(2024, 6, 1)], [1])
    rows = td.label_time_aware(feats, _exits([]), 90, known_until=D(2024, 8, 1))
    assert sorted(rows["snapshot_date"]) == [D(2024, 1, 1), D(2024, 5, 1)]


def test_exit_known_only_after_the_cutoff_is_not_used() -> None:
    feats = _features([D(2024, 1, 1)], [1])
    exits = _exits([(1, D(2024, 3, 1), "voluntary")])
    # Exits are only known up to Feb: the Jan snapshot's 90-day window is not complete.
    assert td.label_time_aware(feats, exits, 90, known_until=D(2024, 2, 15)).empty


def test_time_split_leaves_an_embargo_before_validation_and_tests_on_the_latest_window() -> None:
    dates = [D(2023, m, 1) for m in range(1, 13)] + [D(2024, m, 1) for m in range(1, 7)]
    rows = _features(dates, [1, 2])
    rows["label"] = 0
    out = td.assign_split(rows, td.SplitPlan(validation_snapshots=2, test_snapshots=2), 90)
    by = {s: sorted(set(out.loc[out["split"] == s, "snapshot_date"])) for s in td.SPLITS}
    assert by["test"] == [D(2024, 5, 1), D(2024, 6, 1)]
    assert by["validation"] == [D(2024, 3, 1), D(2024, 4, 1)]
    assert max(by["train"]) + dt.timedelta(days=90) <= min(by["validation"])
    assert D(2024, 1, 1) not in set(out["snapshot_date"])  # inside the embargo gap: dropped


def test_too_little_history_is_a_clear_error() -> None:
    rows = _features([D(2024, 1, 1), D(2024, 2, 1)], [1])
    rows["label"] = 0
    with pytest.raises(td.TrainingDataError, match="needs at least 7"):
        td.assign_split(rows, td.SplitPlan(), 180)


def test_static_split_is_stratified_and_stable_across_row_order() -> None:
    rows = _features([D(2024, 1, 1)], list(range(1, 1001)))
    rows["label"] = (rows["EmployeeNumber"] % 6 == 0).astype(int)
    a = td.assign_split(rows, td.SplitPlan(), 180)
    b = td.assign_split(rows.sample(frac=1, random_state=3), td.SplitPlan(), 180)
    merged = a.merge(b, on="EmployeeNumber")
    assert (merged["split_x"] == merged["split_y"]).all()
    rates = a.groupby("split")["label"].mean()
    assert rates.max() - rates.min() < 0.02
    assert a["split"].value_counts()["test"] == pytest.approx(200, abs=2)
