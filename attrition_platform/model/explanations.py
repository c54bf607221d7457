"""Why a score is what it is: XGBoost's native SHAP contributions, named in business words.

One module for live serving (`POST /v1/predict`) and the nightly batch scores, so that an
employee's factors read the same wherever HR sees them. numpy and xgboost only.

Units. Contributions are XGBoost's exact path-dependent TreeSHAP values (`pred_contribs=True`)
on the booster's raw margin (log-odds), not on the probability: per row they add up, with the
bias column, to the margin. The bundle's probability is `calibration(margin)` (Platt scaling,
see `bundle.Calibration`), a monotone map when its slope is positive, as a fitted calibration's
is: a positive contribution raises the risk, a negative one lowers it, and the sizes compare
within a row; they are not percentage points of probability.

One-hot fields. A categorical field reaches the booster as one column per level it was trained
on ("JobRole=Manager", "JobRole=Sales Executive", ...). The columns a row does not hold are 0,
but their contributions are real (the trees split on "is not a Sales Executive" just as well).
Ranked one by one they would read as factors about levels the employee does not have, and one
field's effect would be split over several entries. So the factors group them: a field's
contribution is the sum of all its columns' contributions (SHAP values add up over a group of
features, so the factors with the bias still sum to the margin), and it is named by the level
the row holds ("JobRole=Sales Representative" -> "Job role: Sales Representative"). A row that
holds none of the levels (a category unseen in training, scored under the "allow" policy) is
named by the bare field ("JobRole" -> "Job role").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xgboost as xgb

from attrition_platform.model import booster_calls

# -- business words --------------------------------------------------------------------------

# Every raw numeric input and every derived feature of the spec (feature_spec.NUMERIC_RAW and
# DERIVED): a test checks that none falls through to its raw name.
NUMERIC_LABELS: dict[str, str] = {
    "Age": "Age",
    "DailyRate": "Daily rate",
    "DistanceFromHome": "Distance from home",
    "Education": "Education level",
    "EnvironmentSatisfaction": "Satisfaction with the work environment",
    "HourlyRate": "Hourly rate",
    "JobInvolvement": "Job involvement",
    "JobLevel": "Job level",
    "JobSatisfaction": "Job satisfaction",
    "MonthlyIncome": "Monthly income",
    "MonthlyRate": "Monthly rate",
    "NumCompaniesWorked": "Number of previous employers",
    "PercentSalaryHike": "Last salary increase (%)",
    "PerformanceRating": "Performance rating",
    "RelationshipSatisfaction": "Satisfaction with work relationships",
    "StockOptionLevel": "Stock option level",
    "TotalWorkingYears": "Total years of work experience",
    "TrainingTimesLastYear": "Trainings attended last year",
    "WorkLifeBalance": "Work-life balance",
    "YearsAtCompany": "Years at the company",
    "YearsInCurrentRole": "Years in the current role",
    "YearsSinceLastPromotion": "Years since the last promotion",
    "YearsWithCurrManager": "Years with the current manager",
    "tenure_ratio": "Share of career spent at the company",
    "role_tenure_ratio": "Years in the current role relative to tenure",
    "promotion_staleness": "Years since promotion relative to tenure",
    "manager_tenure_ratio": "Years with the current manager relative to tenure",
    "companies_per_working_year": "Employers per year of work experience",
    "satisfaction_mean": "Average satisfaction (job, environment, relationships, work-life)",
    "income_vs_level": "Monthly income relative to the job level's median",
    "entry_level": "Entry-level job (level 1)",
    "no_stock_options": "No stock options",
    "first_year": "At most one year at the company",
    "under_25": "Younger than 25",
    "lowest_environment_satisfaction": "Lowest satisfaction with the work environment",
    "lowest_job_satisfaction": "Lowest job satisfaction",
    "lowest_job_involvement": "Lowest job involvement",
    "poor_work_life_balance": "Poor work-life balance (lowest rating)",
}

# Categorical fields (feature_spec.CATEGORICAL_RAW): the prefix for "Field=level", also the
# label of the bare field.
FIELD_LABELS: dict[str, str] = {
    "BusinessTravel": "Business travel",
    "Department": "Department",
    "EducationField": "Field of education",
    "JobRole": "Job role",
    "MaritalStatus": "Marital status",
    "OverTime": "Overtime",
}

# Levels that read better as a phrase than as "Field: level".
LEVEL_LABELS: dict[str, str] = {
    "OverTime=Yes": "Works overtime",
    "OverTime=No": "Does not work overtime",
    "BusinessTravel=Non-Travel": "Does not travel for work",
    "BusinessTravel=Travel_Rarely": "Travels for work rarely",
    "BusinessTravel=Travel_Frequently": "Travels for work frequently",
}


def factor_label(feature_name: str, strict: bool = False) -> str:
    """The business words for a model feature ("MonthlyIncome" -> "Monthly income").

    A level of an open field (a job role added after training) gets "Job role: <level>". A name
    nothing here knows comes back unchanged, so serving never fails over a label; `strict=True`
    raises KeyError instead (the test that every spec feature has hand-written words uses it).
    """
    if feature_name in NUMERIC_LABELS:
        return NUMERIC_LABELS[feature_name]
    if feature_name in LEVEL_LABELS:
        return LEVEL_LABELS[feature_name]
    if feature_name in FIELD_LABELS:
        return FIELD_LABELS[feature_name]
    field, sep, level = feature_name.partition("=")
    if sep and field in FIELD_LABELS:
        return f"{FIELD_LABELS[field]}: {level}"
    if strict:
        raise KeyError(f"feature '{feature_name}' has no business label")
    return feature_name


# -- contributions ---------------------------------------------------------------------------


def scoring_threads(nthread: int | None = None) -> int:
    """Booster threads: the argument, else OMP_NUM_THREADS (read at call time), else 1.

    Never 0, XGBoost's "all cores": on a machine whose cores other processes share, that
    oversubscribes them and thrashes. One row gains nothing from a second thread; batch
    callers (the nightly scores) pass their own count or set OMP_NUM_THREADS.
    """
    if nthread is not None and nthread > 0:
        return int(nthread)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else 1


def contributions(booster: xgb.Booster, x: np.ndarray, nthread: int | None = None) -> np.ndarray:
    """Exact TreeSHAP contributions, n x (F + 1) float32; the last column is the bias.

    Per row, the sum of all columns is the booster margin (float32 rounding). Needs a DMatrix
    (XGBoost has no in-place contributions), built without feature names: the matrix comes
    from the bundle's own spec, whose order the booster was trained on. Called through
    `booster_calls`, which skips the Python wrapper's per-call cost (same C functions).
    """
    return booster_calls.contributions(booster, x, scoring_threads(nthread))


# -- ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Factor:
    """One reason for one score: `contribution` in log-odds (margin) units, sign kept."""

    feature: str
    label: str
    contribution: float


@dataclass(frozen=True)
class _Groups:
    """How model columns fold into factors: each numeric column alone, each field's one-hot
    columns together. Arrays, so that ranking is a fixed handful of numpy calls for any n."""

    matrix: np.ndarray  # F x G, 1 where column j belongs to group g
    names: tuple[str, ...]  # F column names, then one bare field name per field
    group_column: np.ndarray  # G: the name index of a single-column group, -1 for a field
    group_field: np.ndarray  # G: the field's position for a field group, -1 otherwise
    onehot_columns: np.ndarray  # the fields' columns, field after field
    field_starts: np.ndarray  # where each field's columns start in onehot_columns
    field_bare: np.ndarray  # per field: the name index of the bare field name
    # The same as plain Python tuples, for ranking one row without numpy calls:
    column_of_group: tuple[int, ...]  # `group_column`
    field_of_group: tuple[int, ...]  # `group_field`
    bare_of_field: tuple[int, ...]  # `field_bare`
    columns_of_field: tuple[tuple[int, ...], ...]  # each field's one-hot columns


@lru_cache(maxsize=16)
def _groups(feature_names: tuple[str, ...]) -> _Groups:
    """Cached per feature list: serving ranks one row at a time with the same bundle."""
    names = list(feature_names)
    group_of: list[int] = []
    group_column: list[int] = []
    group_field: list[int] = []
    fields: dict[str, list[int]] = {}
    field_group: dict[str, int] = {}
    for j, name in enumerate(names):
        field, sep, _ = name.partition("=")
        if sep:
            if field not in field_group:
                field_group[field] = len(group_column)
                group_column.append(-1)
                group_field.append(len(fields))
                fields[field] = []
            group_of.append(field_group[field])
            fields[field].append(j)
        else:
            group_of.append(len(group_column))
            group_column.append(j)
            group_field.append(-1)
    matrix = np.zeros((len(names), len(group_column)), dtype=np.float32)
    matrix[np.arange(len(names)), group_of] = 1.0
    onehot = [j for cols in fields.values() for j in cols]
    starts = np.cumsum([0] + [len(cols) for cols in fields.values()])[:-1]
    bare = np.arange(len(names), len(names) + len(fields))
    names += list(fields)
    return _Groups(
        matrix=matrix,
        names=tuple(names),
        group_column=np.asarray(group_column),
        group_field=np.asarray(group_field),
        onehot_columns=np.asarray(onehot, dtype=np.intp),
        field_starts=np.asarray(starts, dtype=np.intp),
        field_bare=bare,
        column_of_group=tuple(group_column),
        field_of_group=tuple(group_field),
        bare_of_field=tuple(bare.tolist()),
        columns_of_field=tuple(tuple(cols) for cols in fields.values()),
    )


@dataclass(frozen=True)
class FactorTable:
    """The top factors of many rows as arrays, for writers that want columns, not objects.

    `features[i, r]` indexes `names` (the model columns, then the bare field names);
    `contributions[i, r]` is that factor's contribution; rank 0 is the largest |contribution|.
    """

    features: np.ndarray  # n x k int32
    contributions: np.ndarray  # n x k float32
    names: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return _labels(self.names)

    def rows(self) -> list[list[Factor]]:
        """Factor objects per row; factors with a contribution of exactly 0 (a feature no tree
        used) are left out, as they explain nothing."""
        names, labels = self.names, self.labels
        return [
            [Factor(names[j], labels[j], c) for j, c in zip(idx, vals, strict=True) if c != 0.0]
            for idx, vals in zip(self.features.tolist(), self.contributions.tolist(), strict=True)
        ]


@lru_cache(maxsize=32)
def _labels(names: tuple[str, ...]) -> tuple[str, ...]:
    """Labels per name tuple, made once per model (not once per request)."""
    return tuple(factor_label(n) for n in names)


def _rank_one(grouped: np.ndarray, groups: _Groups, k: int, x: np.ndarray | None) -> FactorTable:
    """`rank_factors` for a single row, through `rank_row`."""
    return rank_row(grouped[0].tolist(), groups, k, None if x is None else np.asarray(x)[0].tolist())


def rank_row(values: list[float], groups: _Groups, k: int, row: Sequence[float] | None) -> FactorTable:
    """`rank_factors` for one row in plain Python (same order, same ties, same level naming):
    the vectorised path's dozen numpy calls cost more than the work for one row.

    `values` are the row's contributions per group as float32 values (the batch path ranks
    float32 sums), `row` its model-matrix values (to name a field by the level it holds).
    """
    # sorted(reverse=True) keeps the earlier group first among equal sizes, as the batch path.
    top = sorted(range(len(values)), key=list(map(abs, values)).__getitem__, reverse=True)[:k]
    features = []
    for j in top:
        field = groups.field_of_group[j]
        if field < 0:
            features.append(groups.column_of_group[j])
            continue
        feature = groups.bare_of_field[field]
        if row is not None:
            for col in groups.columns_of_field[field]:
                if row[col] != 0:
                    feature = col
                    break
        features.append(feature)
    return FactorTable(
        features=np.array([features], dtype=np.int32).reshape(1, len(top)),
        contributions=np.array([[values[j] for j in top]], dtype=np.float32).reshape(1, len(top)),
        names=groups.names,
    )


def factor_groups(feature_names: Sequence[str]) -> _Groups:
    """How a model's columns fold into factors (cached per feature list): hold on to it to
    rank one row after another without hashing the feature list each time."""
    return _groups(tuple(feature_names))


def feature_groups(feature_names: Sequence[str]) -> np.ndarray:
    """Per model column, the index of its factor group (a field's one-hot columns share one):
    what `ShapTables.grouping` needs to sum contributions straight into factors."""
    return np.asarray(_groups(tuple(feature_names)).matrix.argmax(axis=1), dtype=np.intp)


def group_matrix(feature_names: Sequence[str]) -> np.ndarray:
    """Columns x factor groups, 1 where a column belongs to a group (cached per feature list):
    per-column contributions @ this = per-factor contributions."""
    return _groups(tuple(feature_names)).matrix


def factor_group_names(feature_names: Sequence[str]) -> list[str]:
    """The name of each group of `feature_groups`, in order: a column's own name, or the bare
    field name for a field's one-hot columns (`OverTime`)."""
    groups = _groups(tuple(feature_names))
    return [
        groups.names[int(col)] if col >= 0 else groups.names[int(groups.field_bare[int(field)])]
        for col, field in zip(groups.group_column.tolist(), groups.group_field.tolist(), strict=True)
    ]


def rank_factors(
    contribs: np.ndarray, feature_names: Sequence[str], k: int, x: np.ndarray | None = None
) -> FactorTable:
    """Per row, the k factors with the largest |contribution| (ties: the earlier feature first).

    `contribs` is n x F or n x (F + 1) (the bias column is ignored); one-hot columns of a field
    are summed into one factor (see the module docstring) and, given the model matrix `x`,
    named by the level the row holds. Vectorised: a million rows take seconds, not minutes.
    """
    c = np.asarray(contribs, dtype=np.float32)
    n_features = len(feature_names)
    if c.ndim != 2 or c.shape[1] not in (n_features, n_features + 1):
        raise ValueError(
            f"contributions of shape {c.shape} do not match {n_features} feature names"
        )
    groups = _groups(tuple(feature_names))
    grouped = c[:, :n_features] @ groups.matrix  # n x G
    n, g = grouped.shape
    k = max(0, min(int(k), g))
    if n == 1:
        return _rank_one(grouped, groups, k, x)
    # One sortable key per (row, group): |contribution| as its float32 bit pattern (ordered like
    # the value for non-negative floats) above the reversed group index, so equal sizes rank the
    # earlier group first whatever order the partition leaves them in.
    shift = max(1, int(g).bit_length())
    key = np.abs(grouped).view(np.uint32).astype(np.uint64) << np.uint64(shift)
    key |= (g - 1 - np.arange(g, dtype=np.uint64))[None, :]
    if 0 < k < g:
        top = np.argpartition(key, g - k, axis=1)[:, g - k :]
    else:
        top = np.broadcast_to(np.arange(g), (n, g)) if k else np.zeros((n, 0), dtype=np.intp)
    # Keys are unique within a row, so sorting them descending is a total, stable order.
    order = np.argsort(np.take_along_axis(key, top, axis=1), axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, axis=1)
    values = np.take_along_axis(grouped, top, axis=1)
    features = groups.group_column[top]
    if len(groups.field_bare):
        # Per row and field, the name index of the level it holds (the bare field if none):
        # one-hot values times (column + 1), maximum per field, minus one.
        if x is None:
            held = np.broadcast_to(groups.field_bare, (n, len(groups.field_bare)))
        else:
            cols = groups.onehot_columns
            marked = np.asarray(x)[:, cols] * (cols + 1).astype(np.float32)
            held = np.maximum.reduceat(marked, groups.field_starts, axis=1).astype(np.intp) - 1
            held = np.where(held < 0, groups.field_bare, held)
        field_at = groups.group_field[top]
        level = np.take_along_axis(held, np.maximum(field_at, 0), axis=1)
        features = np.where(field_at >= 0, level, features)
    return FactorTable(
        features=features.astype(np.int32),
        contributions=values.astype(np.float32),
        names=groups.names,
    )


def top_factors(
    contribs: np.ndarray, feature_names: Sequence[str], k: int, x: np.ndarray | None = None
) -> list[list[Factor]]:
    """`rank_factors` as Factor objects per row (what an API answer carries)."""
    return rank_factors(contribs, feature_names, k, x).rows()
