"""HRIS exports handed over as files (CSV or Parquet), checked against the data contract.

Two layouts are accepted, told apart by the contract itself: a time-aware export (it has
`snapshot_date` and the other time columns, one row per employee and snapshot) and a static
export in the IBM HR Analytics layout, which is a single snapshot keyed by EmployeeNumber.
Nothing here decides what is valid: `contract.find_violations` does, so that files, SQL and the
stored partitions can never disagree.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa

from attrition_platform import contract

ExportKind = Literal["csv", "parquet"]

_KINDS: dict[str, ExportKind] = {".csv": "csv", ".parquet": "parquet"}


def export_path_kind(path: str | Path) -> ExportKind:
    """The reader a path needs, from its suffix alone.

    Only the name is looked at, so configuration can be rejected before the file even exists
    (e.g. when a pipeline run is launched rather than when it reaches the read).
    """
    suffix = Path(path).suffix.lower()
    try:
        return _KINDS[suffix]
    except KeyError:
        expected = " or ".join(_KINDS)
        shown = suffix or "no suffix"
        raise ValueError(
            f"unsupported HRIS export {Path(path).name!r} ({shown}): expected a {expected} file"
        ) from None


def read_export(path: str | Path) -> pd.DataFrame:
    """Load an export and return it in the lake's canonical dtypes, or refuse it as a whole.

    Every contract problem is raised together in one `contract.ContractError` so that the HR
    team can fix the export in one round trip; messages carry column names and 1-based data row
    numbers but never cell values, because the rows are personal data and errors end up in logs.
    """
    path = Path(path)
    kind = export_path_kind(path)
    if not path.exists():
        raise FileNotFoundError(f"HRIS export not found: {path}")
    source = str(path)
    try:
        if kind == "csv":
            _check_header(path, source)
            df = pd.read_csv(path)
        else:
            df = pd.read_parquet(path)
            if any(name is not None for name in df.index.names):
                # pandas restores a named index (e.g. EmployeeNumber) from its metadata; it is
                # still a column of the file and must be checked as one.
                df = df.reset_index()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException) as exc:
        # Parser messages give line numbers and structure, not cell contents.
        raise contract.ContractError(
            source, [f"file: not a readable {kind} export ({exc})"]
        ) from None
    except csv.Error as exc:
        raise contract.ContractError(
            source, [f"file: not a readable {kind} export ({exc})"]
        ) from None
    except UnicodeDecodeError as exc:
        # The default message quotes the undecodable bytes, which are part of a record.
        raise contract.ContractError(
            source, [f"file: not UTF-8 text (first bad byte at offset {exc.start})"]
        ) from None
    contract.require_rows(df, source)
    contract.validate(df, source)
    return contract.coerce(df)


def _check_header(path: Path, source: str) -> None:
    """Refuse a CSV whose first line is a record, without repeating any of it.

    pandas would take the first employee's values as column names, and the contract would then
    list them as unknown columns: a person's record printed in an error message.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle), None)
    if first is not None and contract.header_looks_like_data(first):
        raise contract.ContractError(
            source,
            [
                "file: the first line does not look like a header: expected column names such "
                f"as {contract.expected_header_hint()} (add the header row to the export)"
            ],
        )
