"""SQL source against a real PostgreSQL server: tables, queries and the errors people will hit."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from attrition_platform import contract
from attrition_platform.contract import ContractError
from attrition_platform.hris.sql_source import SqlSourceError, read_sql
from attrition_platform_tests.conftest import READER_PASSWORD
from attrition_platform_tests.hris.factories import static_rows, time_aware_rows

INT_COLUMNS = [c.name for c in contract.STATIC_COLUMNS if c.kind == "int"]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def test_reads_a_table_in_contract_dtypes(postgres_url: str, engine: sa.Engine) -> None:
    frame = static_rows(30)
    # Mixed case forces the identifier to be quoted correctly; no string-built SQL would.
    frame.to_sql("HR_Static", engine, index=False)

    for table in ("HR_Static", "public.HR_Static"):
        out = read_sql(postgres_url, table=table)
        for name in INT_COLUMNS:
            assert out[name].dtype == "int64", name
        pd.testing.assert_frame_equal(out, frame.astype({n: "int64" for n in INT_COLUMNS}))


def test_reads_a_query(postgres_url: str, engine: sa.Engine) -> None:
    frame = static_rows(30)
    frame.to_sql("hr_static_query", engine, index=False)

    out = read_sql(
        postgres_url,
        query='SELECT * FROM hr_static_query WHERE "Department" = \'Sales\' '
        'ORDER BY "EmployeeNumber"',
    )
    expected = frame[frame["Department"] == "Sales"].sort_values(contract.KEY)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(
        out, expected.reset_index(drop=True).astype({n: "int64" for n in INT_COLUMNS})
    )


def test_reads_a_time_aware_table_with_date_and_boolean_columns(
    postgres_url: str, engine: sa.Engine
) -> None:
    frame = time_aware_rows(6)
    for name in (contract.SNAPSHOT_DATE, "hire_date", "termination_date"):
        frame[name] = [None if v is None else dt.date.fromisoformat(v) for v in frame[name]]
    frame.to_sql("hr_snapshots", engine, index=False, dtype={"termination_date": sa.Date()})
    with engine.connect() as conn:
        types = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("hr_snapshots")}
    assert isinstance(types["snapshot_date"], sa.Date)
    assert isinstance(types["opt_out"], sa.Boolean)

    out = read_sql(postgres_url, table="hr_snapshots")
    assert len(out) == 12
    assert set(out[contract.SNAPSHOT_DATE]) == {dt.date(2024, 1, 31), dt.date(2024, 2, 29)}
    assert out["opt_out"].dtype == bool
    left = frame["termination_type"].notna().to_numpy()
    assert (out["termination_date"].notna().to_numpy() == left).all()


def test_lower_cased_columns_from_plain_ddl_get_contract_names(
    postgres_url: str, engine: sa.Engine
) -> None:
    frame = static_rows(5)
    # What `CREATE TABLE hr (Age int, ...)` without quotes produces in PostgreSQL.
    frame.rename(columns=str.lower).to_sql("hr_plain_ddl", engine, index=False)
    out = read_sql(postgres_url, table="hr_plain_ddl")
    assert list(out.columns) == list(frame.columns)


def test_contract_problems_are_reported_together_without_values(
    postgres_url: str, engine: sa.Engine
) -> None:
    frame = static_rows(5).astype(object)
    frame.loc[0, "Gender"] = "Astronaut"
    frame.loc[1, "JobLevel"] = 9173
    frame.loc[2, "Age"] = None
    frame.loc[3, contract.KEY] = frame.loc[4, contract.KEY]
    frame = frame.drop(columns="OverTime")
    frame.to_sql("hr_broken", engine, index=False)

    with pytest.raises(ContractError) as info:
        read_sql(postgres_url, table="hr_broken")
    problems = info.value.problems
    assert problems == [
        "column 'OverTime': missing from the extract",
        "column 'Age': 1 empty value(s); rows 3",
        "column 'Gender': value outside the domain (one of Male, Female); rows 1",
        "column 'JobLevel': outside the domain (integer 1–5); rows 2",
        "column 'EmployeeNumber': duplicate key EmployeeNumber; rows 5",
    ]
    message = str(info.value)
    assert "table 'hr_broken' at postgresql+psycopg2://postgres@127.0.0.1" in message
    assert "Astronaut" not in message and "9173" not in message


def test_missing_table_is_named_with_the_tables_that_exist(
    postgres_url: str, engine: sa.Engine
) -> None:
    static_rows(2).to_sql("hr_present", engine, index=False)
    with pytest.raises(SqlSourceError) as info:
        read_sql(postgres_url, table="hr_absent")
    message = str(info.value)
    assert "table 'hr_absent'" in message and "does not exist" in message
    assert "hr_present" in message


def test_query_on_a_missing_table_says_so(postgres_url: str) -> None:
    with pytest.raises(ValueError, match=r'HRIS query failed .*relation "hr_nowhere" does not'):
        read_sql(postgres_url, query="SELECT * FROM hr_nowhere")


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_several_statements_are_refused_before_anything_runs(
    postgres_url: str, engine: sa.Engine
) -> None:
    static_rows(3).to_sql("hr_multi", engine, index=False)
    with pytest.raises(SqlSourceError, match="3 statements separated by ';'"):
        read_sql(postgres_url, query="DELETE FROM hr_multi; COMMIT; SELECT * FROM hr_multi")
    assert _count(engine, "hr_multi") == 3


def test_semicolons_inside_literals_and_a_trailing_one_are_one_statement(
    postgres_url: str, engine: sa.Engine
) -> None:
    static_rows(4).to_sql("hr_semi", engine, index=False)
    out = read_sql(
        postgres_url,
        query='SELECT * FROM hr_semi WHERE "Department" <> \'a;b\' AND $$c;d$$ <> \'\'; -- x;y',
    )
    assert len(out) == 4


@pytest.mark.parametrize(
    "query",
    [
        'DELETE FROM hr_kept RETURNING *',
        'WITH gone AS (DELETE FROM hr_kept RETURNING *) SELECT * FROM gone',
        'WITH gone AS (UPDATE hr_kept SET "Age" = 18 RETURNING *) SELECT * FROM gone',
    ],
)
def test_the_read_only_transaction_refuses_writes_and_rows_survive(
    postgres_url: str, engine: sa.Engine, query: str
) -> None:
    rows = static_rows(3)
    rows.to_sql("hr_kept", engine, index=False, if_exists="replace")
    with pytest.raises(SqlSourceError, match="read-only transaction"):
        read_sql(postgres_url, query=query)
    assert _count(engine, "hr_kept") == 3
    with engine.connect() as conn:
        ages = conn.execute(sa.text('SELECT "Age" FROM hr_kept ORDER BY "EmployeeNumber"'))
        assert [a for (a,) in ages] == rows.sort_values(contract.KEY)["Age"].tolist()


def test_sqlite_is_read_only_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    sqlite = sa.create_engine(url)
    static_rows(3).to_sql("hr", sqlite, index=False)
    with pytest.raises(SqlSourceError, match="readonly database"):
        read_sql(url, query="DELETE FROM hr RETURNING *")
    assert _count(sqlite, "hr") == 3
    assert len(read_sql(url, table="hr")) == 3
    sqlite.dispose()


def test_an_empty_table_or_result_is_refused_naming_the_source(
    postgres_url: str, engine: sa.Engine
) -> None:
    static_rows(3).head(0).to_sql("hr_empty", engine, index=False)
    with pytest.raises(SqlSourceError, match=r"table 'hr_empty' at .* returned no rows"):
        read_sql(postgres_url, table="hr_empty")
    static_rows(3).to_sql("hr_filtered", engine, index=False)
    with pytest.raises(SqlSourceError, match=r"query at .* returned no rows"):
        read_sql(postgres_url, query='SELECT * FROM hr_filtered WHERE "Age" > 200')


def test_wrong_password_is_one_line_without_the_password(
    postgres_reader_url: str, engine: sa.Engine
) -> None:
    static_rows(3).to_sql("hr_for_reader", engine, index=False)
    assert len(read_sql(postgres_reader_url, table="hr_for_reader")) == 3  # the right one works
    wrong = postgres_reader_url.replace(READER_PASSWORD, "Wr0ng-Secret-Pw")
    with pytest.raises(SqlSourceError) as info:
        read_sql(wrong, table="hr_for_reader")
    message = str(info.value)
    assert "password authentication failed" in message
    assert "Wr0ng-Secret-Pw" not in message and "hr_reader:***@" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("foo://u:Pw-123@x/db", "dialect 'foo' is not one of postgresql, sqlite"),
        ("postgresql+nodriver://u:Pw-123@x/db", "driver 'nodriver' for postgresql"),
        ("postgresql+pg8000://u:Pw-123@x/db", "driver 'pg8000' for postgresql"),
        ("mysql+pymysql://u:Pw-123@x/db", "dialect 'mysql'"),
        ("not a url at all Pw-123", "not a valid SQLAlchemy URL"),
    ],
)
def test_unknown_dialect_or_driver_is_one_line_without_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(SqlSourceError) as info:
        read_sql(url, table="hr")
    message = str(info.value)
    assert problem in message
    assert "Pw-123" not in message and "\n" not in message


def test_connection_failure_names_the_server_but_not_the_password() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://hr_reader:Sup3r-Secret-Pw@127.0.0.1:{port}/hris"
    with pytest.raises(SqlSourceError) as info:
        read_sql(url, table="employees")
    message = str(info.value)
    assert "Sup3r-Secret-Pw" not in message
    assert f"hr_reader:***@127.0.0.1:{port}/hris" in message
    assert "Connection refused" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    "table", ["hr; DROP TABLE hr_kept", 'hr"x', "a.b.c", "", "hr kept", "public."]
)
def test_unsafe_table_names_are_refused_before_connecting(table: str) -> None:
    # The URL points nowhere: a ValueError (not a ConnectionError) proves nothing was sent.
    with pytest.raises(ValueError, match="invalid table name"):
        read_sql("postgresql+psycopg2://u:p@127.0.0.1:1/db", table=table)


@pytest.mark.parametrize("kwargs", [{}, {"table": "hr", "query": "SELECT 1"}])
def test_exactly_one_of_table_or_query(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of table= or query="):
        read_sql("postgresql+psycopg2://u@127.0.0.1:1/db", **kwargs)  # type: ignore[arg-type]
