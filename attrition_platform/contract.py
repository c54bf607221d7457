"""The HRIS data contract (IBM HR Analytics layout plus the time-aware columns).

This is the single place that knows which columns an HRIS extract has, their types and their
domains. The synthetic generator produces it, the file and SQL sources validate against it and
the Dagster checks re-verify every stored partition with it. Dagster-free on purpose: serving
validates requests with the same domains. The column table itself lives in
`contract_columns.py` (no pandas), so that the model bundle can import it; it is re-exported here.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attrition_platform.contract_columns import (  # noqa: F401  (re-exported)
    CATEGORICAL,
    COLUMNS,
    JOB_ROLES,
    KEY,
    OPEN_CATEGORIES,
    PROTECTED_ATTRIBUTES,
    SNAPSHOT_DATE,
    STATIC_COLUMNS,
    STATIC_NAMES,
    TERMINATION_COLUMNS,
    TIME_COLUMNS,
    Column,
)

MAX_EXAMPLES = 3
# coerce() casts ints to int64; a larger value would overflow (or wrap) there instead of being
# reported here. Compared as float, so the bound is 2**63 itself (exclusive).
_INT64_LIMIT = float(2**63)
# Dates given as text must start with YYYY-MM-DD (a time part may follow).
_ISO_DATE_TEXT = r"\d{4}-\d{2}-\d{2}"


# The timezone part of an ISO date-time: Z, +01, +0100 or +01:00 after a time of day.
_TIME_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$")


def _to_dates(s: pd.Series) -> pd.Series:
    """Parse every value on its own as ISO 8601.

    Without a format pandas infers one from the first value and applies it to all, so one odd
    first row made every correct row look wrong, and coerce() could then fail on a value that
    find_violations() had accepted. Mixed timezone offsets are reported by find_violations
    (`_offset_outliers`); pandas' own warning about them says nothing a user can act on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pd.to_datetime(s, errors="coerce", format="ISO8601")


def _offset(value: object) -> str:
    """A date value's timezone offset as text ('' for a plain date or a naive date-time)."""
    if isinstance(value, str):
        found = _TIME_OFFSET.search(value.strip())
        if not found or not found.group(1):
            return ""
        raw = found.group(1)
        if raw == "Z":
            return "+00:00"
        digits = raw[1:].replace(":", "").ljust(4, "0")
        return f"{raw[0]}{digits[:2]}:{digits[2:]}"
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        if offset is None:
            return ""
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return ""


def _offset_outliers(s: pd.Series, present: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct timezone offsets of a date column, and the rows that differ from its most
    common one. One offset (or none) for a whole column gives an unambiguous date per row;
    several mean the export mixed clocks, and pandas cannot even parse such a column as one."""
    offsets = pd.Series([_offset(v) for v in s], index=s.index).where(present, None)
    counts = offsets.dropna().value_counts()
    if len(counts) <= 1:
        return [], np.zeros(len(s), dtype=bool)
    common = counts.index[0]
    odd = present & (offsets != common).to_numpy(dtype=bool)
    return sorted(v or "none" for v in counts.index), odd


class ContractError(ValueError):
    """Raised with every contract violation of an extract at once (never only the first)."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            # One problem, one line: what a terminal or a log search handles best.
            super().__init__(f"HRIS extract {source} breaks the data contract: {problems[0]}")
            return
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"HRIS extract {source} breaks the data contract ({len(problems)} problem(s)):\n{body}"
        )


@dataclass
class Violations:
    """Collects problems so that one error can report all of them."""

    problems: list[str] = field(default_factory=list)

    def add(self, column: str, problem: str, rows: pd.Index | None = None) -> None:
        where = ""
        if rows is not None and len(rows):
            shown = ", ".join(str(r) for r in list(rows[:MAX_EXAMPLES]))
            more = f" (+{len(rows) - MAX_EXAMPLES} more)" if len(rows) > MAX_EXAMPLES else ""
            where = f"; rows {shown}{more}"
        self.problems.append(f"column '{column}': {problem}{where}")


def is_time_aware(df: pd.DataFrame) -> bool:
    return SNAPSHOT_DATE in df.columns


def find_violations(df: pd.DataFrame, *, allow_new_categories: bool = False) -> list[str]:
    """Every contract problem of `df`, as readable sentences naming column, problem and rows.

    Row numbers are 1-based data rows of the original file (header excluded), so a person can
    find them in a spreadsheet. Values themselves are never echoed: HR data is personal.
    """
    v = Violations()
    time_aware = is_time_aware(df)
    expected = list(STATIC_COLUMNS) + (list(TIME_COLUMNS) if time_aware else [])
    missing = [c.name for c in expected if c.name not in df.columns]
    for name in missing:
        # Attrition is optional in a time-aware extract: terminations carry the label there.
        if time_aware and name in ("Attrition", "termination_date", "termination_type"):
            continue
        v.add(name, "missing from the extract")
    unknown = [c for c in df.columns if c not in COLUMNS]
    for name in unknown:
        v.add(str(name), "not part of the HRIS contract (remove or rename it)")
    if not time_aware:
        # Without snapshot_date these are neither checked nor a valid static layout; coerce()
        # would then fail on them with a pandas error that can quote the offending value.
        for col in TIME_COLUMNS:
            if col.name in df.columns:
                v.add(col.name, f"time-aware column in an extract without '{SNAPSHOT_DATE}'")
    repeated = df.columns[df.columns.duplicated()].unique()
    for name in repeated:
        v.add(str(name), f"appears {int((df.columns == name).sum())} times in the header")
    rownum = pd.RangeIndex(1, len(df) + 1)
    for col in expected:
        if col.name not in df.columns or col.name in repeated:
            continue
        s = df[col.name]
        null = s.isna().to_numpy()
        if null.any() and not col.nullable:
            v.add(col.name, f"{int(null.sum())} empty value(s)", rownum[null])
        present = ~null
        if col.kind == "int":
            num = pd.to_numeric(s, errors="coerce")
            # Text and fractions are both "not an integer": report them together, not the
            # fractions only once the text is gone.
            text = present & num.isna().to_numpy()
            frac = present & (num.fillna(0) % 1 != 0).to_numpy(dtype=bool)
            bad_type = text | frac
            if bad_type.any():
                v.add(col.name, "expected an integer", rownum[bad_type])
            ok = present & ~bad_type
            vals = num.to_numpy(dtype=float, na_value=np.nan)
            out = np.zeros(len(s), dtype=bool)
            if col.low is not None:
                out |= ok & (vals < col.low)
            if col.high is not None:
                out |= ok & (vals > col.high)
            out |= ok & (np.abs(vals) >= _INT64_LIMIT)
            if out.any():
                v.add(col.name, f"outside the domain ({col.describe()})", rownum[out])
        elif col.kind == "category":
            if allow_new_categories and col.name in OPEN_CATEGORIES:
                continue
            bad = present & ~s.astype("string").isin(col.categories).to_numpy(dtype=bool)
            if bad.any():
                v.add(col.name, f"value outside the domain ({col.describe()})", rownum[bad])
        elif col.kind == "date":
            parsed: pd.Series | None = None
            if pd.api.types.is_numeric_dtype(s):
                # to_datetime would read numbers (20240131) as epoch nanoseconds: 1970.
                bad = present
            else:
                parsed = _to_dates(s)
                bad = present & parsed.isna().to_numpy()
                # ISO 8601 also allows 20240131; the contract (and every reader) wants dashes.
                text = s.map(lambda x: isinstance(x, str)).to_numpy(dtype=bool)
                if text.any():
                    iso = s.astype("string").str.match(_ISO_DATE_TEXT).fillna(False)
                    bad |= present & text & ~iso.to_numpy(dtype=bool)
            if bad.any():
                v.add(col.name, "expected a date (YYYY-MM-DD)", rownum[bad])
            # Several offsets leave pandas with objects instead of datetimes (and coerce() could
            # not take `.dt.date` of them); only then is the per-value look needed.
            mixed = parsed is not None and not pd.api.types.is_datetime64_any_dtype(parsed)
            offsets, odd = _offset_outliers(s, present & ~bad) if mixed else ([], bad & False)
            if odd.any():
                v.add(
                    col.name,
                    f"mixed timezone offsets ({', '.join(offsets)}): give plain dates "
                    "(YYYY-MM-DD) or one offset for the whole column",
                    rownum[odd],
                )
        elif col.kind == "bool":
            as_str = s.astype("string").str.lower()
            bad = present & ~as_str.isin(["true", "false", "1", "0", "yes", "no"]).to_numpy(
                dtype=bool
            )
            if bad.any():
                v.add(col.name, "expected true/false", rownum[bad])
    if KEY in df.columns and KEY not in repeated and SNAPSHOT_DATE not in repeated:
        keys = [KEY, SNAPSHOT_DATE] if time_aware else [KEY]
        dup = df.duplicated(subset=keys, keep="first").to_numpy()
        if dup.any():
            v.add(KEY, f"duplicate key {' + '.join(keys)}", rownum[dup])
    return v.problems


def require_rows(df: pd.DataFrame, source: str) -> None:
    """Refuse an extract without rows: loading it would silently empty the snapshot."""
    if len(df) == 0:
        raise ContractError(
            source, ["no rows: the extract has no employees (only a header?); refused"]
        )


def header_looks_like_data(names: Sequence[str]) -> bool:
    """True when a file's first line reads like an employee record rather than column names.

    A CSV exported without its header makes the first employee's values the column names;
    reporting them as "unknown columns" would print a person's record. Most names then are
    not contract columns (in any case) and look like values: numbers, dates, flags or
    contract category values.
    """
    if not names:
        return False
    known = {c.lower() for c in COLUMNS}
    values = {v.lower() for c in COLUMNS.values() for v in c.categories} | {
        "true", "false", "yes", "no", "y", "n"
    }

    def looks_like_value(name: str) -> bool:
        text = name.strip()
        if not text or text.lower() in values or re.match(_ISO_DATE_TEXT, text):
            return True
        try:
            float(text)
        except ValueError:
            return False
        return True

    unknown = [n for n in names if n.strip().lower() not in known]
    return len(unknown) * 2 > len(names) and sum(map(looks_like_value, unknown)) * 2 >= len(unknown)


def expected_header_hint(count: int = 6) -> str:
    return ", ".join(list(COLUMNS)[:count]) + ", ..."


def validate(df: pd.DataFrame, source: str, *, allow_new_categories: bool = False) -> None:
    problems = find_violations(df, allow_new_categories=allow_new_categories)
    if problems:
        raise ContractError(source, problems)


def coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Cast a validated extract to the canonical dtypes used by every table in the lake."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for name in df.columns:
        col = COLUMNS[name]
        s = df[name].reset_index(drop=True)
        if col.kind == "int":
            out[name] = pd.to_numeric(s).astype("int64")
        elif col.kind == "category":
            out[name] = s.astype("string").astype(object).where(s.notna(), None)
        elif col.kind == "date":
            out[name] = _to_dates(s).dt.date
        elif col.kind == "bool":
            out[name] = s.astype("string").str.lower().isin(["true", "1", "yes"])
    return out


def arrow_type(name: str) -> "object | None":
    """The storage type of a contract column in the lake (None for non-contract columns).

    Fixed types matter: a snapshot where a nullable column happens to be all empty must not
    create a table whose later partitions can no longer be written.
    """
    import pyarrow as pa

    col = COLUMNS.get(name)
    if col is None:
        return None
    return {"int": pa.int64(), "category": pa.string(), "date": pa.date32(), "bool": pa.bool_()}[
        col.kind
    ]
