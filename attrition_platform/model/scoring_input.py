"""Validation of scoring input: what the bundle accepts before anything reaches the booster.

Serving calls this on every request and batch scoring on every table, so it is numpy-only (no
pandas, no Dagster) and checks types and domains against the HRIS contract's own column table
(`contract_columns`), never a copy of it. Without it, a missing Age (NaN) was routed like an age
of 60+, `OverTime` = "yes" encoded as neither Yes nor No, and an unseen JobRole as all zeros —
all silently.

Errors name the row, the column and the problem and never the value: HR data is personal, and
error messages end up in logs. Categories the contract allows but the model never saw follow an
explicit policy ("error" rejects the row; "allow" encodes them as all zeros, which XGBoost
treats like a level it never saw) and are counted either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from attrition_platform.contract_columns import COLUMNS, OPEN_CATEGORIES, Column

if TYPE_CHECKING:
    from attrition_platform.model.feature_spec import FeatureSpec

UnseenPolicy = Literal["error", "allow"]
UNSEEN_POLICIES: tuple[str, ...] = ("error", "allow")
# How many row numbers one summary line shows before "+N more".
MAX_ROWS_SHOWN = 3
RECORD = "(record)"  # the "column" of an error about a whole record


class ScoringInputError(ValueError):
    """Input that cannot be scored. The message names rows, columns and problems, not values."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()):
        self.errors = tuple(errors)
        super().__init__(message)


@dataclass(frozen=True)
class RowError:
    """One problem of one row; `row` is the 0-based position in the scored batch."""

    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: '{self.column}' {self.problem}"


@dataclass(frozen=True)
class ValidatedInputs:
    """The rows that passed, as clean numpy columns, and what happened to the others."""

    columns: dict[str, np.ndarray]  # valid rows only, in batch order
    valid: np.ndarray  # bool mask over the whole batch
    errors: tuple[RowError, ...]
    unseen_counts: dict[str, int]  # per categorical column: rows whose category is unseen
    unseen_policy: str

    @property
    def n_rows(self) -> int:
        return int(self.valid.size)


@dataclass(frozen=True)
class ScoreResult:
    """What `ModelBundle.score` returns: a probability per row (NaN where the row was rejected)."""

    probabilities: np.ndarray
    valid: np.ndarray
    errors: tuple[RowError, ...] = ()
    unseen_counts: dict[str, int] = field(default_factory=dict)
    unseen_policy: str = "error"

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unseen_total(self) -> int:
        return sum(self.unseen_counts.values())

    def errors_by_row(self) -> dict[int, list[str]]:
        """Per-row messages ("'Age' is missing"), for an API answering row by row."""
        out: dict[int, list[str]] = {}
        for e in self.errors:
            out.setdefault(e.row, []).append(f"'{e.column}' {e.problem}")
        return out

    def require_all(self) -> np.ndarray:
        """The probabilities if every row was valid; otherwise one error summarising all."""
        if self.errors:
            raise ScoringInputError(summarise(self.errors, self.valid.size), self.errors)
        return self.probabilities


def summarise(errors: Sequence[RowError], n_rows: int) -> str:
    """One line per (column, problem) with the first row numbers: readable for a batch of 100k."""
    groups: dict[tuple[str, str], list[int]] = {}
    for e in errors:
        groups.setdefault((e.column, e.problem), []).append(e.row)
    rejected = len({e.row for e in errors})
    parts = []
    for (column, problem), rows in groups.items():
        shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
        more = f" +{len(rows) - MAX_ROWS_SHOWN} more" if len(rows) > MAX_ROWS_SHOWN else ""
        label = "row" if len(rows) == 1 else "rows"
        parts.append(f"'{column}' {problem} ({label} {shown}{more})")
    return f"{rejected} of {n_rows} row(s) cannot be scored: " + "; ".join(parts)


def _is_missing(v: Any) -> bool:
    """None, a float NaN (incl. numpy's) or pandas' NA/NaT, recognised without importing pandas."""
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    return type(v).__name__ in ("NAType", "NaTType")


def _as_column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if isinstance(values, list | tuple) else np.asarray(values)
    if arr.ndim != 1:
        raise ScoringInputError(f"input column '{name}' must be one-dimensional (one value per row)")
    return arr


def _from_records(records: Sequence[Any], names: Sequence[str]) -> tuple[dict[str, np.ndarray], list[RowError]]:
    """Columns from a list of records; an absent field is marked with `_ABSENT` for its row."""
    errors: list[RowError] = []
    columns: dict[str, np.ndarray] = {n: np.empty(len(records), dtype=object) for n in names}
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            errors.append(RowError(i, RECORD, "is not a record of field names and values"))
            for n in names:
                columns[n][i] = _ABSENT
            continue
        for n in names:
            columns[n][i] = rec.get(n, _ABSENT)
    return columns, errors


class _Absent:
    """A field the record does not have (as opposed to one given as null)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _columns_of(data: Any, names: Sequence[str]) -> tuple[dict[str, np.ndarray], list[RowError], int]:
    if isinstance(data, list | tuple):
        columns, errors = _from_records(data, names)
        return columns, errors, len(data)
    if not (hasattr(data, "__getitem__") and hasattr(data, "__contains__")) or isinstance(data, str | bytes):
        raise ScoringInputError(
            "scoring input must be a mapping of columns (or a DataFrame) or a list of records"
        )
    missing = [n for n in names if n not in data]
    if missing:
        raise ScoringInputError(f"missing input column(s): {', '.join(missing)}")
    columns = {n: _as_column(data[n], n) for n in names}
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise ScoringInputError(
            f"input columns have different lengths ({', '.join(str(n) for n in sorted(lengths))})"
        )
    return columns, [], lengths.pop() if lengths else 0


Problems = list[tuple[int, str]]  # (row, problem) of one column


def _number(v: Any, col: Column | None, integer: bool, nullable: bool) -> tuple[float, str | None]:
    """One value of a numeric column: its float and its problem (None if fine)."""
    if v is _ABSENT:
        return math.nan, "is missing"
    if _is_missing(v):
        return math.nan, None if nullable else "is missing"
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
        return math.nan, "expected an integer" if integer else "expected a number"
    try:
        f = float(v)
    except (OverflowError, TypeError, ValueError):
        f = math.inf
    if not math.isfinite(f) or (integer and f != math.floor(f)):
        return math.nan, "expected an integer" if integer else "expected a number"
    if col is not None and (
        (col.low is not None and f < col.low) or (col.high is not None and f > col.high)
    ):
        return math.nan, f"outside the domain ({col.describe()})"
    return f, None


def _check_number(arr: np.ndarray, col: Column | None, nullable: bool) -> tuple[np.ndarray, Problems]:
    """Float values (NaN where unusable) and the problems. Integers must be whole numbers (35.0
    is fine; 35.5, True, "35" and inf are not) inside the contract's inclusive domain."""
    integer = col is None or col.kind == "int"
    if arr.dtype.kind not in "iuf":  # objects, text, booleans: value by value
        x = np.empty(arr.size, dtype=np.float64)
        problems: Problems = []
        for i, v in enumerate(arr.tolist() if arr.dtype.kind != "O" else arr):
            x[i], problem = _number(v, col, integer, nullable)
            if problem is not None:
                problems.append((i, problem))
        return x, problems
    x = arr.astype(np.float64)  # a copy: rejected values are blanked below
    missing = np.isnan(x)
    wrong = ~missing & ~np.isfinite(x)
    if integer:
        wrong |= ~missing & ~wrong & (x != np.floor(x))
    ok = ~missing & ~wrong
    outside = np.zeros(x.size, dtype=bool)
    if col is not None and col.low is not None:
        outside |= ok & (x < col.low)
    if col is not None and col.high is not None:
        outside |= ok & (x > col.high)
    problems = []
    masks = (
        ("is missing", missing & (not nullable)),
        ("expected an integer" if integer else "expected a number", wrong),
        (f"outside the domain ({col.describe() if col is not None else ''})", outside),
    )
    for problem, mask in masks:
        if mask.any():
            problems += [(int(r), problem) for r in np.flatnonzero(mask)]
    x[wrong | outside] = np.nan
    return x, problems


def _check_category(
    arr: np.ndarray, name: str, vocabulary: Sequence[str], nullable: bool, unseen: str
) -> tuple[np.ndarray, Problems, list[int]]:
    """Text values, the problems, and the rows whose category is valid but unseen in training.

    Rejected values never travel further: the encoder only ever sees a vocabulary entry, an
    unseen category (policy "allow") or an empty string."""
    col = COLUMNS.get(name)
    known = set(vocabulary)
    domain_grows = col is None or name in OPEN_CATEGORIES
    domain = set(col.categories) if col is not None else set()
    outside = f"outside the domain ({col.describe() if col is not None else 'a known category'})"
    clean = np.full(arr.size, "", dtype=object)
    problems: Problems = []
    unseen_rows: list[int] = []
    for i, v in enumerate(arr):
        if isinstance(v, str):
            if v in known:
                clean[i] = v
            elif domain_grows or v in domain:
                unseen_rows.append(i)
                if unseen == "error":
                    problems.append((i, UNSEEN_PROBLEM))
                else:
                    clean[i] = v
            else:
                problems.append((i, outside))
        elif v is _ABSENT or (_is_missing(v) and not nullable):
            problems.append((i, "is missing"))
        elif not _is_missing(v):
            problems.append((i, "expected text"))
    return clean, problems, unseen_rows


UNSEEN_PROBLEM = "is a category the model was not trained on (unseen policy 'error')"


def validate(data: Any, spec: FeatureSpec, unseen: str = "error") -> ValidatedInputs:
    """Check `data` (a column mapping, a DataFrame or a list of records) against the contract
    domains and the spec's vocabularies; never raises for a bad row, only for a bad batch shape
    (a missing column, columns of different lengths, not tabular at all)."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen-category policy must be one of {', '.join(UNSEEN_POLICIES)}")
    nullable = set(spec.nullable)
    columns, errors, n = _columns_of(data, spec.inputs)
    bad = np.zeros(n, dtype=bool)
    not_records = {e.row for e in errors}  # their fields need no error of their own
    bad[list(not_records)] = True
    row_errors: list[RowError] = list(errors)
    clean: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}

    def collect(name: str, problems: Problems) -> None:
        for row, problem in problems:
            if row not in not_records:
                row_errors.append(RowError(row, name, problem))
                bad[row] = True

    for name in spec.numeric:
        clean[name], problems = _check_number(columns[name], COLUMNS.get(name), name in nullable)
        collect(name, problems)
    for name in spec.categorical:
        clean[name], problems, unseen_rows = _check_category(
            columns[name], name, spec.vocabularies[name], name in nullable, unseen
        )
        collect(name, problems)
        if unseen_rows:
            counts[name] = len(unseen_rows)
    row_errors.sort(key=lambda e: e.row)
    valid = ~bad
    return ValidatedInputs(
        columns={k: v[valid] for k, v in clean.items()},
        valid=valid,
        errors=tuple(row_errors),
        unseen_counts=counts,
        unseen_policy=unseen,
    )
