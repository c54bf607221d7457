"""HRIS extracts read straight from the HR database, checked against the same data contract.

A whole table or a query result is treated exactly like a file export: the contract validates it
and coerces it, so a SQL source can never let through what a CSV would be refused for.
"""

from __future__ import annotations

import re

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from attrition_platform import contract

# One identifier, optionally schema-qualified. Anything else (quotes, semicolons, spaces) is
# refused outright, even though SQLAlchemy would quote it, because such a name is far more
# likely a mistake or an injection attempt than a real HRIS table.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
_MAX_LISTED_TABLES = 20


def read_sql(url: str, *, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Load an HRIS table or query result in the lake's canonical dtypes, or refuse it whole.

    The statement runs in a transaction that is rolled back, so a query with side effects
    leaves the HR database untouched. Errors never show the URL's password, and contract
    problems name columns and 1-based result rows, never values (the rows are personal data).
    """
    if (table is None) == (query is None):
        raise ValueError("read_sql needs exactly one of table= or query=")
    schema, name = _split_table(table) if table is not None else (None, None)
    if query is not None and not query.strip():
        raise ValueError("read_sql got an empty query")

    parsed = _parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    engine = sa.create_engine(parsed)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise ConnectionError(
                f"cannot connect to the HRIS database {shown}: {_reason(exc, parsed)}"
            ) from None
        with conn:
            if name is not None:
                source = f"table {table!r} at {shown}"
                df = _read_table(conn, schema, name, source)
            else:
                source = f"query at {shown}"
                try:
                    df = pd.read_sql(sa.text(query), conn)
                except sa.exc.DBAPIError as exc:
                    raise ValueError(
                        f"HRIS query failed at {shown}: {_reason(exc, parsed)}"
                    ) from None
    finally:
        engine.dispose()
    df = _match_contract_case(df)
    contract.validate(df, source)
    return contract.coerce(df)


def _split_table(table: str) -> tuple[str | None, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ValueError(
            f"invalid table name {table!r}: expected 'table' or 'schema.table' made of letters,"
            " digits and underscores"
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _parse_url(url: str) -> URL:
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        # The URL may hold a password: do not repeat it.
        raise ValueError("not a valid SQLAlchemy database URL") from None


def _read_table(conn: Connection, schema: str | None, name: str, source: str) -> pd.DataFrame:
    """Reflect before reading so that a wrong name gets a "no such table" with the candidates."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(name, schema=schema):
        tables = sorted(inspector.get_table_names(schema=schema))
        listed = ", ".join(tables[:_MAX_LISTED_TABLES]) or "none"
        if len(tables) > _MAX_LISTED_TABLES:
            listed += f" (+{len(tables) - _MAX_LISTED_TABLES} more)"
        where = f"schema {schema!r}" if schema else "the default schema"
        raise LookupError(
            f"HRIS {source} does not exist; tables in {where}: {listed}"
        )
    reflected = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
    # The Table object makes the dialect quote the identifiers: no string-built SQL.
    return pd.read_sql(sa.select(reflected), conn)


def _match_contract_case(df: pd.DataFrame) -> pd.DataFrame:
    """Give contract spelling back to columns a database lower-cased.

    PostgreSQL folds unquoted identifiers, so a table created with plain DDL has `age` and
    `employeenumber`; without this the contract would report every column missing and unknown.
    Only unambiguous matches are renamed, so real naming mistakes are still reported.
    """
    by_lower = {name.lower(): name for name in contract.COLUMNS}
    present = set(df.columns)
    lowered = [str(c).lower() for c in df.columns]
    renames: dict[str, str] = {}
    for column, low in zip(df.columns, lowered):
        target = by_lower.get(low)
        if target and column != target and target not in present and lowered.count(low) == 1:
            renames[column] = target
    return df.rename(columns=renames) if renames else df


def _reason(exc: sa.exc.DBAPIError, url: URL) -> str:
    """The driver's own explanation, on one line and with the password scrubbed out."""
    reason = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason
