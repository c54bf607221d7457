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


def _check_number(
    arr: np.ndarray, col: Column | None, nullable: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Float values (NaN where unusable) and a mask per problem. Integers must be whole numbers
    (35.0 is fine, 35.5, True, "35" and inf are not) inside the contract's inclusive domain."""
    n = arr.size
    absent = np.zeros(n, dtype=bool)
    if arr.dtype.kind in "iu":
        x = arr.astype(np.float64)
        missing = np.zeros(n, dtype=bool)
        wrong = np.zeros(n, dtype=bool)
    elif arr.dtype.kind == "f":
        x = arr.astype(np.float64)
        missing = np.isnan(x)
        wrong = ~missing & ~np.isfinite(x)
    elif arr.dtype.kind == "b":
        x = np.full(n, np.nan)
        missing = np.zeros(n, dtype=bool)
        wrong = np.ones(n, dtype=bool)
    else:
        x = np.full(n, np.nan)
        missing = np.zeros(n, dtype=bool)
        wrong = np.zeros(n, dtype=bool)
        for i, v in enumerate(arr.tolist() if arr.dtype.kind != "O" else arr):
            if v is _ABSENT:
                absent[i] = True
            elif _is_missing(v):
                missing[i] = True
            elif isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
                wrong[i] = True
            else:
                try:
                    f = float(v)
                except (OverflowError, TypeError, ValueError):
                    wrong[i] = True
                    continue
                if math.isfinite(f):
                    x[i] = f
                else:
                    wrong[i] = True
    integer = col is None or col.kind == "int"
    if integer:
        wrong |= ~missing & ~absent & ~wrong & (x != np.floor(x))
    ok = ~missing & ~absent & ~wrong
    outside = np.zeros(n, dtype=bool)
    if col is not None and col.low is not None:
        outside |= ok & (x < col.low)
    if col is not None and col.high is not None:
        outside |= ok & (x > col.high)
    x[wrong | outside | absent] = np.nan
    kind = "an integer" if integer else "a number"
    problems = {
        "is missing": absent | (missing if not nullable else np.zeros(n, dtype=bool)),
        f"expected {kind}": wrong,
        f"outside the domain ({col.describe() if col is not None else 'finite'})": outside,
    }
    return x, problems


def _check_category(
    arr: np.ndarray,
    name: str,
    vocabulary: Sequence[str],
    nullable: bool,
    unseen: str,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Text values, a mask per problem and the mask of unseen-but-valid categories."""
    col = COLUMNS.get(name)
    known = set(vocabulary)
    domain_grows = col is None or name in OPEN_CATEGORIES
    domain = set(col.categories) if col is not None else set()
    n = arr.size
    code = np.zeros(n, dtype=np.int8)  # 0 ok, 1 absent, 2 missing, 3 not text, 4 outside, 5 unseen
    # Rejected values never travel further: the encoder only ever sees a vocabulary entry, an
    # unseen category (policy "allow") or an empty string.
    clean = np.full(n, "", dtype=object)
    for i, v in enumerate(arr):
        if v is _ABSENT:
            code[i] = 1
        elif _is_missing(v):
            code[i] = 0 if nullable else 2
        elif not isinstance(v, str):
            code[i] = 3
        elif v in known:
            clean[i] = v
        elif domain_grows or v in domain:
            code[i] = 5
            clean[i] = v
        else:
            code[i] = 4
    unseen_mask = code == 5
    described = col.describe() if col is not None else "a known category"
    problems = {
        "is missing": (code == 1) | (code == 2),
        "expected text": code == 3,
        f"outside the domain ({described})": code == 4,
        "is a category the model was not trained on (unseen policy 'error')": (
            unseen_mask if unseen == "error" else np.zeros(n, dtype=bool)
        ),
    }
    return clean, problems, unseen_mask


def validate(data: Any, spec: FeatureSpec, unseen: str = "error") -> ValidatedInputs:
    """Check `data` (a column mapping, a DataFrame or a list of records) against the contract
    domains and the spec's vocabularies; never raises for a bad row, only for a bad batch shape
    (a missing column, columns of different lengths, not tabular at all)."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen-category policy must be one of {', '.join(UNSEEN_POLICIES)}")
    nullable = set(spec.nullable)
    columns, errors, n = _columns_of(data, spec.inputs)
    bad = np.zeros(n, dtype=bool)
    for e in errors:
        bad[e.row] = True
    per_column: list[tuple[str, dict[str, np.ndarray]]] = []
    clean: dict[str, np.ndarray] = {}
    unseen_masks: dict[str, np.ndarray] = {}
    for name in spec.numeric:
        clean[name], problems = _check_number(columns[name], COLUMNS.get(name), name in nullable)
        per_column.append((name, problems))
    for name in spec.categorical:
        clean[name], problems, unseen_masks[name] = _check_category(
            columns[name], name, spec.vocabularies[name], name in nullable, unseen
        )
        per_column.append((name, problems))
    row_errors: list[RowError] = list(errors)
    not_records = {e.row for e in errors}  # their fields need no error of their own
    for name, problems in per_column:
        for problem, mask in problems.items():
            if mask.any():
                bad |= mask
                row_errors.extend(
                    RowError(int(r), name, problem)
                    for r in np.flatnonzero(mask)
                    if int(r) not in not_records
                )
    row_errors.sort(key=lambda e: e.row)
    valid = ~bad
    counts = {name: int(m.sum()) for name, m in unseen_masks.items() if m.any()}
    return ValidatedInputs(
        columns={k: v[valid] for k, v in clean.items()},
        valid=valid,
        errors=tuple(row_errors),
        unseen_counts=counts,
        unseen_policy=unseen,
    )
