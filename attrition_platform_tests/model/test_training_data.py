from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from attrition_platform.model import training_data as td
from attrition_platform.resources.hris import exits_known_by

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
    feats = _features([D(2024, 1, 1), D(2024, 5, 1), D(2024, 6, 1)], [1, 2])
    exits = _exits([(2, D(2024, 3, 1), "voluntary")])
    rows = td.label_time_aware(feats, exits, 90, known_until=D(2024, 8, 1))
    assert sorted(set(rows["snapshot_date"])) == [D(2024, 1, 1), D(2024, 5, 1)]


def test_exit_known_only_after_the_cutoff_is_not_used() -> None:
    feats = _features([D(2024, 1, 1)], [1])
    exits = _exits([(1, D(2024, 3, 1), "voluntary")])
    # Exits are only known up to Feb: the Jan snapshot's 90-day window is not complete.
    assert td.label_time_aware(feats, exits, 90, known_until=D(2024, 2, 15)).empty


def test_label_window_is_open_at_the_snapshot_and_closed_at_the_horizon() -> None:
    snap = D(2024, 1, 1)
    feats = _features([snap], [1, 2, 3, 4])
    exits = _exits(
        [
            (1, snap + dt.timedelta(days=90), "voluntary"),  # exactly at the horizon: inside
            (2, snap + dt.timedelta(days=91), "voluntary"),  # one day after: outside
            (3, snap, "voluntary"),  # on the snapshot day itself: already gone, not a leaver
            (4, snap + dt.timedelta(days=1), "voluntary"),  # the day after: inside
        ]
    )
    rows = td.label_time_aware(feats, exits, 90, known_until=D(2025, 1, 1))
    assert dict(zip(rows["EmployeeNumber"], rows["label"])) == {1: 1, 2: 0, 3: 0, 4: 1}


def test_a_rehired_employee_s_two_exits_each_label_their_own_rows() -> None:
    dates = [D(2024, 1, 1), D(2024, 7, 1), D(2025, 1, 1), D(2025, 7, 1)]
    feats = _features(dates, [1, 2])
    # Employee 1 leaves in Feb 2024, is rehired, and leaves again in Aug 2025.
    exits = _exits([(1, D(2024, 2, 15), "voluntary"), (1, D(2025, 8, 15), "voluntary")])
    rows = td.label_time_aware(feats, exits, 90, known_until=D(2026, 1, 1))
    one = rows[rows["EmployeeNumber"] == 1].set_index("snapshot_date")["label"].to_dict()
    assert one == {D(2024, 1, 1): 1, D(2024, 7, 1): 0, D(2025, 1, 1): 0, D(2025, 7, 1): 1}


def test_exits_known_by_keeps_both_exits_of_a_rehire() -> None:
    table = pd.DataFrame(
        {
            "EmployeeNumber": [1, 1, 1, 1, 2],
            "snapshot_date": [D(2024, 1, 1), D(2024, 2, 1), D(2025, 1, 1), D(2025, 2, 1), D(2024, 1, 1)],
            "termination_date": [D(2024, 2, 15), D(2024, 2, 15), D(2025, 8, 15), D(2025, 8, 15), None],
            "termination_type": ["voluntary", "voluntary", "involuntary", "involuntary", None],
        }
    )
    out = exits_known_by(table, D(2026, 1, 1))
    assert list(zip(out["EmployeeNumber"], out["termination_date"], out["termination_type"])) == [
        (1, D(2024, 2, 15), "voluntary"),
        (1, D(2025, 8, 15), "involuntary"),
    ]
    assert len(exits_known_by(table, D(2025, 1, 1))) == 1  # the second exit is not known yet


def test_an_export_without_exits_is_a_clear_error_not_a_type_error() -> None:
    feats = _features([D(2024, 1, 1), D(2024, 2, 1)], [1, 2])
    with pytest.raises(td.TrainingDataError, match="no leavers: the export records no voluntary exit"):
        td.label_time_aware(feats, _exits([]), 90, known_until=D(2025, 1, 1))
    no_columns = pd.DataFrame({"EmployeeNumber": pd.Series(dtype="int64")})
    with pytest.raises(td.TrainingDataError, match="no leavers"):
        td.label_time_aware(feats, no_columns, 90, known_until=D(2025, 1, 1))


def test_no_labelled_snapshot_is_a_clear_error() -> None:
    rows = _features([D(2024, 1, 1)], [1]).iloc[0:0].assign(label=0)
    with pytest.raises(td.TrainingDataError, match="no labelled snapshot yet: .* 180-day horizon"):
        td.assign_split(rows, td.SplitPlan(), 180)


def test_a_static_export_without_leavers_says_so() -> None:
    rows = _features([D(2024, 1, 1)], [1, 2, 3])
    rows["Attrition"] = "No"
    with pytest.raises(td.TrainingDataError, match="no leavers"):
        td.label_static(rows)


def _monthly(first: dt.date, n: int) -> list[dt.date]:
    return [D(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1) for i in range(n)]


def _split_dates(dates: list[dt.date], plan: td.SplitPlan, horizon: int) -> dict[str, list[dt.date]]:
    rows = _features(dates, [1])
    rows["label"] = 0
    out = td.assign_split(rows, plan, horizon)
    return {s: sorted(set(out.loc[out["split"] == s, "snapshot_date"])) for s in td.SPLITS}


def test_time_split_embargoes_validation_and_test_and_tests_on_the_latest_window() -> None:
    by = _split_dates(_monthly(D(2023, 1, 1), 24), td.SplitPlan(validation_days=60, test_days=60), 90)
    assert by["test"] == [D(2024, 11, 1), D(2024, 12, 1)]
    # Every validation label window (D, D+90] closes on or before the test window opens.
    assert by["validation"] == [D(2024, 7, 1), D(2024, 8, 1)]
    assert max(by["validation"]) + dt.timedelta(days=90) <= min(by["test"])
    assert max(by["train"]) + dt.timedelta(days=90) <= min(by["validation"])
    assert D(2024, 9, 1) not in by["validation"] + by["test"] + by["train"]  # embargo: dropped


def _span(window: list[dt.date], step_days: int) -> int:
    """Days a window of snapshots stands for: first snapshot to one cadence step after the last."""
    return (window[-1] - window[0]).days + step_days


def test_windows_in_days_cover_the_same_span_weekly_and_monthly() -> None:
    plan = td.SplitPlan()  # 90 validation days, 90 test days, embargo = horizon
    monthly = _split_dates(_monthly(D(2022, 1, 1), 36), plan, 180)
    weekly = _split_dates([D(2022, 1, 3) + dt.timedelta(weeks=i) for i in range(156)], plan, 180)
    assert len(monthly["test"]) == len(monthly["validation"]) == 3
    assert len(weekly["test"]) == len(weekly["validation"]) == 13
    for split in ("validation", "test"):
        assert abs(_span(monthly[split], 30) - _span(weekly[split], 7)) <= 7
        assert 84 <= _span(weekly[split], 7) <= 96
    for by in (monthly, weekly):
        assert (min(by["test"]) - max(by["validation"])).days >= 180
        assert (min(by["validation"]) - max(by["train"])).days >= 180


def test_too_little_history_says_how_many_days_and_snapshots_are_missing() -> None:
    dates = _monthly(D(2024, 1, 1), 10)
    with pytest.raises(td.TrainingDataError) as err:
        _split_dates(dates, td.SplitPlan(), 180)
    message = str(err.value)
    assert "span 274 days (10 snapshot(s)" in message
    # 3 test + 5 inside the 180-day embargo + 3 validation + 5 embargo + 1 training = 17 months.
    assert "about 217 more days (7 more snapshot(s))" in message
    _split_dates(_monthly(D(2023, 6, 1), 17), td.SplitPlan(), 180)  # exactly enough: no error
    with pytest.raises(td.TrainingDataError, match=r"\(1 more snapshot\(s\)\)"):
        _split_dates(_monthly(D(2023, 7, 1), 16), td.SplitPlan(), 180)


def test_the_split_shares_no_exit_event_between_splits() -> None:
    dates = _monthly(D(2022, 1, 1), 36)
    keys = list(range(1, 301))
    feats = _features(dates, keys)
    # One exit per employee, spread over the whole period; employees leave after their exit.
    exit_of = {k: dates[0] + dt.timedelta(days=3 * k + 1) for k in keys}
    feats = feats[feats["snapshot_date"] < feats["EmployeeNumber"].map(exit_of)]
    exits = _exits([(k, d, "voluntary") for k, d in exit_of.items()])
    rows = td.label_time_aware(feats, exits, 180, known_until=dates[-1])
    sealed = td.assign_split(rows.copy(), td.SplitPlan(), 180)
    assert set(sealed["split"]) == set(td.SPLITS)
    assert td.shared_exit_events(sealed, exits, 180) == {
        "train_validation": 0, "train_test": 0, "validation_test": 0
    }
    # Without the embargo (validation right before test, as the old split did), they share exits.
    leaky = td.assign_split(rows.copy(), td.SplitPlan(embargo_days=0), 180)
    assert td.shared_exit_events(leaky, exits, 180)["validation_test"] > 0


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
