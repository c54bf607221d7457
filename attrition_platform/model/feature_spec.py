"""The feature spec: which inputs the model sees, in which order, and how derived ones are made.

One module for training, batch scoring and live serving, so that the three cannot disagree.
The spec is fitted on training rows only (category vocabularies, job-level income medians) and
then frozen into the model bundle as JSON. Scoring works on any column mapping (a pandas
DataFrame, a dict of numpy arrays, a dict of lists from a JSON request) with vectorised numpy:
no Dagster, no per-row Python.
"""

from __future__ import annotations

import operator

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

# 2 added the analyst's flags of ROW_DERIVED (entry_level ... poor_work_life_balance). A spec
# lists its own derived features, so a version-1 spec still builds its matrix here; code that
# knows only version 1 refuses a version-2 spec instead of mis-building it.
RECIPE_VERSION = 2
READABLE_RECIPE_VERSIONS = (1, 2)

NUMERIC_RAW: tuple[str, ...] = (
    "Age",
    "DailyRate",
    "DistanceFromHome",
    "Education",
    "EnvironmentSatisfaction",
    "HourlyRate",
    "JobInvolvement",
    "JobLevel",
    "JobSatisfaction",
    "MonthlyIncome",
    "MonthlyRate",
    "NumCompaniesWorked",
    "PercentSalaryHike",
    "PerformanceRating",
    "RelationshipSatisfaction",
    "StockOptionLevel",
    "TotalWorkingYears",
    "TrainingTimesLastYear",
    "WorkLifeBalance",
    "YearsAtCompany",
    "YearsInCurrentRole",
    "YearsSinceLastPromotion",
    "YearsWithCurrManager",
)
# Gender is deliberately not a model input: it is kept only to measure fairness.
CATEGORICAL_RAW: tuple[str, ...] = (
    "BusinessTravel",
    "Department",
    "EducationField",
    "JobRole",
    "MaritalStatus",
    "OverTime",
)
RAW_INPUTS: tuple[str, ...] = NUMERIC_RAW + CATEGORICAL_RAW

# Derived from one row alone: safe to store per snapshot and to compute at request time.
ROW_DERIVED: tuple[str, ...] = (
    "tenure_ratio",
    "role_tenure_ratio",
    "promotion_staleness",
    "manager_tenure_ratio",
    "companies_per_working_year",
    "satisfaction_mean",
    # Flags an HR analyst reads off an exit interview: the bottom of a scale, the first year,
    # youth, no equity. Trees find such steps alone; the linear margin cannot, and on small
    # exports it carries most of the signal (docs/model-card.md has the measurement).
    "entry_level",
    "no_stock_options",
    "first_year",
    "under_25",
    "lowest_environment_satisfaction",
    "lowest_job_satisfaction",
    "lowest_job_involvement",
    "poor_work_life_balance",
)
# Derived with a fitted parameter (the job-level income medians of the training rows).
FITTED_DERIVED: tuple[str, ...] = ("income_vs_level",)
DERIVED: tuple[str, ...] = ROW_DERIVED + FITTED_DERIVED

# Direction of effect where the domain is clear (+1 raises risk, -1 lowers it). XGBoost enforces
# these, which keeps explanations sane and regularises small exports.
MONOTONE: dict[str, int] = {
    "JobLevel": -1,
    "MonthlyIncome": -1,
    "JobSatisfaction": -1,
    "EnvironmentSatisfaction": -1,
    "WorkLifeBalance": -1,
    "StockOptionLevel": -1,
    "DistanceFromHome": 1,
    "OverTime=Yes": 1,
    "satisfaction_mean": -1,
    "income_vs_level": -1,
    "entry_level": 1,
    "no_stock_options": 1,
    "first_year": 1,
    "under_25": 1,
    "lowest_environment_satisfaction": 1,
    "lowest_job_satisfaction": 1,
    "lowest_job_involvement": 1,
    "poor_work_life_balance": 1,
}


@dataclass(frozen=True)
class _Arithmetic:
    """How the derived-feature formulas read an input and take a maximum.

    The formulas are written once, against this: numpy columns for tables (training, batch
    scoring, snapshots) and plain Python floats for one record (a live request, where a dozen
    numpy calls on one-element arrays cost more than the rest of scoring). Both are IEEE
    doubles doing the same operations in the same order, so the results are identical; a test
    compares the two on many rows.
    """

    num: Callable[[Mapping[str, Any], str], Any]
    maximum: Callable[[Any, float], Any]
    level: Callable[[Mapping[str, Any]], Any]  # JobLevel clipped to 0-5, as lookup indexes
    pick: Callable[[np.ndarray, Any], Any]  # lookup[level]: an array, or a Python float


ON_COLUMNS = _Arithmetic(
    num=lambda c, n: np.asarray(c[n], dtype=np.float64),
    maximum=np.maximum,
    level=lambda c: np.minimum(np.maximum(np.asarray(c["JobLevel"], dtype=np.int64), 0), 5),
    pick=np.ndarray.__getitem__,
)
# For clean records (`scoring_input.check_record` leaves every numeric input a Python float):
# C-level calls, no Python frame per read, and Python floats out (no numpy scalars).
ON_SCALARS = _Arithmetic(
    num=operator.getitem,
    maximum=max,
    level=lambda c: min(max(int(c["JobLevel"]), 0), 5),
    pick=np.ndarray.item,
)


def _num(columns: Mapping[str, Any], name: str) -> np.ndarray:
    return ON_COLUMNS.num(columns, name)


def row_derived(columns: Mapping[str, Any], on: _Arithmetic = ON_COLUMNS) -> dict[str, Any]:
    """Features computed from one employee's own fields as of the snapshot date."""
    years = on.num(columns, "YearsAtCompany")
    total = on.num(columns, "TotalWorkingYears")
    return {
        "tenure_ratio": years / on.maximum(total, 1.0),
        "role_tenure_ratio": on.num(columns, "YearsInCurrentRole") / on.maximum(years, 1.0),
        "promotion_staleness": on.num(columns, "YearsSinceLastPromotion") / on.maximum(years, 1.0),
        "manager_tenure_ratio": on.num(columns, "YearsWithCurrManager") / on.maximum(years, 1.0),
        "companies_per_working_year": on.num(columns, "NumCompaniesWorked") / on.maximum(total, 1.0),
        "satisfaction_mean": (
            on.num(columns, "JobSatisfaction")
            + on.num(columns, "EnvironmentSatisfaction")
            + on.num(columns, "RelationshipSatisfaction")
            + on.num(columns, "WorkLifeBalance")
        )
        / 4.0,
        # comparisons give bools (numpy or Python); * 1.0 makes the same float either way
        "entry_level": (on.num(columns, "JobLevel") == 1.0) * 1.0,
        "no_stock_options": (on.num(columns, "StockOptionLevel") == 0.0) * 1.0,
        "first_year": (years <= 1.0) * 1.0,
        "under_25": (on.num(columns, "Age") < 25.0) * 1.0,
        "lowest_environment_satisfaction": (on.num(columns, "EnvironmentSatisfaction") == 1.0) * 1.0,
        "lowest_job_satisfaction": (on.num(columns, "JobSatisfaction") == 1.0) * 1.0,
        "lowest_job_involvement": (on.num(columns, "JobInvolvement") == 1.0) * 1.0,
        "poor_work_life_balance": (on.num(columns, "WorkLifeBalance") == 1.0) * 1.0,
    }


def level_medians(columns: Mapping[str, Any]) -> dict[str, float]:
    """Median MonthlyIncome per JobLevel: the reference for `income_vs_level`."""
    levels = np.asarray(columns["JobLevel"], dtype=np.int64)
    income = _num(columns, "MonthlyIncome")
    return {str(lv): float(np.median(income[levels == lv])) for lv in np.unique(levels)}


@lru_cache(maxsize=32)
def _income_lookup(medians: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Reference income per job level 0-5 (the overall median for a level without one); cached,
    as serving derives it for every single request with the same bundle."""
    known = dict(medians)
    overall = float(np.median(list(known.values()))) if known else 1.0
    lookup = np.array([known.get(str(lv), overall) for lv in range(0, 6)], dtype=np.float64)
    lookup.setflags(write=False)
    return lookup


def income_vs_level(
    columns: Mapping[str, Any], medians: Mapping[str, float], on: _Arithmetic = ON_COLUMNS
) -> Any:
    lookup = _income_lookup(tuple(medians.items()))
    ref = on.pick(lookup, on.level(columns))
    return on.num(columns, "MonthlyIncome") / on.maximum(ref, 1.0)


def all_derived(
    columns: Mapping[str, Any], medians: Mapping[str, float], on: _Arithmetic = ON_COLUMNS
) -> dict[str, Any]:
    out = row_derived(columns, on)
    out["income_vs_level"] = income_vs_level(columns, medians, on)
    return out


class _RawColumns(Mapping[str, np.ndarray]):
    """The numeric inputs of clean records as columns of one array, sliced on demand: the
    derived features read a handful of them, and one view per input cost more than that."""

    def __init__(self, raw: np.ndarray, index: Mapping[str, int]) -> None:
        self._raw = raw
        self._index = index

    def __getitem__(self, name: str) -> np.ndarray:
        return self._raw[:, self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass
class FeatureSpec:
    """A fitted spec: the ordered model columns and everything needed to rebuild them."""

    vocabularies: dict[str, list[str]]
    income_level_medians: dict[str, float]
    recipe_version: int = RECIPE_VERSION
    numeric: list[str] = field(default_factory=lambda: list(NUMERIC_RAW))
    derived: list[str] = field(default_factory=lambda: list(DERIVED))
    categorical: list[str] = field(default_factory=lambda: list(CATEGORICAL_RAW))
    # Inputs that may be missing at scoring time (NaN reaches the booster, which routes it down
    # each split's learned default branch). None today: the contract makes every input required,
    # so a missing value is a caller's error, not something for the trees to guess around.
    nullable: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, columns: Mapping[str, Any]) -> "FeatureSpec":
        vocab = {
            name: sorted({str(v) for v in np.asarray(columns[name], dtype=object)})
            for name in CATEGORICAL_RAW
        }
        return cls(vocabularies=vocab, income_level_medians=level_medians(columns))

    @property
    def inputs(self) -> list[str]:
        """Raw fields a caller must supply, in contract names."""
        return self.numeric + self.categorical

    @property
    def feature_names(self) -> list[str]:
        names = self.numeric + self.derived
        for cat in self.categorical:
            names += [f"{cat}={v}" for v in self.vocabularies[cat]]
        return names

    def monotone_constraints(self) -> tuple[int, ...]:
        return tuple(MONOTONE.get(n, 0) for n in self.feature_names)

    def matrix(self, columns: Mapping[str, Any]) -> np.ndarray:
        """The model matrix (float32, rows × feature_names) of rows already known to be valid.

        Encoding only: no checks beyond a KeyError for an absent column. Unknown categories
        encode as all zeros, which XGBoost treats like a level it never saw. Scoring goes through
        `ModelBundle.score`, which validates first; training calls this on contract-checked rows.
        """
        missing = [c for c in self.inputs if c not in columns]
        if missing:
            raise KeyError(f"missing model input(s): {', '.join(missing)}")
        n = len(np.asarray(columns[self.numeric[0]]))
        derived = all_derived(columns, self.income_level_medians)
        width = len(self.numeric) + len(self.derived) + sum(
            len(self.vocabularies[c]) for c in self.categorical
        )
        out = np.zeros((n, width), dtype=np.float32)
        j = 0
        for name in self.numeric:
            out[:, j] = _num(columns, name)
            j += 1
        for name in self.derived:
            out[:, j] = derived[name]
            j += 1
        for cat in self.categorical:
            values = np.asarray(columns[cat], dtype=object).astype(str)
            for level in self.vocabularies[cat]:
                out[:, j] = values == level
                j += 1
        return out

    def records_matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The same model matrix as `matrix`, from clean records (valid rows, as `validate`
        leaves them: floats and vocabulary text) instead of columns.

        Serving's one-employee request: building a column per input and comparing every level
        of every field costs about a hundred numpy calls for one row; here the raw inputs are
        one array, the derived features the very same functions (`all_derived`) on its
        columns, and each field's one-hot column a dictionary lookup. A test proves both give
        identical matrices, unseen categories (all zeros) included.
        """
        if len(rows) == 1:  # a live request: plain floats, no numpy call per derived feature
            return np.array([self.record_values(rows[0])], dtype=np.float32)
        n_num = len(self.numeric)
        out = np.zeros((len(rows), len(self.feature_names_cached)), dtype=np.float32)
        raw = np.array([[r[name] for name in self.numeric] for r in rows], dtype=np.float64)
        raw = raw.reshape(len(rows), n_num)
        out[:, :n_num] = raw
        derived = all_derived(_RawColumns(raw, self._numeric_index()), self.income_level_medians)
        for j, name in enumerate(self.derived):
            out[:, n_num + j] = derived[name]
        onehot = self._onehot_index()
        for i, r in enumerate(rows):
            for cat, index in onehot:
                j = index.get(r[cat])
                if j is not None:
                    out[i, j] = 1.0
        return out

    def record_values(self, row: Mapping[str, Any]) -> list[float]:
        """One clean record's model row as plain floats (float64, before the matrix's float32):
        the numeric inputs, the derived features by the same formulas on scalars, and each
        field's one-hot columns (all 0 for a category the spec never saw)."""
        derived_one = all_derived(row, self.income_level_medians, ON_SCALARS)
        values = [row[name] for name in self.numeric]
        values += [derived_one[name] for name in self.derived]
        values += [0.0] * (len(self.feature_names_cached) - len(values))
        for cat, index in self._onehot_index():
            j = index.get(row[cat])
            if j is not None:
                values[j] = 1.0
        return values

    @property
    def feature_names_cached(self) -> list[str]:
        """`feature_names`, computed once per spec (a spec is not changed after fitting)."""
        cached = self.__dict__.get("_feature_names")
        if cached is None:
            cached = self.__dict__["_feature_names"] = self.feature_names
        return cached

    def _numeric_index(self) -> dict[str, int]:
        cached = self.__dict__.get("_numeric_positions")
        if cached is None:
            cached = self.__dict__["_numeric_positions"] = {n: j for j, n in enumerate(self.numeric)}
        return cached

    def _onehot_index(self) -> list[tuple[str, dict[str, int]]]:
        """Per categorical field, level -> its column in the model matrix (computed once)."""
        cached = self.__dict__.get("_onehot")
        if cached is None:
            j = len(self.numeric) + len(self.derived)
            cached = []
            for cat in self.categorical:
                index = {}
                for level in self.vocabularies[cat]:
                    index[level] = j
                    j += 1
                cached.append((cat, index))
            self.__dict__["_onehot"] = cached
        return cached

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureSpec":
        version = int(data.get("recipe_version", -1))
        if version not in READABLE_RECIPE_VERSIONS:
            raise ValueError(
                f"feature recipe version {version} is not supported by this code "
                f"(reads {', '.join(map(str, READABLE_RECIPE_VERSIONS))}); retrain or upgrade"
            )
        unknown = [d for d in data.get("derived", []) if d not in DERIVED]
        if unknown:
            raise ValueError(f"feature spec names derived feature(s) this code cannot compute: {', '.join(unknown)}")
        return cls(**dict(data))
