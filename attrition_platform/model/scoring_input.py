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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from attrition_platform.contract_columns import COLUMNS, OPEN_CATEGORIES, Column

if TYPE_CHECKING:
    from attrition_platform.model.explanations import Factor, FactorTable
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
    """The rows that passed, as clean numpy columns, and what happened to the others.

    Input given as records (serving's one employee, a list of JSON objects) also keeps its
    clean rows as records (`rows`): `model_matrix` then encodes them straight from the
    records, and `columns` builds its arrays only if someone reads them. One row costs
    microseconds that way instead of a hundred numpy calls.
    """

    columns: Mapping[str, np.ndarray]  # valid rows only, in batch order
    valid: np.ndarray  # bool mask over the whole batch
    errors: tuple[RowError, ...]
    unseen_counts: dict[str, int]  # per categorical column: rows whose category is unseen
    unseen_policy: str
    rows: tuple[dict[str, Any], ...] | None = None  # valid rows as clean records (record input)

    @property
    def n_rows(self) -> int:
        return int(self.valid.size)

    def model_matrix(self, spec: FeatureSpec) -> np.ndarray:
        """The spec's model matrix of the valid rows, from records when the input was records."""
        if self.rows is not None:
            return spec.records_matrix(self.rows)
        return spec.matrix(self.columns)


@dataclass  # not frozen: a frozen dataclass's __init__ costs a live request ~2 µs
class ScoreResult:
    """What `ModelBundle.score` returns: a probability per row (NaN where the row was rejected)."""

    probabilities: np.ndarray
    valid: np.ndarray
    errors: tuple[RowError, ...] = ()
    unseen_counts: dict[str, int] = field(default_factory=dict)
    unseen_policy: str = "error"
    # With `score(..., explain=k)`: the booster margin per row (NaN where rejected; the
    # probability is the bundle's calibration of it) and the top-k factors of the valid rows.
    margins: np.ndarray | None = None
    factor_table: FactorTable | None = None

    @cached_property
    def factors(self) -> list[list[Factor] | None] | None:
        """Per row of the batch, its top factors (None for a rejected row); None unless the
        score was explained. Built on first use: batch writers take `factor_table` instead."""
        if self.factor_table is None:
            return None
        valid_rows = iter(self.factor_table.rows())
        return [next(valid_rows) if ok else None for ok in self.valid.tolist()]

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


@dataclass(frozen=True)
class _CategoryRule:
    """How one categorical input is checked: the same rule for column and record input."""

    known: frozenset[str]
    domain: frozenset[str]
    domain_grows: bool
    outside: str
    nullable: bool
    unseen: str

    @classmethod
    def of(cls, name: str, vocabulary: Sequence[str], nullable: bool, unseen: str) -> _CategoryRule:
        col = COLUMNS.get(name)
        described = col.describe() if col is not None else "a known category"
        return cls(
            known=frozenset(vocabulary),
            domain=frozenset(col.categories) if col is not None else frozenset(),
            domain_grows=col is None or name in OPEN_CATEGORIES,
            outside=f"outside the domain ({described})",
            nullable=nullable,
            unseen=unseen,
        )

    def check(self, v: Any) -> tuple[str, str | None, bool]:
        """(clean text, problem or None, whether the category is valid but unseen)."""
        if isinstance(v, str):
            if v in self.known:
                return v, None, False
            if self.domain_grows or v in self.domain:
                return ("", UNSEEN_PROBLEM, True) if self.unseen == "error" else (v, None, True)
            return "", self.outside, False
        if v is _ABSENT or (_is_missing(v) and not self.nullable):
            return "", "is missing", False
        if not _is_missing(v):
            return "", "expected text", False
        return "", None, False


def _check_category(
    arr: np.ndarray, name: str, vocabulary: Sequence[str], nullable: bool, unseen: str
) -> tuple[np.ndarray, Problems, list[int]]:
    """Text values, the problems, and the rows whose category is valid but unseen in training.

    Rejected values never travel further: the encoder only ever sees a vocabulary entry, an
    unseen category (policy "allow") or an empty string."""
    rule = _CategoryRule.of(name, vocabulary, nullable, unseen)
    clean = np.full(arr.size, "", dtype=object)
    problems: Problems = []
    unseen_rows: list[int] = []
    for i, v in enumerate(arr):
        clean[i], problem, is_unseen = rule.check(v)
        if is_unseen:
            unseen_rows.append(i)
        if problem is not None:
            problems.append((i, problem))
    return clean, problems, unseen_rows


UNSEEN_PROBLEM = "is a category the model was not trained on (unseen policy 'error')"


def validate(data: Any, spec: FeatureSpec, unseen: str = "error") -> ValidatedInputs:
    """Check `data` (a column mapping, a DataFrame or a list of records) against the contract
    domains and the spec's vocabularies; never raises for a bad row, only for a bad batch shape
    (a missing column, columns of different lengths, not tabular at all)."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen-category policy must be one of {', '.join(UNSEEN_POLICIES)}")
    if isinstance(data, list | tuple):
        return _validate_records(data, spec, unseen)
    columns, errors, n = _columns_of(data, spec.inputs)
    return _validate_columns(columns, errors, n, spec, unseen)


def _validate_columns(
    columns: dict[str, np.ndarray], errors: list[RowError], n: int, spec: FeatureSpec, unseen: str
) -> ValidatedInputs:
    """The column path of `validate`: whole numpy columns at a time (mappings, DataFrames)."""
    nullable = set(spec.nullable)
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


@dataclass(frozen=True)
class _RecordRules:
    """The per-field rules of record validation for one spec and policy, made once: serving
    checks one record per request, and building the rules cost more than applying them.

    Each numeric rule carries plain-float bounds for the fast path: an `int` (or a whole
    `float` where integers are asked for) inside the bounds is taken as is; anything else
    goes through `_number`, which gives the exact problem.
    """

    numeric: tuple[tuple[str, Column | None, bool, bool, float, float], ...]
    categorical: tuple[tuple[str, _CategoryRule, frozenset[str]], ...]

    @classmethod
    def of(cls, spec: FeatureSpec, unseen: str) -> _RecordRules:
        key = f"_record_rules_{unseen}"
        cached = spec.__dict__.get(key)
        if cached is None:
            nullable = set(spec.nullable)
            numeric = []
            for name in spec.numeric:
                col = COLUMNS.get(name)
                low = col.low if col is not None and col.low is not None else -math.inf
                high = col.high if col is not None and col.high is not None else math.inf
                numeric.append((name, col, col is None or col.kind == "int", name in nullable, float(low), float(high)))
            categorical = []
            for name in spec.categorical:
                rule = _CategoryRule.of(name, spec.vocabularies[name], name in nullable, unseen)
                categorical.append((name, rule, rule.known))
            cached = cls(numeric=tuple(numeric), categorical=tuple(categorical))
            spec.__dict__[key] = cached
        return cached


def _validate_records(records: Sequence[Any], spec: FeatureSpec, unseen: str) -> ValidatedInputs:
    """`validate` for a list of records, record by record: the same value rules (`_number`,
    `_CategoryRule`) and the same errors in the same order as the column path (by row, then
    numeric inputs in spec order, then categorical ones), without a numpy array per column.
    Serving's one-employee request is the case this exists for."""
    rules = _RecordRules.of(spec, unseen)
    valid = np.ones(len(records), dtype=bool)
    errors: list[RowError] = []
    rows: list[dict[str, Any]] = []
    counts = dict.fromkeys(spec.categorical, 0)
    for i, rec in enumerate(records):
        clean = check_record(rec, i, rules, errors, counts)
        if clean is None:
            valid[i] = False
        else:
            rows.append(clean)
    kept = tuple(rows)
    return ValidatedInputs(
        columns=_RecordColumns(kept, spec),
        valid=valid,
        errors=tuple(errors),
        unseen_counts={name: c for name, c in counts.items() if c},
        unseen_policy=unseen,
        rows=kept,
    )


def record_rules(spec: FeatureSpec, unseen: str) -> _RecordRules:
    """The per-field rules of `check_record` for a spec and unseen-category policy (made once)."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen-category policy must be one of {', '.join(UNSEEN_POLICIES)}")
    return _RecordRules.of(spec, unseen)


def check_record(
    rec: Any, i: int, rules: _RecordRules, errors: list[RowError], counts: dict[str, int]
) -> dict[str, Any] | None:
    """One record checked by `rules`: its clean values (floats and vocabulary text), or None
    with its problems appended to `errors` (as row `i`). Unseen categories are counted in
    `counts` by field, rejected or not."""
    if not isinstance(rec, Mapping):
        errors.append(RowError(i, RECORD, "is not a record of field names and values"))
        return None
    clean: dict[str, Any] = {}
    ok = True
    for name, col, integer, may_miss, low, high in rules.numeric:
        v = rec.get(name, _ABSENT)
        kind = type(v)
        if kind is int or (kind is float and math.isfinite(v) and (not integer or v.is_integer())):
            if low <= v <= high:
                clean[name] = float(v)
                continue
        clean[name], problem = _number(v, col, integer, may_miss)
        if problem is not None:
            errors.append(RowError(i, name, problem))
            ok = False
    for name, rule, known in rules.categorical:
        v = rec.get(name, _ABSENT)
        if type(v) is str and v in known:
            clean[name] = v
            continue
        clean[name], problem, is_unseen = rule.check(v)
        if is_unseen:
            counts[name] += 1
        if problem is not None:
            errors.append(RowError(i, name, problem))
            ok = False
    return clean if ok else None


class _RecordColumns(Mapping[str, np.ndarray]):
    """The clean columns of record input, each array built on first read (float64 for numeric
    inputs, object for categorical ones, as the column path gives them)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], spec: FeatureSpec):
        self._rows = rows
        self._numeric = set(spec.numeric)
        self._names = list(spec.inputs)
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._made:
            if name not in self._names:
                raise KeyError(name)
            values = [r[name] for r in self._rows]
            if name in self._numeric:
                self._made[name] = np.array(values, dtype=np.float64)
            else:
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                self._made[name] = arr
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
