"""A seeded simulation of a whole company over time that speaks the HRIS data contract.

The platform needs HR data with a real time axis (people age, get promoted, leave and are
replaced) and with knobs that inject drift on a known date, so that training, monitoring and
retraining can be exercised end to end without personal data. Everything is vectorised over
employees with numpy; the only Python loop runs over months. Categories are small integer
codes until the very end, where one table lookup turns them into the contract's strings.

The population is shaped like the public IBM HR attrition data set, but it is a self-consistent
dynamic system first: a vacancy chain (a leaver's post is filled by promoting someone from the
level below or by an outside hire) keeps the department and level mix stable, a burn-in before
the first snapshot lets survivorship settle, and the hidden exit hazards are calibrated so that
the share of employees who leave within a year lands near the configured rate. Hidden dates
(birth, career start, hire, role start, last promotion, manager start) are kept per person, so
Age and the Years* fields are recomputed on every snapshot. Exits and hires fall on a day
strictly inside a month, never on a snapshot date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from attrition_platform import contract

# --------------------------------------------------------------------------------------------
# The hidden models. Every coefficient that decides who leaves or gets promoted lives here, so
# that a reader can see at once what a good attrition model ought to rediscover.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoluntaryRisk:
    """Monthly log-odds contributions of the voluntary-exit hazard (intercept calibrated apart).

    Shaped after what the IBM data shows (overtime, low level and pay, low satisfaction, youth,
    singles, long commutes, travel, no stock options) plus interactions and non-linearities so
    that tree models have something to find that a plain logistic regression misses.
    """

    overtime: float = 1.2
    overtime_low_income: float = 0.6  # interaction: overtime while earning below the threshold
    overtime_low_satisfaction: float = 0.4  # interaction: overtime with JobSatisfaction 1
    low_income_threshold: float = 3_500.0
    log_income: float = -0.45  # per log-unit of base income relative to REFERENCE_INCOME
    job_level_1: float = 0.45
    job_satisfaction: float = 0.22  # per step below 4
    environment_satisfaction: float = 0.2  # per step below 4
    job_involvement: float = 0.2  # per step below 4
    work_life_balance_1: float = 0.8
    work_life_balance_2: float = 0.25
    youth: float = 0.04  # per year below 30
    under_25: float = 0.35
    single: float = 0.55
    commute: float = 0.025  # per mile
    long_commute: float = 0.35  # extra above 20 miles
    travel_rarely: float = 0.3
    travel_frequently: float = 0.8
    no_stock: float = 0.4
    top_stock: float = 0.2
    stale_promotion: float = 0.07  # per year since the last promotion, counted up to 8
    tenure_year_0: float = 0.7  # the first-two-years spike of the tenure U-shape
    tenure_year_1: float = 0.35
    long_tenure: float = 0.04  # per year beyond 10 years at the company
    job_hopper: float = 0.35  # NumCompaniesWorked >= 5
    new_manager: float = 0.2  # less than a year with the current manager
    sales_representative: float = 0.45


@dataclass(frozen=True)
class InvoluntaryRisk:
    """Monthly log-odds of being let go: performance first, a little for probation."""

    rating_1: float = 3.2
    rating_2: float = 2.0
    rating_4: float = -0.8
    involvement_1: float = 0.5
    probation: float = 0.6  # first year at the company


@dataclass(frozen=True)
class PromotionPropensity:
    """Log-weights for who fills a vacancy one level up (sampled without replacement)."""

    rating_4: float = 1.2
    rating_low: float = -2.5  # ratings 1 and 2
    staleness: float = 0.35  # per year since the last promotion, counted up to 5
    involvement: float = 0.2  # per step of JobInvolvement


@dataclass(frozen=True)
class HiddenModel:
    voluntary: VoluntaryRisk
    voluntary_drifted: VoluntaryRisk  # in force from drift_start when drift_risk_drivers is set
    involuntary: InvoluntaryRisk
    promotion: PromotionPropensity


_BASE_RISK = VoluntaryRisk()
HIDDEN_MODEL = HiddenModel(
    voluntary=_BASE_RISK,
    voluntary_drifted=replace(
        _BASE_RISK,
        overtime=_BASE_RISK.overtime / 2,
        overtime_low_income=_BASE_RISK.overtime_low_income / 2,
        overtime_low_satisfaction=_BASE_RISK.overtime_low_satisfaction / 2,
        commute=_BASE_RISK.commute * 2,
        long_commute=_BASE_RISK.long_commute * 2,
        log_income=_BASE_RISK.log_income * 2,
        work_life_balance_1=_BASE_RISK.work_life_balance_1 + 1.0,
        work_life_balance_2=_BASE_RISK.work_life_balance_2 + 0.45,
    ),
    involuntary=InvoluntaryRisk(),
    promotion=PromotionPropensity(),
)
REFERENCE_INCOME = 6_500.0
RETIREMENT_AGE = 61  # people leave (voluntarily) before they would show an Age above 60

# --------------------------------------------------------------------------------------------
# Population shape (IBM-like marginals) and the monthly dynamics.
# --------------------------------------------------------------------------------------------

DEPARTMENTS = contract.COLUMNS["Department"].categories  # Sales, R&D, HR: codes index this
SALES, RND, HR = 0, 1, 2
DEPARTMENT_SHARE = (0.30, 0.655, 0.045)
LEVEL_SHARE = (0.37, 0.36, 0.15, 0.07, 0.05)
JOB_ROLES = contract.JOB_ROLES
_ROLE = {name: i for i, name in enumerate(JOB_ROLES)}
SALES_REPRESENTATIVE = _ROLE["Sales Representative"]

# (department, level) -> weights over the roles of that department; zero means "not here".
_ROLE_TABLE: dict[int, tuple[dict[str, float], ...]] = {
    SALES: (
        {"Sales Representative": 0.85, "Sales Executive": 0.15},
        {"Sales Executive": 0.85, "Sales Representative": 0.15},
        {"Sales Executive": 0.9, "Manager": 0.1},
        {"Sales Executive": 0.3, "Manager": 0.7},
        {"Manager": 1.0},
    ),
    RND: (
        {"Research Scientist": 0.55, "Laboratory Technician": 0.45},
        {
            "Research Scientist": 0.3,
            "Laboratory Technician": 0.3,
            "Manufacturing Director": 0.2,
            "Healthcare Representative": 0.2,
        },
        {
            "Manufacturing Director": 0.35,
            "Healthcare Representative": 0.35,
            "Research Scientist": 0.1,
            "Laboratory Technician": 0.1,
            "Research Director": 0.05,
            "Manager": 0.05,
        },
        {
            "Manufacturing Director": 0.2,
            "Healthcare Representative": 0.2,
            "Research Director": 0.3,
            "Manager": 0.3,
        },
        {"Research Director": 0.5, "Manager": 0.5},
    ),
    HR: (
        {"Human Resources": 1.0},
        {"Human Resources": 1.0},
        {"Human Resources": 0.9, "Manager": 0.1},
        {"Human Resources": 0.3, "Manager": 0.7},
        {"Manager": 1.0},
    ),
}
EDUCATION_FIELDS = contract.COLUMNS["EducationField"].categories
_FIELD_TABLE: dict[int, dict[str, float]] = {
    SALES: {"Life Sciences": 0.35, "Medical": 0.25, "Marketing": 0.35, "Technical Degree": 0.03,
            "Other": 0.02},
    RND: {"Life Sciences": 0.45, "Medical": 0.35, "Technical Degree": 0.12, "Other": 0.08},
    HR: {"Human Resources": 0.42, "Life Sciences": 0.25, "Medical": 0.2, "Technical Degree": 0.06,
         "Other": 0.07},
}

# Pay: entry median per level, spread, and the band ceiling that raises cannot pass.
ENTRY_INCOME = (2_100.0, 4_300.0, 7_600.0, 12_000.0, 17_000.0)
ENTRY_SIGMA = 0.2
INCOME_CAP = (5_000.0, 9_500.0, 13_500.0, 17_500.0, 20_000.0)
PERSONAL_CEILING = (0.85, 1.0)  # each person's pay stops at this share of the band cap
TYPICAL_ANNUAL_RAISE = 1.15  # used only to age the pay of the initial population
PROMOTION_RAISE = (0.08, 0.20)
# TotalWorkingYears at the first snapshot and at hire, mean per job level.
TWY_MEAN = (4.5, 9.0, 14.0, 21.0, 25.0)
HIRE_TWY_MEAN = (2.5, 7.0, 11.0, 17.0, 21.0)
HIRE_AGE_GAP = 8.0  # mean years of age beyond 18 + TotalWorkingYears at hire (study, breaks)

GENDER_SHARE = (0.6, 0.4)  # Male, Female
EDUCATION_SHARE = (0.12, 0.19, 0.39, 0.27, 0.03)
TRAVEL_SHARE = (0.10, 0.71, 0.19)  # Non-Travel, Travel_Rarely, Travel_Frequently
NON_TRAVEL, TRAVEL_RARELY, TRAVEL_FREQUENTLY = 0, 1, 2
MARITAL = contract.COLUMNS["MaritalStatus"].categories  # Single, Married, Divorced
SINGLE, MARRIED, DIVORCED = 0, 1, 2
SATISFACTION_SHARE = (0.19, 0.19, 0.31, 0.31)  # levels 1..4
INVOLVEMENT_SHARE = (0.06, 0.25, 0.59, 0.10)
WORK_LIFE_SHARE = (0.055, 0.235, 0.605, 0.105)
RATING_SHARE = (0.01, 0.04, 0.80, 0.15)
TRAINING_SHARE = (0.04, 0.05, 0.37, 0.33, 0.08, 0.08, 0.05)  # 0..6 times
STOCK_SHARE_PARTNERED = (0.2, 0.55, 0.15, 0.10)  # singles almost never hold options
# PercentSalaryHike by PerformanceRating (1..4): (first value, weights), IBM-like.
HIKE_TABLE: tuple[tuple[int, tuple[float, ...]], ...] = (
    (11, (3, 2, 1)),
    (11, (3, 2, 1)),
    (11, (210, 198, 209, 201, 101, 78, 82, 89, 76)),
    (20, (55, 48, 56, 28, 21, 18)),
)

BASE_OVERTIME_SHARE = 0.39  # above the ~28% seen, because overtime workers leave more often
NEW_ROLE_SHARE = 0.15  # of R&D people who show drift_new_job_role from drift_start
INTERNAL_FILL = (0.0, 0.5, 0.6, 0.7, 0.8)  # share of vacancies at levels 1..5 filled internally
HIRE_FILL = 0.97  # each outside vacancy is filled with this chance ...
EXTRA_HIRES = 0.03  # ... plus Poisson extras, so headcount wanders a little but stays stable
MONTHLY_OVERTIME_CHANGE = 0.03
MONTHLY_SATISFACTION_CHANGE = 0.02
MONTHLY_INVOLVEMENT_CHANGE = 0.01
MONTHLY_MANAGER_CHANGE = 0.012
MONTHLY_LATERAL_MOVE = 0.008
PROMOTION_MANAGER_CHANGE = 0.5
RATING_PERSISTENCE = 0.6  # chance the yearly review repeats last year's rating
# Burn-in before the first snapshot as (months per step, steps): coarse first for speed, then
# monthly so that the hires/exits rhythm matches the window when the intercepts are frozen.
BURN_IN_STEPS = ((12, 10), (1, 12))
# Employees the intercept search looks at (strided subsample): the burn-in only steers the
# mix, the intercepts frozen for the window get the bigger sample.
BURN_IN_CALIBRATION_SAMPLE = 10_000
CALIBRATION_SAMPLE = 60_000


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticConfig:
    """What to simulate. Drift knobs act only on snapshots on or after `drift_start`.

    The knobs model different kinds of drift, which is why they act differently:
    `drift_income_factor` is a reporting change (pay is shown multiplied, who leaves does not
    change: covariate shift with a stale model); `drift_overtime_share` really puts that share
    of people on overtime, so exits follow; `drift_new_job_role` relabels ~15% of R&D with a
    role outside the contract domain; `drift_risk_drivers` swaps the hidden exit model
    (concept drift) while keeping the overall rate calibrated.

    The annual rates are shares of people: of the employees on a snapshot, the share who leave
    (voluntarily, or not) within the next 12 months. That is IBM's 16% Attrition and what the
    platform's labels count; leavers over headcount (turnover) runs higher, about 23% for
    0.16, because people hired during the year leave early too.
    """

    employees: int = 2000
    months: int = 36
    end_date: dt.date = dt.date(2026, 11, 1)
    seed: int = 7
    opt_out_share: float = 0.03
    annual_voluntary_rate: float = 0.16
    annual_involuntary_rate: float = 0.03
    drift_start: dt.date | None = None
    drift_income_factor: float = 1.0
    drift_overtime_share: float | None = None
    drift_new_job_role: str | None = None
    drift_risk_drivers: bool = False

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.employees < 1:
            problems.append(f"employees must be at least 1, not {self.employees}")
        if self.months < 1:
            problems.append(f"months must be at least 1, not {self.months}")
        if self.end_date.day != 1:
            problems.append(f"end_date must be the 1st of a month (snapshots are monthly), "
                            f"not {self.end_date.isoformat()}")
        for name in ("opt_out_share", "annual_voluntary_rate", "annual_involuntary_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                problems.append(f"{name} must be in [0, 1), not {value}")
        if self.annual_voluntary_rate + self.annual_involuntary_rate >= 1.0:
            problems.append("annual_voluntary_rate + annual_involuntary_rate must stay below 1")
        if self.drift_income_factor <= 0:
            problems.append(f"drift_income_factor must be positive, not {self.drift_income_factor}")
        if self.drift_overtime_share is not None and not 0.0 <= self.drift_overtime_share <= 1.0:
            problems.append(f"drift_overtime_share must be in [0, 1], not "
                            f"{self.drift_overtime_share}")
        if self.drift_new_job_role is not None and not self.drift_new_job_role.strip():
            problems.append("drift_new_job_role must be a non-empty role name")
        if problems:
            raise ValueError("invalid SyntheticConfig: " + "; ".join(problems))

    def snapshot_dates(self) -> list[dt.date]:
        last = np.datetime64(self.end_date, "M")
        months = last - np.arange(self.months - 1, -1, -1)
        return [d.item() for d in months.astype("datetime64[D]")]


@dataclass(eq=False)
class SimulatedCompany:
    """The simulation's output: monthly snapshots of the active workforce plus every exit."""

    config: SyntheticConfig
    snapshots: pd.DataFrame
    terminations: pd.DataFrame
    _row_ranges: dict[dt.date, tuple[int, int]] | None = field(default=None, repr=False)

    def snapshot_dates(self) -> list[dt.date]:
        return sorted(self._ranges())

    def extract(self, as_of: dt.date) -> pd.DataFrame:
        """The HRIS as it would answer on `as_of`: the last monthly snapshot, minus later exits.

        People hired after that snapshot are not in it: the HRIS extract is monthly, so they
        show up from the next one on.
        """
        ranges = self._ranges()
        dates = sorted(ranges)
        if not dates or as_of < dates[0]:
            first = dates[0].isoformat() if dates else "none"
            raise ValueError(
                f"no snapshot on or before {as_of.isoformat()}: the simulation starts at {first}"
            )
        base = max(d for d in dates if d <= as_of)
        start, stop = ranges[base]
        rows = self.snapshots.iloc[start:stop]
        gone = self.terminations_as_of(as_of)[contract.KEY].to_numpy()
        keep = ~np.isin(rows[contract.KEY].to_numpy(), gone)
        out = rows.loc[keep].reset_index(drop=True)
        out[contract.SNAPSHOT_DATE] = np.full(len(out), as_of, dtype=object)
        return out

    def terminations_as_of(self, as_of: dt.date) -> pd.DataFrame:
        days = _to_days(self.terminations["termination_date"])
        return self.terminations.loc[days <= _day(as_of)].reset_index(drop=True)

    def _ranges(self) -> dict[dt.date, tuple[int, int]]:
        """Row range per snapshot date; snapshots are stored grouped by date, in date order."""
        if self._row_ranges is None:
            days = _to_days(self.snapshots[contract.SNAPSHOT_DATE])
            if len(days) and np.any(np.diff(days) < 0):
                raise ValueError("snapshots must be sorted by snapshot_date")
            uniq, starts = np.unique(days, return_index=True)
            stops = np.append(starts[1:], len(days))
            self._row_ranges = {
                _date(int(d)): (int(a), int(b)) for d, a, b in zip(uniq, starts, stops)
            }
        return self._row_ranges


def simulate(config: SyntheticConfig) -> SimulatedCompany:
    """Make up a settled company, then run it forward one month per snapshot.

    The first population is drawn from IBM-like marginals, but such a draw is not what a real
    company looks like: survivors of years of attrition are a selected, lower-risk group. A
    burn-in of BURN_IN_STEPS (11 years, hazards recalibrated at every step) turns the draw
    into a settled workforce, so turnover neither sags nor spikes inside the window. The
    intercepts are then calibrated once, on the undrifted first snapshot, and frozen: the drift
    knobs never change anything before drift_start.
    """
    rng = np.random.default_rng(config.seed)
    dates = config.snapshot_dates()
    days = [_day(d) for d in dates]
    drift_day = None if config.drift_start is None else _day(config.drift_start)

    steps = _burn_in_steps(days[0])
    staff = _initial_population(rng, config.employees, steps[0][0], config.opt_out_share)
    next_id = config.employees + 1
    for day, next_day, months in steps:
        derived = _derive(staff, day, BASE_OVERTIME_SHARE)
        b_vol = _voluntary_intercept(staff, day, config, HIDDEN_MODEL.voluntary,
                                     BURN_IN_CALIBRATION_SAMPLE)
        b_inv = _involuntary_intercept(staff, day, config, BURN_IN_CALIBRATION_SAMPLE)
        p_vol = _sigmoid(b_vol + _voluntary_logit(HIDDEN_MODEL.voluntary, staff, derived))
        p_inv = _sigmoid(b_inv + _involuntary_logit(HIDDEN_MODEL.involuntary, staff, derived))
        staff, next_id, _ = _advance(rng, staff, derived, day, next_day, months, next_id,
                                     p_vol, p_inv, config.opt_out_share, exact_hiring=True)

    intercept = {
        risk: _voluntary_intercept(staff, days[0], config, risk, CALIBRATION_SAMPLE)
        for risk in (HIDDEN_MODEL.voluntary, HIDDEN_MODEL.voluntary_drifted)
    }
    inv_intercept = _involuntary_intercept(staff, days[0], config, CALIBRATION_SAMPLE)

    frames: list[dict[str, np.ndarray]] = []
    exits: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for t, day in enumerate(days):
        drifting = drift_day is not None and day >= drift_day
        threshold = BASE_OVERTIME_SHARE
        if drifting and config.drift_overtime_share is not None:
            threshold = _share_threshold(staff["u_overtime"], config.drift_overtime_share)
        derived = _derive(staff, day, threshold)
        frames.append(_snapshot_columns(staff, derived, config, drifting))
        if t + 1 == len(days):
            break
        risk = (HIDDEN_MODEL.voluntary_drifted if drifting and config.drift_risk_drivers
                else HIDDEN_MODEL.voluntary)
        p_vol = _sigmoid(intercept[risk] + _voluntary_logit(risk, staff, derived))
        p_inv = _sigmoid(inv_intercept + _involuntary_logit(HIDDEN_MODEL.involuntary, staff,
                                                            derived))
        staff, next_id, month_exits = _advance(rng, staff, derived, day, days[t + 1], 1, next_id,
                                               p_vol, p_inv, config.opt_out_share)
        exits.append(month_exits)

    snapshots, ranges = _assemble_snapshots(frames, dates, config)
    return SimulatedCompany(config, snapshots, _assemble_terminations(exits), ranges)


def _share_threshold(u: np.ndarray, share: float) -> float:
    """The cut that puts exactly `share` of `u` below it.

    Not `share` itself: survivors are not uniform in u_overtime (overtime workers left more).
    """
    k = int(round(share * len(u)))
    return float("inf") if k >= len(u) else float(np.partition(u, k)[k])


def _voluntary_intercept(
    staff: Staff, day: int, config: SyntheticConfig, risk: VoluntaryRisk, sample: int
) -> float:
    return _cohort_intercept(staff, day, partial(_voluntary_logit, risk),
                             config.annual_voluntary_rate, sample, retirements=True)


def _involuntary_intercept(
    staff: Staff, day: int, config: SyntheticConfig, sample: int
) -> float:
    return _cohort_intercept(staff, day, partial(_involuntary_logit, HIDDEN_MODEL.involuntary),
                             config.annual_involuntary_rate, sample, retirements=False)


def _cohort_intercept(
    staff: Staff, day: int, logit: Logit, target: float, sample_size: int, *, retirements: bool
) -> float:
    """The intercept b that makes `target` of today's employees leave within 12 months.

    The rate is a share of people (like IBM's 16% Attrition and like the platform's labels),
    not leavers over headcount: new hires churn early, so turnover runs a few points higher.
    It looks ahead month by month with each person's own ageing (age, tenure and staleness
    move, the rest is held), so the fading new-hire spike and the fact that a high-risk person
    can leave only once are both priced in. People who reach retirement within the year count
    as certain voluntary leavers. Newton steps on a strided subsample: a quick vectorised
    search that stays cheap at a million employees and draws no random numbers.
    """
    n = len(staff["emp_no"])
    if target <= 0 or n == 0:
        return -np.inf
    sample = {k: v[:: max(1, n // sample_size)] for k, v in staff.items()}
    ahead = _month_starts(day, 13)
    z = np.stack([logit(sample, _derive(sample, d, BASE_OVERTIME_SHARE)) for d in ahead[:-1]])
    certain = np.zeros(z.shape[1], dtype=bool)
    if retirements:
        certain = _years(ahead[-1], sample["birth"]) >= RETIREMENT_AGE
    if certain.all():
        return -np.inf
    goal = (target - certain.mean()) / (1.0 - certain.mean())  # share among the others
    if goal <= 0:
        return -np.inf
    goal = min(goal, 0.999)
    z = z[:, ~certain]
    shift = float(z.max())
    b = float(np.log(goal) - np.log(np.exp(z - shift).sum(axis=0).mean()) - shift)
    for _ in range(60):
        h = _sigmoid(b + z)
        stay = np.exp(np.log1p(-h).sum(axis=0))
        gap = float((1.0 - stay).mean()) - goal
        slope = float((stay * h.sum(axis=0)).mean())  # d(mean exit share) / db
        if abs(gap) < 1e-9 * goal or slope <= 0:
            break
        b -= float(np.clip(gap / slope, -2.0, 2.0))
    return b


def _burn_in_steps(first_day: int) -> list[tuple[int, int, int]]:
    """(start day, end day, months) of every burn-in step, ending on the first snapshot."""
    first = int(_month_index(np.array([first_day]))[0])
    lengths = [months for months, count in BURN_IN_STEPS for _ in range(count)]
    bounds = first - np.cumsum([0] + lengths[::-1])[::-1]
    starts = bounds.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return [(int(a), int(b), int(m)) for a, b, m in zip(starts[:-1], starts[1:], lengths)]


# --------------------------------------------------------------------------------------------
# Workforce state: one numpy array per hidden attribute, rows sorted by EmployeeNumber.
# --------------------------------------------------------------------------------------------

Staff = dict[str, np.ndarray]
Logit = Callable[[Staff, Staff], np.ndarray]  # (hidden state, derived view) -> log-odds
DayDrawer = Callable[[int], np.ndarray]  # n random day numbers strictly inside the month


def _take(staff: Staff, rows: np.ndarray) -> Staff:
    return {k: v[rows] for k, v in staff.items()}


def _compact(staff: Staff, keep: np.ndarray, extra: int) -> Staff:
    """The rows where `keep` holds, followed by `extra` rows to fill: a single copy per array
    instead of a take and a concatenate, which matters at a million employees."""
    m = int(np.count_nonzero(keep))
    out: Staff = {}
    for name, values in staff.items():
        buf = np.empty(m + extra, dtype=values.dtype)
        buf[:m] = values[keep]  # boolean indexing beats np.compress(out=...) by 2-3x here
        out[name] = buf
    return out


def _years(day: int, start: np.ndarray) -> np.ndarray:
    """Whole years between `start` and `day` (365.25-day years, in integer arithmetic).

    int32 is enough: day numbers stay near 20_000 and spans below 100 years.
    """
    return ((np.int32(day) - start) * 4 // 1461).astype(np.int16)


def _derive(staff: Staff, day: int, overtime_share: float) -> Staff:
    """The time-dependent view of the hidden dates on `day`, clipped to the contract domains.

    Clipping with a minimum keeps the orderings the start dates guarantee (careers start
    before hires, hires before role starts, promotions and manager changes).
    """
    return {
        "age": _years(day, staff["birth"]),
        "twy": np.minimum(_years(day, staff["career_start"]), 40),
        "yac": np.minimum(_years(day, staff["hire"]), 40),
        "yicr": np.minimum(_years(day, staff["role_start"]), 18),
        "yslp": np.minimum(_years(day, staff["promo"]), 15),
        "ywcm": np.minimum(_years(day, staff["manager_start"]), 17),
        "overtime": staff["u_overtime"] < overtime_share,
    }


def _voluntary_logit(c: VoluntaryRisk, s: Staff, d: Staff) -> np.ndarray:
    ot = d["overtime"].astype(np.float64)
    income = s["income"]
    age = d["age"].astype(np.float64)
    yac = d["yac"]
    return (
        c.overtime * ot
        + c.overtime_low_income * ot * (income < c.low_income_threshold)
        + c.overtime_low_satisfaction * ot * (s["job_sat"] == 1)
        + c.log_income * np.log(income / REFERENCE_INCOME)
        + c.job_level_1 * (s["level"] == 1)
        + c.job_satisfaction * (4 - s["job_sat"])
        + c.environment_satisfaction * (4 - s["env_sat"])
        + c.job_involvement * (4 - s["job_inv"])
        + c.work_life_balance_1 * (s["wlb"] == 1)
        + c.work_life_balance_2 * (s["wlb"] == 2)
        + c.youth * np.maximum(0.0, 30.0 - age)
        + c.under_25 * (age < 25)
        + c.single * (s["marital"] == SINGLE)
        + c.commute * s["distance"]
        + c.long_commute * (s["distance"] > 20)
        + c.travel_rarely * (s["travel"] == TRAVEL_RARELY)
        + c.travel_frequently * (s["travel"] == TRAVEL_FREQUENTLY)
        + c.no_stock * (s["stock"] == 0)
        + c.top_stock * (s["stock"] == 3)
        + c.stale_promotion * np.minimum(d["yslp"], 8)
        + c.tenure_year_0 * (yac == 0)
        + c.tenure_year_1 * (yac == 1)
        + c.long_tenure * np.maximum(0, yac - 10)
        + c.job_hopper * (s["ncw"] >= 5)
        + c.new_manager * (d["ywcm"] == 0)
        + c.sales_representative * (s["role"] == SALES_REPRESENTATIVE)
    )


def _involuntary_logit(c: InvoluntaryRisk, s: Staff, d: Staff) -> np.ndarray:
    rating = s["perf"]
    return (
        c.rating_1 * (rating == 1)
        + c.rating_2 * (rating == 2)
        + c.rating_4 * (rating == 4)
        + c.involvement_1 * (s["job_inv"] == 1)
        + c.probation * (d["yac"] == 0)
    )


def _promotion_score(c: PromotionPropensity, s: Staff, d: Staff) -> np.ndarray:
    rating = s["perf"]
    return (
        c.rating_4 * (rating == 4)
        + c.rating_low * (rating <= 2)
        + c.staleness * np.minimum(d["yslp"], 5)
        + c.involvement * s["job_inv"]
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))


# --------------------------------------------------------------------------------------------
# Drawing people
# --------------------------------------------------------------------------------------------


def _cdf(weights: tuple[float, ...] | list[float] | np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def _categorical(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    return np.searchsorted(_cdf(weights), rng.random(n), side="right").astype(np.int8)


def _grouped_cdf(table: np.ndarray) -> np.ndarray:
    """One flat, increasing array of per-group CDFs, group g shifted into (g, g + 1].

    A single searchsorted of g + u then draws from each row's own distribution, which is
    much cheaper than comparing every row with a whole CDF row.
    """
    flat = table.reshape(-1, table.shape[-1]).astype(np.float64)
    cdf = np.cumsum(flat / flat.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return (cdf + np.arange(len(flat))[:, None]).ravel()


def _grouped_draw(rng: np.random.Generator, stacked: np.ndarray, k: int,
                  group: np.ndarray) -> np.ndarray:
    g = group.astype(np.int64)
    idx = np.searchsorted(stacked, g + rng.random(len(g)), side="right") - g * k
    return np.minimum(idx, k - 1).astype(np.int8)


def _role_weights() -> np.ndarray:
    w = np.zeros((3, 5, len(JOB_ROLES)))
    for dept, levels in _ROLE_TABLE.items():
        for li, roles in enumerate(levels):
            for name, p in roles.items():
                w[dept, li, _ROLE[name]] = p
    return w


def _field_weights() -> np.ndarray:
    w = np.zeros((3, len(EDUCATION_FIELDS)))
    for dept, fields in _FIELD_TABLE.items():
        for name, p in fields.items():
            w[dept, EDUCATION_FIELDS.index(name)] = p
    return w


def _hike_weights() -> np.ndarray:
    w = np.zeros((4, 15))
    for r, (first, weights) in enumerate(HIKE_TABLE):
        w[r, first - 11: first - 11 + len(weights)] = weights
    return w


ROLE_WEIGHTS = _role_weights()
_ROLE_CDF = _grouped_cdf(ROLE_WEIGHTS)
_FIELD_CDF = _grouped_cdf(_field_weights())
_HIKE_CDF = _grouped_cdf(_hike_weights())


def _draw_roles(rng: np.random.Generator, dept: np.ndarray, level: np.ndarray) -> np.ndarray:
    group = dept.astype(np.int64) * 5 + level - 1
    return _grouped_draw(rng, _ROLE_CDF, len(JOB_ROLES), group)


def _draw_field(rng: np.random.Generator, dept: np.ndarray) -> np.ndarray:
    return _grouped_draw(rng, _FIELD_CDF, len(EDUCATION_FIELDS), dept)


def _draw_hike(rng: np.random.Generator, rating: np.ndarray) -> np.ndarray:
    return (11 + _grouped_draw(rng, _HIKE_CDF, 15, rating - 1)).astype(np.int8)


def _entry_income(rng: np.random.Generator, level: np.ndarray) -> np.ndarray:
    entry = np.asarray(ENTRY_INCOME)[level - 1] * rng.lognormal(0.0, ENTRY_SIGMA, len(level))
    return np.minimum(entry, np.asarray(INCOME_CAP)[level - 1])


def _pay_cap(staff: Staff, level: np.ndarray, rows: np.ndarray | slice = slice(None)
             ) -> np.ndarray:
    """Where raises stop: the band cap scaled by a personal ceiling (no spike at the cap)."""
    return np.asarray(INCOME_CAP)[level - 1] * staff["ceiling"][rows]


def _people(
    rng: np.random.Generator,
    dept: np.ndarray,
    level: np.ndarray,
    twy: np.ndarray,
    age: np.ndarray,
    prior_years: np.ndarray,
    opt_out_share: float,
) -> Staff:
    """Attributes that do not depend on seniority, shared by the first population and hires."""
    n = len(dept)
    p_single = np.clip(0.32 - 0.015 * (age - 37.0), 0.08, 0.7)
    u = rng.random(n)
    marital = np.where(u < p_single, SINGLE,
                       np.where(u < p_single + (1 - p_single) * 0.32, DIVORCED, MARRIED))
    stock_partnered = _categorical(rng, STOCK_SHARE_PARTNERED, n)
    stock_single = (rng.random(n) < 0.08).astype(np.int8)
    near = rng.exponential(3.0, n)
    far = rng.uniform(1, 30, n)
    distance = np.where(rng.random(n) < 0.5, 1 + near, far)
    perf = (_categorical(rng, RATING_SHARE, n) + 1).astype(np.int8)
    return {
        "dept": dept.astype(np.int8),
        "level": level.astype(np.int8),
        "role": _draw_roles(rng, dept, level),
        "gender": _categorical(rng, GENDER_SHARE, n),
        "marital": marital.astype(np.int8),
        "education": (_categorical(rng, EDUCATION_SHARE, n) + 1).astype(np.int8),
        "field": _draw_field(rng, dept),
        "travel": _categorical(rng, TRAVEL_SHARE, n),
        "distance": np.clip(distance, 1, 29).astype(np.int8),
        "ncw": np.clip(rng.poisson(0.25 + prior_years / 2.5), 0, 9).astype(np.int8),
        "stock": np.where(marital == SINGLE, stock_single, stock_partnered).astype(np.int8),
        "env_sat": (_categorical(rng, SATISFACTION_SHARE, n) + 1).astype(np.int8),
        "job_sat": (_categorical(rng, SATISFACTION_SHARE, n) + 1).astype(np.int8),
        "rel_sat": (_categorical(rng, SATISFACTION_SHARE, n) + 1).astype(np.int8),
        "wlb": (_categorical(rng, WORK_LIFE_SHARE, n) + 1).astype(np.int8),
        "job_inv": (_categorical(rng, INVOLVEMENT_SHARE, n) + 1).astype(np.int8),
        "perf": perf,
        "hike": _draw_hike(rng, perf),
        "training": _categorical(rng, TRAINING_SHARE, n),
        "daily_rate": rng.integers(102, 1500, n).astype(np.int16),
        "hourly_rate": rng.integers(30, 101, n).astype(np.int16),
        "monthly_rate": rng.integers(2094, 27000, n).astype(np.int32),
        "ceiling": rng.uniform(PERSONAL_CEILING[0], PERSONAL_CEILING[1], n),
        "u_overtime": rng.random(n),
        "u_new_role": rng.random(n),
        "opt_out": rng.random(n) < opt_out_share,
    }


def _gamma_with_mean(rng: np.random.Generator, mean: np.ndarray, shape: float) -> np.ndarray:
    return rng.gamma(shape, mean / shape)


def _initial_population(
    rng: np.random.Generator, n: int, day: int, opt_out_share: float
) -> Staff:
    """The workforce the burn-in starts from: IBM-like marginals, seniority already spread out
    so that the burn-in only has to settle who survived, not build tenure from nothing."""
    dept = _categorical(rng, DEPARTMENT_SHARE, n)
    level = (_categorical(rng, LEVEL_SHARE, n) + 1).astype(np.int8)
    twy = _gamma_with_mean(rng, np.asarray(TWY_MEAN)[level - 1], 2.5)
    age = np.clip(18.0 + twy + rng.gamma(2.5, 3.6, n), 18.0, 60.95)
    twy = np.minimum(twy, age - 18.0)
    yac = np.minimum(twy, rng.gamma(1.2, 5.0, n))
    yicr = np.minimum(yac, rng.exponential(5.0, n))
    yslp = np.minimum(yac, rng.exponential(4.5, n))
    ywcm = np.minimum(yac, rng.exponential(4.0, n))
    staff = _people(rng, dept, level, twy, age, twy - yac, opt_out_share)
    grown = _entry_income(rng, level) * TYPICAL_ANNUAL_RAISE ** np.floor(yslp)
    staff["income"] = np.minimum(grown, _pay_cap(staff, level))

    def back(years: np.ndarray) -> np.ndarray:
        return (day - np.round(years * 365.25)).astype(np.int32)

    staff.update(
        birth=back(age),
        career_start=back(twy),
        hire=back(yac),
        role_start=back(yicr),
        promo=back(yslp),
        manager_start=back(ywcm),
    )
    # Employee numbers follow hiring order, as they do in a real HRIS.
    order = np.argsort(staff["hire"], kind="stable")
    staff = _take(staff, order)
    staff["emp_no"] = np.arange(1, n + 1, dtype=np.int64)
    staff["hire_month"] = _month_index(staff["hire"])
    return staff


def _hires(
    rng: np.random.Generator,
    dept: np.ndarray,
    level: np.ndarray,
    hire_day: np.ndarray,
    first_id: int,
    opt_out_share: float,
) -> Staff:
    n = len(dept)
    twy = _gamma_with_mean(rng, np.asarray(HIRE_TWY_MEAN)[level - 1], 2.5)
    age = np.clip(18.0 + twy + rng.gamma(2.5, HIRE_AGE_GAP / 2.5, n), 18.0, 58.0)
    twy = np.minimum(twy, age - 18.0)
    staff = _people(rng, dept, level, twy, age, twy, opt_out_share)
    staff["income"] = np.minimum(_entry_income(rng, level), _pay_cap(staff, level))
    hire_day = hire_day.astype(np.int32)
    staff.update(
        birth=(hire_day - np.round(age * 365.25)).astype(np.int32),
        career_start=(hire_day - np.round(twy * 365.25)).astype(np.int32),
        hire=hire_day,
        role_start=hire_day.copy(),
        promo=hire_day.copy(),
        manager_start=hire_day.copy(),
    )
    staff["emp_no"] = np.arange(first_id, first_id + n, dtype=np.int64)
    staff["hire_month"] = _month_index(hire_day)
    return staff


# --------------------------------------------------------------------------------------------
# One month of company life
# --------------------------------------------------------------------------------------------


def _advance(
    rng: np.random.Generator,
    staff: Staff,
    derived: Staff,
    day: int,
    next_day: int,
    months: int,
    next_id: int,
    p_vol: np.ndarray,
    p_inv: np.ndarray,
    opt_out_share: float,
    exact_hiring: bool = False,
) -> tuple[Staff, int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Exits, the vacancy chain (promotions, hires), raises and small changes for one step.

    A step is one month inside the window; the burn-in takes longer steps, with monthly
    probabilities compounded over `months`. Every random array has a shape fixed by the
    workforce at the start of the step, never by a drift knob, so runs that differ only in
    knobs share their history before drift_start. `exact_hiring` (burn-in) refills every
    vacancy, so the first snapshot has exactly the configured headcount.
    """
    n = len(staff["emp_no"])
    span = next_day - day

    def in_month(size: int) -> np.ndarray:
        """A day strictly inside the step: after the snapshot, before the next one."""
        return day + rng.integers(1, span, size)

    def chance(monthly: float) -> float:
        return 1.0 - (1.0 - monthly) ** months

    # Exits from the monthly hazards: one uniform decides involuntary, voluntary or stay;
    # retirement counts as voluntary.
    if months > 1:
        p_inv = -np.expm1(months * np.log1p(-p_inv))
        p_vol = -np.expm1(months * np.log1p(-p_vol))
    u = rng.random(n)
    exit_day = in_month(n)
    retiring = _years(next_day, staff["birth"]) >= RETIREMENT_AGE
    involuntary = (u < p_inv) & ~retiring
    voluntary = ~involuntary & ((u < p_inv + p_vol) | retiring)
    leaving = involuntary | voluntary
    month_exits = (staff["emp_no"][leaving], exit_day[leaving], involuntary[leaving])
    stay = ~leaving

    # Vacancy chain: top-down, each vacancy is filled from the level below (weighted by the
    # promotion propensity, Gumbel top-k = sampling without replacement) or from outside.
    vacancies = np.bincount(
        staff["dept"][leaving].astype(np.int64) * 5 + staff["level"][leaving] - 1, minlength=15
    ).reshape(3, 5)
    key = _promotion_score(HIDDEN_MODEL.promotion, staff, derived) + rng.gumbel(size=n)
    promoted_parts: list[np.ndarray] = []
    for li in range(4, 0, -1):
        internal = rng.binomial(vacancies[:, li], INTERNAL_FILL[li])
        below = stay & (staff["level"] == li)  # one level below level li + 1
        for dept in np.flatnonzero(internal):
            cand = np.flatnonzero(below & (staff["dept"] == dept))
            k = int(min(internal[dept], cand.size))
            if k == 0:
                continue
            if k < cand.size:
                cand = cand[np.argpartition(-key[cand], k - 1)[:k]]
            vacancies[dept, li] -= k
            vacancies[dept, li - 1] += k
            promoted_parts.append(cand)
    if exact_hiring:
        outside = vacancies
    else:
        outside = rng.binomial(vacancies, HIRE_FILL) + rng.poisson(EXTRA_HIRES * vacancies)

    promoted = np.zeros(n, dtype=bool)
    if promoted_parts:
        promoted[np.concatenate(promoted_parts)] = True
    promoted = promoted[stay]
    n_hires = int(outside.sum())
    grown = _compact(staff, stay, n_hires)
    m = n - int(leaving.sum())
    staff = {k: v[:m] for k, v in grown.items()}  # views: updates below land in `grown`

    _promote(rng, staff, np.flatnonzero(promoted), in_month)

    # Yearly review and raise on a hire anniversary that falls inside the step.
    month = int(_month_index(np.array([day]))[0])
    until_anniversary = (staff["hire_month"] - month) % 12
    review = np.flatnonzero((until_anniversary < months)
                            & (month + until_anniversary > staff["hire_month"]))
    if review.size:
        old = staff["perf"][review]
        fresh = (_categorical(rng, RATING_SHARE, review.size) + 1).astype(np.int8)
        rating = np.where(rng.random(review.size) < RATING_PERSISTENCE, old, fresh)
        hike = _draw_hike(rng, rating)
        staff["perf"][review] = rating
        staff["hike"][review] = hike
        staff["training"][review] = _categorical(rng, TRAINING_SHARE, review.size)
        cap = _pay_cap(staff, staff["level"][review], review)
        raised = staff["income"][review] * (1 + hike / 100.0)
        staff["income"][review] = np.maximum(staff["income"][review], np.minimum(raised, cap))

    # Small monthly changes.
    change = np.flatnonzero(rng.random(m) < chance(MONTHLY_OVERTIME_CHANGE))
    staff["u_overtime"][change] = rng.random(change.size)
    for name in ("env_sat", "job_sat", "rel_sat"):
        change = np.flatnonzero(rng.random(m) < chance(MONTHLY_SATISFACTION_CHANGE))
        staff[name][change] = _categorical(rng, SATISFACTION_SHARE, change.size) + 1
    change = np.flatnonzero(rng.random(m) < chance(MONTHLY_SATISFACTION_CHANGE))
    staff["wlb"][change] = _categorical(rng, WORK_LIFE_SHARE, change.size) + 1
    change = np.flatnonzero(rng.random(m) < chance(MONTHLY_INVOLVEMENT_CHANGE))
    staff["job_inv"][change] = _categorical(rng, INVOLVEMENT_SHARE, change.size) + 1
    change = np.flatnonzero(rng.random(m) < chance(MONTHLY_MANAGER_CHANGE))
    _new_manager(rng, staff, change, in_month)
    change = np.flatnonzero(rng.random(m) < chance(MONTHLY_LATERAL_MOVE))
    staff["role"][change] = _draw_roles(rng, staff["dept"][change], staff["level"][change])
    staff["role_start"][change] = in_month(change.size)

    # Outside hires, numbered in order of their hire day.
    groups = np.repeat(np.arange(15), outside.ravel())
    hire_day = in_month(groups.size)
    order = np.argsort(hire_day, kind="stable")
    groups, hire_day = groups[order], hire_day[order]
    new = _hires(rng, (groups // 5).astype(np.int8), (groups % 5 + 1).astype(np.int8),
                 hire_day, next_id, opt_out_share)
    for name, values in new.items():
        grown[name][m:] = values
    return grown, next_id + n_hires, month_exits


def _promote(
    rng: np.random.Generator, staff: Staff, rows: np.ndarray, in_month: DayDrawer
) -> None:
    """One level up with a raise; the role changes only where the old one has no place."""
    if not rows.size:
        return
    when = in_month(rows.size)
    level = staff["level"][rows] + 1
    staff["level"][rows] = level
    staff["promo"][rows] = when
    raised = staff["income"][rows] * rng.uniform(1 + PROMOTION_RAISE[0], 1 + PROMOTION_RAISE[1],
                                                 rows.size)
    floor = _entry_income(rng, level)
    staff["income"][rows] = np.minimum(np.maximum(raised, floor), _pay_cap(staff, level, rows))
    dept = staff["dept"][rows]
    fits = ROLE_WEIGHTS[dept, level - 1, staff["role"][rows]] > 0
    redrawn = _draw_roles(rng, dept, level)
    staff["role"][rows] = np.where(fits, staff["role"][rows], redrawn)
    staff["role_start"][rows[~fits]] = when[~fits]
    boss = rows[rng.random(rows.size) < PROMOTION_MANAGER_CHANGE]
    _new_manager(rng, staff, boss, in_month)


def _new_manager(
    rng: np.random.Generator, staff: Staff, rows: np.ndarray, in_month: DayDrawer
) -> None:
    staff["manager_start"][rows] = np.maximum(in_month(rows.size), staff["manager_start"][rows])
    staff["rel_sat"][rows] = _categorical(rng, SATISFACTION_SHARE, rows.size) + 1


# --------------------------------------------------------------------------------------------
# Output: compact arrays per snapshot, strings and dates only once at the end
# --------------------------------------------------------------------------------------------


def _snapshot_columns(
    staff: Staff, derived: Staff, config: SyntheticConfig, drifting: bool
) -> dict[str, np.ndarray]:
    income = staff["income"]
    if drifting:
        income = income * config.drift_income_factor
    role = staff["role"]
    if drifting and config.drift_new_job_role is not None:
        new = (staff["dept"] == RND) & (staff["u_new_role"] < NEW_ROLE_SHARE)
        role = np.where(new, len(JOB_ROLES), role).astype(np.int8)
    return {
        "Age": derived["age"],
        "BusinessTravel": staff["travel"],
        "DailyRate": staff["daily_rate"],
        "Department": staff["dept"],
        "DistanceFromHome": staff["distance"],
        "Education": staff["education"],
        "EducationField": staff["field"],
        "EmployeeNumber": staff["emp_no"],
        "EnvironmentSatisfaction": staff["env_sat"],
        "Gender": staff["gender"],
        "HourlyRate": staff["hourly_rate"],
        "JobInvolvement": staff["job_inv"],
        "JobLevel": staff["level"],
        "JobRole": role,
        "JobSatisfaction": staff["job_sat"],
        "MaritalStatus": staff["marital"],
        "MonthlyIncome": np.clip(np.round(income), 500, 100_000).astype(np.int32),
        "MonthlyRate": staff["monthly_rate"],
        "NumCompaniesWorked": staff["ncw"],
        "OverTime": (~derived["overtime"]).astype(np.int8),  # code 0 = "Yes"
        "PercentSalaryHike": staff["hike"],
        "PerformanceRating": staff["perf"],
        "RelationshipSatisfaction": staff["rel_sat"],
        "StockOptionLevel": staff["stock"],
        "TotalWorkingYears": derived["twy"],
        "TrainingTimesLastYear": staff["training"],
        "WorkLifeBalance": staff["wlb"],
        "YearsAtCompany": derived["yac"],
        "YearsInCurrentRole": derived["yicr"],
        "YearsSinceLastPromotion": derived["yslp"],
        "YearsWithCurrManager": derived["ywcm"],
        "hire_date": staff["hire"],
        "opt_out": staff["opt_out"],
    }


def _assemble_snapshots(
    frames: list[dict[str, np.ndarray]], dates: list[dt.date], config: SyntheticConfig
) -> tuple[pd.DataFrame, dict[dt.date, tuple[int, int]]]:
    sizes = [len(f["EmployeeNumber"]) for f in frames]
    total = int(sum(sizes))
    stops = np.cumsum(sizes)
    ranges = {d: (int(b - s), int(b)) for d, s, b in zip(dates, sizes, stops)}
    roles = JOB_ROLES + ((config.drift_new_job_role,) if config.drift_new_job_role else ())
    lookups: dict[str, tuple[str, ...]] = {
        name: contract.COLUMNS[name].categories for name in contract.CATEGORICAL
    }
    lookups["JobRole"] = roles
    columns: dict[str, np.ndarray] = {}
    for column in contract.COLUMNS.values():
        name = column.name
        if name == contract.SNAPSHOT_DATE:
            columns[name] = np.repeat(np.array(dates, dtype=object), sizes)
        elif name == "Attrition":
            columns[name] = np.full(total, "No", dtype=object)
        elif name == "Over18":
            columns[name] = np.full(total, "Y", dtype=object)
        elif name == "EmployeeCount":
            columns[name] = np.ones(total, dtype=np.int64)
        elif name == "StandardHours":
            columns[name] = np.full(total, 80, dtype=np.int64)
        elif name in ("termination_date", "termination_type"):
            columns[name] = np.full(total, None, dtype=object)
        elif name == "hire_date":
            columns[name] = _dates_from_days(np.concatenate([f[name] for f in frames]))
        elif name == "opt_out":
            columns[name] = np.concatenate([f[name] for f in frames]).astype(bool)
        elif column.kind == "category":
            codes = np.concatenate([f[name] for f in frames])
            columns[name] = np.asarray(lookups[name], dtype=object)[codes]
        else:
            columns[name] = np.concatenate([f[name] for f in frames]).astype(np.int64)
    return pd.DataFrame(columns, copy=False), ranges


def _assemble_terminations(
    exits: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    if exits:
        emp = np.concatenate([e[0] for e in exits]).astype(np.int64)
        day = np.concatenate([e[1] for e in exits]).astype(np.int64)
        involuntary = np.concatenate([e[2] for e in exits])
    else:
        emp = np.zeros(0, dtype=np.int64)
        day = np.zeros(0, dtype=np.int64)
        involuntary = np.zeros(0, dtype=bool)
    order = np.lexsort((emp, day))
    kinds = np.array(["voluntary", "involuntary"], dtype=object)
    return pd.DataFrame(
        {
            contract.KEY: emp[order],
            "termination_date": _dates_from_days(day[order]),
            "termination_type": kinds[involuntary[order].astype(np.int64)],
        }
    )


# --------------------------------------------------------------------------------------------
# Dates as integer day numbers (days since 1970-01-01)
# --------------------------------------------------------------------------------------------


def _day(d: dt.date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _date(day: int) -> dt.date:
    return np.datetime64(day, "D").item()


def _month_starts(day: int, count: int) -> list[int]:
    """Day numbers of the 1st of the month of `day` and of the `count` - 1 months after it."""
    first = np.datetime64(day, "D").astype("datetime64[M]")
    starts = (first + np.arange(count)).astype("datetime64[D]").astype(np.int64)
    return [int(d) for d in starts]


def _month_index(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int32)


def _dates_from_days(days: np.ndarray) -> np.ndarray:
    """datetime.date objects through a lookup over the day range: one object per distinct day."""
    if not len(days):
        return np.zeros(0, dtype=object)
    lo = int(days.min())
    lut = np.arange(lo, int(days.max()) + 1).astype("datetime64[D]").astype(object)
    return lut[days.astype(np.int64) - lo]


def _to_days(dates: pd.Series) -> np.ndarray:
    """Day numbers of a date column, whether it holds datetime.date objects or datetime64."""
    if not len(dates):
        return np.zeros(0, dtype=np.int64)
    values = dates.to_numpy()
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]").astype(np.int64)
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)
