"""The synthetic HRIS: contract-valid, seeded, realistic enough to learn from, and drift on cue.

Simulations are shared through module fixtures so the whole file stays fast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attrition_platform import contract
from attrition_platform.hris.synthetic import SimulatedCompany, SyntheticConfig, simulate

KEY = contract.KEY
SNAP = contract.SNAPSHOT_DATE
BASE = SyntheticConfig(employees=3000, months=36, seed=11)
DRIFT = SyntheticConfig(employees=2500, months=24, seed=5)
DRIFT_START = dt.date(2025, 11, 1)  # snapshot 12 of 24 (first is 2024-12-01)


@pytest.fixture(scope="module")
def company() -> SimulatedCompany:
    return simulate(BASE)


@pytest.fixture(scope="module")
def undrifted() -> SimulatedCompany:
    return simulate(DRIFT)


def _drifted(**knobs: Any) -> SimulatedCompany:
    return simulate(replace(DRIFT, drift_start=DRIFT_START, **knobs))


def _before(df: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return df[df[SNAP] < day].reset_index(drop=True)


def _after(df: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return df[df[SNAP] >= day].reset_index(drop=True)


def _exit_share(company: SimulatedCompany, kind: str, start: int, months: int = 12) -> float:
    """Share of the employees on snapshot `start` who leave (`kind`) within `months` months.

    This is the rate the generator calibrates: a share of people, like IBM's 16% Attrition and
    like the platform's labels (leavers over headcount runs higher: new hires churn early).
    """
    dates = company.snapshot_dates()
    snaps, terms = company.snapshots, company.terminations
    ids = snaps.loc[snaps[SNAP] == dates[start], KEY]
    exits = terms[(terms["termination_type"] == kind) & terms[KEY].isin(ids)]
    return float((exits["termination_date"] < dates[start + months]).sum() / len(ids))


def _yearly_shares(company: SimulatedCompany, kind: str) -> list[float]:
    last = len(company.snapshot_dates()) - 12
    return [_exit_share(company, kind, start) for start in range(0, last, 12)]


def _exit_rate_ratio(company: SimulatedCompany, since: dt.date, flag: pd.Series) -> float:
    """Monthly voluntary exit rate of flagged snapshot rows over that of the other rows.

    Each row from `since` on counts as leaving if the person quits before the next snapshot.
    """
    snaps, dates = company.snapshots, company.snapshot_dates()
    exits = company.terminations[company.terminations["termination_type"] == "voluntary"]
    when = pd.to_datetime(snaps[KEY].map(exits.set_index(KEY)["termination_date"]))
    following = pd.to_datetime(snaps[SNAP].map(dict(zip(dates[:-1], dates[1:]))))
    window = (snaps[SNAP] >= since) & following.notna()
    left, flag = (when < following)[window], flag[window]
    return left[flag].mean() / left[~flag].mean()


# -- rates -----------------------------------------------------------------------------------


def test_voluntary_attrition_lands_in_the_13_to_19_percent_yearly_band(
    company: SimulatedCompany,
) -> None:
    shares = _yearly_shares(company, "voluntary")
    assert len(shares) == 2
    assert all(0.13 <= r <= 0.19 for r in shares), shares


def test_involuntary_exits_are_separate_and_driven_by_low_performance(
    company: SimulatedCompany,
) -> None:
    terms = company.terminations
    assert set(terms["termination_type"]) == {"voluntary", "involuntary"}
    assert all(0.015 <= r <= 0.05 for r in _yearly_shares(company, "involuntary"))
    last = company.snapshots.drop_duplicates(KEY, keep="last").set_index(KEY)["PerformanceRating"]
    rating = terms.set_index(KEY)["termination_type"].to_frame().join(last)
    low = rating["PerformanceRating"] <= 2
    by_kind = low.groupby(rating["termination_type"]).mean()
    assert by_kind["involuntary"] > 5 * by_kind["voluntary"]


def test_headcount_stays_within_ten_percent_of_the_initial_one(company: SimulatedCompany) -> None:
    heads = company.snapshots.groupby(SNAP).size()
    assert heads.iloc[0] == BASE.employees
    assert ((heads - BASE.employees).abs() <= 0.1 * BASE.employees).all()


def test_voluntary_exits_within_180_days_are_learnable_from_snapshot_features(
    company: SimulatedCompany,
) -> None:
    xgb = pytest.importorskip("xgboost")
    from sklearn.metrics import roc_auc_score

    snaps = company.snapshots
    last = company.snapshot_dates()[-1] - dt.timedelta(days=180)
    quarterly = [d for d in company.snapshot_dates()[::3] if d <= last]
    rows = snaps[snaps[SNAP].isin(quarterly)].reset_index(drop=True)
    exits = company.terminations[company.terminations["termination_type"] == "voluntary"]
    when = pd.to_datetime(rows[KEY].map(exits.set_index(KEY)["termination_date"]))
    days = (when - pd.to_datetime(rows[SNAP])).dt.days
    y = ((days > 0) & (days <= 180)).to_numpy()
    drop = ["Attrition", "EmployeeCount", "Over18", "StandardHours", KEY]
    features = [c for c in contract.STATIC_NAMES if c not in drop]
    cats = [c for c in contract.CATEGORICAL if c in features]
    x = pd.get_dummies(rows[features], columns=cats, dtype=float)
    train = (rows[KEY] % 2 == 0).to_numpy()  # split by employee, never within one person
    model = xgb.XGBClassifier(n_estimators=120, max_depth=4, learning_rate=0.1, n_jobs=2)
    model.fit(x[train], y[train])
    auc = roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1])
    assert auc > 0.74, auc


# -- determinism -----------------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    config = SyntheticConfig(employees=300, months=6, seed=3)
    a, b = simulate(config), simulate(config)
    pd.testing.assert_frame_equal(a.snapshots, b.snapshots)
    pd.testing.assert_frame_equal(a.terminations, b.terminations)


def test_different_seeds_give_different_frames() -> None:
    a = simulate(SyntheticConfig(employees=300, months=6, seed=3))
    b = simulate(SyntheticConfig(employees=300, months=6, seed=4))
    assert not a.snapshots.equals(b.snapshots)
    assert not a.terminations.equals(b.terminations)


# -- contract and consistency ----------------------------------------------------------------


def test_snapshots_satisfy_the_contract_with_canonical_dtypes(company: SimulatedCompany) -> None:
    snaps = company.snapshots
    assert contract.find_violations(snaps) == []
    assert list(snaps.columns) == list(contract.COLUMNS)
    for col in contract.COLUMNS.values():
        s = snaps[col.name]
        if col.kind == "int":
            assert s.dtype == np.int64, col.name
        elif col.kind == "bool":
            assert s.dtype == bool, col.name
        elif col.name in ("termination_date", "termination_type"):
            assert s.isna().all(), col.name
        elif col.kind == "category":
            assert s.dtype == object and isinstance(s.iloc[0], str), col.name
        else:
            assert s.dtype == object and type(s.iloc[0]) is dt.date, col.name
    assert (snaps["Attrition"] == "No").all()
    assert (snaps["EmployeeCount"] == 1).all() and (snaps["Over18"] == "Y").all()
    assert (snaps["StandardHours"] == 80).all()
    # coerce() is a no-op on the output; termination_date is left out because coerce turns an
    # all-empty date column into datetime64 NaT, where the generator keeps object None.
    rest = snaps.drop(columns=["termination_date"])
    pd.testing.assert_frame_equal(contract.coerce(rest), rest)


def test_tenure_fields_are_ordered_and_careers_start_after_18(company: SimulatedCompany) -> None:
    s = company.snapshots
    assert (s["TotalWorkingYears"] >= s["YearsAtCompany"]).all()
    assert (s["YearsAtCompany"] >= s["YearsInCurrentRole"]).all()
    assert (s["YearsSinceLastPromotion"] <= s["YearsAtCompany"]).all()
    assert (s["YearsWithCurrManager"] <= s["YearsAtCompany"]).all()
    assert (s["Age"] - s["TotalWorkingYears"] >= 18).all()
    assert (s["hire_date"] <= s[SNAP]).all()
    tenure_days = (pd.to_datetime(s[SNAP]) - pd.to_datetime(s["hire_date"])).dt.days
    assert ((tenure_days * 4 // 1461).clip(upper=40) == s["YearsAtCompany"]).all()


def test_population_is_shaped_like_the_ibm_data(company: SimulatedCompany) -> None:
    s = company.snapshots
    assert s["Age"].between(18, 60).all() and 35 <= s["Age"].mean() <= 40
    assert 0.24 <= (s["OverTime"] == "Yes").mean() <= 0.32
    income = s.groupby("JobLevel")["MonthlyIncome"].median()
    assert 2_000 <= income[1] <= 4_000 and 17_000 <= income[5] <= 20_000
    assert income.is_monotonic_increasing
    roles = s.groupby("Department")["JobRole"].agg(set)
    assert roles["Sales"] <= {"Sales Executive", "Sales Representative", "Manager"}
    assert roles["Human Resources"] <= {"Human Resources", "Manager"}
    assert roles["Research & Development"].isdisjoint(
        {"Sales Executive", "Sales Representative", "Human Resources"}
    )


def test_opt_out_share_is_near_config_and_fixed_per_employee(company: SimulatedCompany) -> None:
    s = company.snapshots
    assert (s.groupby(KEY)["opt_out"].nunique() == 1).all()
    share = s.drop_duplicates(KEY)["opt_out"].mean()
    assert abs(share - BASE.opt_out_share) < 0.012
    other = simulate(SyntheticConfig(employees=2000, months=1, opt_out_share=0.25))
    assert abs(other.snapshots["opt_out"].mean() - 0.25) < 0.03


def test_people_age_and_gain_tenure_between_snapshots(company: SimulatedCompany) -> None:
    dates = company.snapshot_dates()
    s = company.snapshots.set_index([SNAP, KEY])
    early, late = s.loc[dates[0]], s.loc[dates[24]]  # two years apart
    years = (dates[24] - dates[0]).days / 365.25
    both = early.index.intersection(late.index)
    assert len(both) > 0.5 * len(early)
    for col in ("Age", "YearsAtCompany", "TotalWorkingYears"):
        grown = late.loc[both, col] - early.loc[both, col]
        unclipped = early.loc[both, col] < 38  # TotalWorkingYears stops at 40
        assert grown[unclipped].between(np.floor(years), np.ceil(years)).all(), col
        assert abs(grown[unclipped].mean() - years) < 0.05, col


# -- keys and extracts -----------------------------------------------------------------------


def test_employee_numbers_are_unique_per_snapshot_and_never_reused(
    company: SimulatedCompany,
) -> None:
    s, terms = company.snapshots, company.terminations
    assert not s.duplicated([SNAP, KEY]).any()
    assert terms[KEY].is_unique
    gone = s[KEY].map(terms.set_index(KEY)["termination_date"])
    assert not (gone.notna() & (s[SNAP] >= gone)).any(), "a leaver shows up after the exit"
    # Each month's newcomers get numbers above every number handed out before.
    first_seen = s.groupby(KEY)[SNAP].min().reset_index()
    entrants = first_seen.groupby(SNAP)[KEY].agg(["min", "max"])
    assert len(entrants) == len(company.snapshot_dates())
    earlier_max = entrants["max"].cummax().to_numpy()[:-1]
    assert (entrants["min"].to_numpy()[1:] > earlier_max).all()
    assert terms["termination_date"].is_monotonic_increasing


def test_exits_fall_on_a_day_strictly_inside_a_month(company: SimulatedCompany) -> None:
    days = pd.to_datetime(company.terminations["termination_date"]).dt.day
    assert days.min() >= 2
    first, last = company.snapshot_dates()[0], company.snapshot_dates()[-1]
    assert company.terminations["termination_date"].between(first, last).all()


def test_extract_drops_people_terminated_on_or_before_as_of(company: SimulatedCompany) -> None:
    terms = company.terminations
    as_of = terms["termination_date"].iloc[len(terms) // 2]  # someone leaves exactly that day
    month = as_of.replace(day=1)
    out = company.extract(as_of)
    assert (out[SNAP] == as_of).all()
    left = set(terms.loc[terms["termination_date"] <= as_of, KEY])
    assert left.isdisjoint(out[KEY])
    base = company.snapshots[company.snapshots[SNAP] == month]
    expected = set(base[KEY]) - left
    assert set(out[KEY]) == expected
    later = terms[(terms["termination_date"] > as_of) & terms[KEY].isin(base[KEY])]
    assert set(later[KEY]) <= set(out[KEY]), "people leaving after as_of are still employed"
    assert contract.find_violations(out) == []


def test_extract_on_a_snapshot_date_is_that_snapshot(company: SimulatedCompany) -> None:
    day = company.snapshot_dates()[5]
    expected = company.snapshots[company.snapshots[SNAP] == day].reset_index(drop=True)
    pd.testing.assert_frame_equal(company.extract(day), expected)


def test_extract_before_the_first_snapshot_raises(company: SimulatedCompany) -> None:
    first = company.snapshot_dates()[0]
    with pytest.raises(ValueError, match="no snapshot on or before"):
        company.extract(first - dt.timedelta(days=1))


def test_terminations_as_of_keeps_exits_up_to_that_day(company: SimulatedCompany) -> None:
    day = company.snapshot_dates()[12]
    got = company.terminations_as_of(day)
    assert (got["termination_date"] <= day).all()
    assert len(got) == (company.terminations["termination_date"] <= day).sum()


def test_company_rebuilt_from_its_tables_extracts_the_same(company: SimulatedCompany) -> None:
    rebuilt = SimulatedCompany(company.config, company.snapshots, company.terminations)
    day = company.snapshot_dates()[7] + dt.timedelta(days=10)
    assert rebuilt.snapshot_dates() == company.snapshot_dates()
    pd.testing.assert_frame_equal(rebuilt.extract(day), company.extract(day))


def test_config_rejects_an_end_date_that_is_not_a_first_of_month() -> None:
    with pytest.raises(ValueError, match="1st of a month"):
        SyntheticConfig(end_date=dt.date(2026, 11, 15))


def test_snapshot_dates_are_month_starts_ending_at_end_date() -> None:
    dates = SyntheticConfig(months=14, end_date=dt.date(2026, 2, 1)).snapshot_dates()
    assert dates[0] == dt.date(2025, 1, 1) and dates[-1] == dt.date(2026, 2, 1)
    assert len(dates) == 14 and all(d.day == 1 for d in dates)


# -- drift knobs -----------------------------------------------------------------------------
# Every knob: nothing changes before drift_start (snapshots and exits), its own effect from
# drift_start on, and its effect on exits stated explicitly (none for a reporting change).


def _assert_untouched_before_drift_start(drifted: SimulatedCompany, base: SimulatedCompany) -> None:
    pd.testing.assert_frame_equal(
        _before(drifted.snapshots, DRIFT_START), _before(base.snapshots, DRIFT_START)
    )

    def exits_before(c: SimulatedCompany) -> pd.DataFrame:
        t = c.terminations
        return t[t["termination_date"] < DRIFT_START].reset_index(drop=True)

    pd.testing.assert_frame_equal(exits_before(drifted), exits_before(base))
    assert len(exits_before(base)) > 0


def _voluntary_share_after(company: SimulatedCompany) -> float:
    start = company.snapshot_dates().index(DRIFT_START)
    return _exit_share(company, "voluntary", start, len(company.snapshot_dates()) - 1 - start)


def test_income_drift_multiplies_income_from_drift_start_only(undrifted: SimulatedCompany) -> None:
    drifted = _drifted(drift_income_factor=1.5)
    _assert_untouched_before_drift_start(drifted, undrifted)
    after_base = _after(undrifted.snapshots, DRIFT_START)
    after_new = _after(drifted.snapshots, DRIFT_START)
    ratio = after_new["MonthlyIncome"] / after_base["MonthlyIncome"]
    assert ratio.between(1.499, 1.501).all()
    # Income is a reporting change only: the same people, the same exits.
    pd.testing.assert_frame_equal(
        after_new.drop(columns="MonthlyIncome"), after_base.drop(columns="MonthlyIncome")
    )
    pd.testing.assert_frame_equal(drifted.terminations, undrifted.terminations)


def test_overtime_drift_sets_the_overtime_share_and_exits_follow(
    undrifted: SimulatedCompany,
) -> None:
    drifted = _drifted(drift_overtime_share=0.6)
    _assert_untouched_before_drift_start(drifted, undrifted)
    after = _after(drifted.snapshots, DRIFT_START)
    share = (after["OverTime"] == "Yes").groupby(after[SNAP]).mean()
    assert share.between(0.59, 0.61).all()
    assert (_after(undrifted.snapshots, DRIFT_START)["OverTime"] == "Yes").mean() < 0.35
    # Overtime really drives exits: twice the people on it, clearly more leavers.
    base_rate, new_rate = _voluntary_share_after(undrifted), _voluntary_share_after(drifted)
    assert new_rate > base_rate + 0.03, (new_rate, base_rate)


def test_new_job_role_appears_only_after_drift_start_and_only_in_rnd(
    undrifted: SimulatedCompany,
) -> None:
    drifted = _drifted(drift_new_job_role="Data Scientist")
    _assert_untouched_before_drift_start(drifted, undrifted)
    new = drifted.snapshots
    after = _after(new, DRIFT_START)
    scientists = after[after["JobRole"] == "Data Scientist"]
    assert set(scientists["Department"]) == {"Research & Development"}
    rnd = after[after["Department"] == "Research & Development"]
    assert 0.12 <= (rnd["JobRole"] == "Data Scientist").mean() <= 0.18
    assert any("JobRole" in p for p in contract.find_violations(new))
    assert contract.find_violations(new, allow_new_categories=True) == []
    # A relabelling: the same people leave, on the same days.
    pd.testing.assert_frame_equal(drifted.terminations, undrifted.terminations)


def test_risk_driver_drift_changes_who_leaves_after_drift_start(
    undrifted: SimulatedCompany,
) -> None:
    drifted = _drifted(drift_risk_drivers=True)
    _assert_untouched_before_drift_start(drifted, undrifted)
    pd.testing.assert_frame_equal(
        drifted.terminations_as_of(DRIFT_START), undrifted.terminations_as_of(DRIFT_START)
    )

    def ratios(c: SimulatedCompany) -> tuple[float, float]:
        s = c.snapshots
        overtime = _exit_rate_ratio(c, DRIFT_START, s["OverTime"] == "Yes")
        commute = _exit_rate_ratio(c, DRIFT_START, s["DistanceFromHome"] > 15)
        return overtime, commute

    base_overtime, base_commute = ratios(undrifted)
    new_overtime, new_commute = ratios(drifted)
    assert new_overtime < 0.8 * base_overtime, (new_overtime, base_overtime)
    assert new_commute > 1.2 * base_commute, (new_commute, base_commute)

    # Different people leave after drift_start ...
    def leavers_after(c: SimulatedCompany) -> set[int]:
        t = c.terminations
        return set(t.loc[t["termination_date"] >= DRIFT_START, KEY])

    base_leavers, new_leavers = leavers_after(undrifted), leavers_after(drifted)
    assert len(base_leavers ^ new_leavers) > 0.3 * len(base_leavers)
    # ... but the overall level stays calibrated: drift moves who leaves, not how many.
    before, after = _voluntary_share_after(undrifted), _voluntary_share_after(drifted)
    assert abs(after - before) < 0.03, (after, before)


def test_no_drift_knob_acts_without_drift_start(undrifted: SimulatedCompany) -> None:
    knobs = replace(
        DRIFT,
        drift_income_factor=2.0,
        drift_overtime_share=0.9,
        drift_new_job_role="Data Scientist",
        drift_risk_drivers=True,
    )
    company = simulate(knobs)
    pd.testing.assert_frame_equal(company.snapshots, undrifted.snapshots)
    pd.testing.assert_frame_equal(company.terminations, undrifted.terminations)
