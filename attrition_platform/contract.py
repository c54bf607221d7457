"""The HRIS data contract (IBM HR Analytics layout plus the time-aware columns).

This is the single place that knows which columns an HRIS extract has, their types and their
domains. The synthetic generator produces it, the file and SQL sources validate against it and
the Dagster checks re-verify every stored partition with it. Dagster-free on purpose: serving
validates requests with the same domains. The column table itself lives in
`contract_columns.py` (no pandas), so that the model bundle can import it; it is re-exported here.
"""

from __future__ import annotations

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


def _to_dates(s: pd.Series) -> pd.Series:
    """Parse every value on its own as ISO 8601.

    Without a format pandas infers one from the first value and applies it to all, so one odd
    first row made every correct row look wrong, and coerce() could then fail on a value that
    find_violations() had accepted.
    """
    return pd.to_datetime(s, errors="coerce", format="ISO8601")


class ContractError(ValueError):
    """Raised with every contract violation of an extract at once (never only the first)."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
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
            if pd.api.types.is_numeric_dtype(s):
                # to_datetime would read numbers (20240131) as epoch nanoseconds: 1970.
                bad = present
            else:
                bad = present & _to_dates(s).isna().to_numpy()
                # ISO 8601 also allows 20240131; the contract (and every reader) wants dashes.
                text = s.map(lambda x: isinstance(x, str)).to_numpy(dtype=bool)
                if text.any():
                    iso = s.astype("string").str.match(_ISO_DATE_TEXT).fillna(False)
                    bad |= present & text & ~iso.to_numpy(dtype=bool)
            if bad.any():
                v.add(col.name, "expected a date (YYYY-MM-DD)", rownum[bad])
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
