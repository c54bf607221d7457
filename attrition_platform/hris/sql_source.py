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


class SqlSourceError(ValueError):
    """A problem with the HRIS database a user can fix: URL, driver, server, credentials,
    table or query. The message is one line and never holds the URL's password."""


def read_sql(url: str, *, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Load an HRIS table or query result in the lake's canonical dtypes, or refuse it whole.

    The HR database is someone else's system of record, so reading must never be able to
    change it: a query must be exactly one statement (`DELETE ...; COMMIT; SELECT ...` is
    refused before connecting) and it runs inside a READ ONLY transaction that is rolled back
    afterwards, so even a writable CTE is refused by the server. An empty result is refused too:
    it would silently empty the snapshot. Errors never show the URL's password, and contract
    problems name columns and 1-based result rows, never values (the rows are personal data).
    """
    if (table is None) == (query is None):
        raise ValueError("read_sql needs exactly one of table= or query=")
    schema, name = _split_table(table) if table is not None else (None, None)
    statement = _single_statement(query) if query is not None else None

    parsed = _parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    engine = _engine(parsed, shown)
    try:
        try:
            conn = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise SqlSourceError(
                f"cannot connect to the HRIS database {shown}: {_reason(exc, parsed)}"
            ) from None
        with conn:
            transaction = conn.begin()
            try:
                _make_read_only(conn)
                if name is not None:
                    source = f"table {table!r} at {shown}"
                    try:
                        df = _read_table(conn, schema, name, source)
                    except sa.exc.DBAPIError as exc:
                        raise SqlSourceError(
                            f"HRIS {source} could not be read: {_reason(exc, parsed)}"
                        ) from None
                else:
                    source = f"query at {shown}"
                    df = _read_query(conn, statement or "", shown, parsed)
            finally:
                transaction.rollback()
    finally:
        engine.dispose()
    if len(df) == 0:
        raise SqlSourceError(
            f"HRIS {source} returned no rows: an empty extract is refused (it would empty the "
            "snapshot); check the table or the query's filter"
        )
    df = _match_contract_case(df)
    contract.validate(df, source)
    return contract.coerce(df)


# Dialects on which a read-only transaction is enforced below. Others are refused rather than
# read without that guarantee.
_READ_ONLY_DIALECTS = ("postgresql", "sqlite")


def _engine(url: URL, shown: str) -> sa.Engine:
    backend = url.get_backend_name()
    if backend not in _READ_ONLY_DIALECTS:
        raise SqlSourceError(
            f"unsupported HRIS database URL {shown}: dialect {backend!r} is not one of "
            f"{', '.join(_READ_ONLY_DIALECTS)} (the only ones read strictly read-only)"
        )
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError):
        # NoSuchModuleError (an unknown driver name) or a known driver that is not installed.
        raise SqlSourceError(
            f"unsupported HRIS database URL {shown}: driver {url.get_driver_name()!r} for "
            f"{backend} is not installed or does not exist (e.g. postgresql+psycopg2://)"
        ) from None


def _make_read_only(conn: Connection) -> None:
    """Make the open transaction refuse every write, on the server's side."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    else:  # sqlite (see _READ_ONLY_DIALECTS); lasts for this connection, which is disposed of
        conn.exec_driver_sql("PRAGMA query_only = ON")


def _single_statement(query: str) -> str:
    """The query's one statement, or an error if it holds none or several.

    sqlparse splits on semicolons outside string literals, quoted identifiers, dollar quotes
    and comments, so `WHERE note = 'a;b'` stays one statement.
    """
    import sqlparse

    statements = [
        s for s in sqlparse.split(query)
        if sqlparse.format(s, strip_comments=True).strip().rstrip(";").strip()
    ]
    if not statements:
        raise SqlSourceError("the HRIS query is empty")
    if len(statements) > 1:
        raise SqlSourceError(
            f"the HRIS query holds {len(statements)} statements separated by ';': give exactly "
            "one SELECT"
        )
    return statements[0]


def _read_query(conn: Connection, statement: str, shown: str, url: URL) -> pd.DataFrame:
    try:
        return pd.read_sql(sa.text(statement), conn)
    except sa.exc.DBAPIError as exc:
        raise SqlSourceError(f"HRIS query failed at {shown}: {_reason(exc, url)}") from None
    except sa.exc.ResourceClosedError:
        raise SqlSourceError(
            f"HRIS query at {shown} returned no result set: give exactly one SELECT"
        ) from None


def _split_table(table: str) -> tuple[str | None, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise SqlSourceError(
            f"invalid table name {table!r}: expected 'table' or 'schema.table' made of letters,"
            " digits and underscores"
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _parse_url(url: str) -> URL:
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError:
        # The URL may hold a password: do not repeat it.
        raise SqlSourceError(
            "the HRIS database URL is not a valid SQLAlchemy URL (expected e.g. "
            "postgresql+psycopg2://user:password@host:5432/database)"
        ) from None


def _read_table(conn: Connection, schema: str | None, name: str, source: str) -> pd.DataFrame:
    """Reflect before reading so that a wrong name gets a "no such table" with the candidates."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(name, schema=schema):
        tables = sorted(inspector.get_table_names(schema=schema))
        listed = ", ".join(tables[:_MAX_LISTED_TABLES]) or "none"
        if len(tables) > _MAX_LISTED_TABLES:
            listed += f" (+{len(tables) - _MAX_LISTED_TABLES} more)"
        where = f"schema {schema!r}" if schema else "the default schema"
        raise SqlSourceError(f"HRIS {source} does not exist; tables in {where}: {listed}")
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


def _reason(exc: sa.exc.SQLAlchemyError, url: URL) -> str:
    """The driver's own explanation, on one line and with the password scrubbed out."""
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason


def masked_url(url: str) -> str:
    """A SQLAlchemy URL with its password replaced by ***, for display."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as its scheme only, or not at all
        scheme = url.split("://", 1)[0] if "://" in url else ""
        return f"{scheme}://***" if scheme.replace("+", "").isalnum() else "***"
