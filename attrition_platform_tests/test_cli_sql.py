"""`attrition demo` on a SQL source, as a user runs it: a real process, the real PostgreSQL
server of conftest.py, the URL given only through ATTRITION_HRIS_SQL_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from attrition_platform import contract
from attrition_platform.resources.lake import DeltaLake
from attrition_platform_tests.conftest import READER_PASSWORD

ATTRITION = str(Path(sys.executable).with_name("attrition"))
TABLE = "hris_cli_export"
# Enough months for the time split: labelled snapshots (those whose 180-day horizon has
# elapsed) must fill test + validation + an embargo + some training.
EMPLOYEES, MONTHS = 200, 30


def run(args: list[str], home: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env.update(extra, ATTRITION_HOME=str(home))
    return subprocess.run(
        [ATTRITION, *args], capture_output=True, text=True, env=env, cwd=home.parent, timeout=900
    )


def sql_env(url: str, table: str = TABLE) -> dict[str, str]:
    return {
        "ATTRITION_HRIS_KIND": "sql",
        "ATTRITION_HRIS_SQL_URL": url,
        "ATTRITION_HRIS_SQL_TABLE": table,
    }


@pytest.fixture(scope="module")
def export_table(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A generated time-aware export (through `attrition generate`) loaded into PostgreSQL."""
    where = tmp_path_factory.mktemp("sql-export")
    out = where / "company.parquet"
    made = run(["generate", "--out", str(out), "--employees", str(EMPLOYEES),
                "--months", str(MONTHS)], where / "home", {})  # fmt: skip
    assert made.returncode == 0, made.stderr
    frame = pd.read_parquet(out)
    engine = sa.create_engine(postgres_url)
    frame.to_sql(TABLE, engine, index=False, if_exists="replace")
    engine.dispose()
    return frame


@pytest.fixture(scope="module")
def demo_home(
    export_table: pd.DataFrame, postgres_reader_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("sql-demo") / "home"
    return home, run(["demo"], home, sql_env(postgres_reader_url))


def test_demo_on_a_sql_table_lands_the_snapshots_and_trains(
    demo_home: tuple[Path, subprocess.CompletedProcess[str]], export_table: pd.DataFrame
) -> None:
    home, result = demo_home
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"HRIS: sql, {MONTHS} snapshot(s)" in result.stdout
    assert "=== attrition demo summary ===" in result.stdout
    # The URL's password reached the database through the environment: not the output, nor
    # any run config, event log, table or model stored in the data directory.
    assert READER_PASSWORD not in result.stdout + result.stderr
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" or p.name.endswith(".sqlite") for p in stored)
    assert [p for p in stored if READER_PASSWORD.encode() in p.read_bytes()] == []

    lake = DeltaLake(root=str(home / "lake"))
    dates = sorted(set(export_table[contract.SNAPSHOT_DATE]))
    assert lake.partition_dates("hris_employees") == dates
    day = dates[len(dates) // 2]
    landed = lake.read("hris_employees", snapshot_date=day).sort_values(contract.KEY)
    # The SQL rows of that date, minus people who had already left by then.
    sql = export_table[export_table[contract.SNAPSHOT_DATE] == day]
    ended = sql["termination_date"].notna() & (sql["termination_date"] <= day)
    sql = sql[~ended].sort_values(contract.KEY)
    assert len(landed) == len(sql) > 0
    assert landed[contract.KEY].tolist() == sql[contract.KEY].tolist()
    for column in ("Age", "MonthlyIncome", "hire_date", "opt_out"):
        assert landed[column].tolist() == sql[column].tolist(), column
    assert landed["JobRole"].astype(str).tolist() == sql["JobRole"].tolist()


def _refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout[-1000:], result.stderr[-2000:])
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_demo_with_a_wrong_password_is_one_line_without_it(
    postgres_reader_url: str, export_table: pd.DataFrame, tmp_path: Path
) -> None:
    wrong = postgres_reader_url.replace(READER_PASSWORD, "Wr0ng-Secret-Pw")
    result = run(["demo"], tmp_path / "home", sql_env(wrong))
    line = _refused(result, "password authentication failed", "hr_reader:***@")
    assert "Wr0ng-Secret-Pw" not in result.stdout + result.stderr and line
    assert not DeltaLake(root=str(tmp_path / "home" / "lake")).exists("hris_employees")


def test_demo_on_a_missing_table_names_it_and_the_tables_there(
    postgres_reader_url: str, export_table: pd.DataFrame, tmp_path: Path
) -> None:
    result = run(["demo"], tmp_path / "home", sql_env(postgres_reader_url, "hris_exprot"))
    _refused(result, "table 'hris_exprot'", "does not exist", TABLE)
    assert READER_PASSWORD not in result.stderr


def test_demo_on_a_refused_connection_names_the_server(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://hr_reader:Pw-Never-Shown@127.0.0.1:{port}/hris"
    result = run(["demo"], tmp_path / "home", sql_env(url))
    _refused(result, "cannot connect", f"hr_reader:***@127.0.0.1:{port}/hris", "refused")
    assert "Pw-Never-Shown" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("foo://u:Pw-Never-Shown@x/db", "dialect 'foo'"),
     ("postgresql+nodriver://u:Pw-Never-Shown@x/db", "driver 'nodriver'")],
)  # fmt: skip
def test_demo_on_an_unknown_dialect_or_driver_is_one_line(
    url: str, fragment: str, tmp_path: Path
) -> None:
    result = run(["demo"], tmp_path / "home", sql_env(url))
    _refused(result, fragment)
    assert "Pw-Never-Shown" not in result.stdout + result.stderr


def test_demo_without_the_url_variable_names_it(tmp_path: Path) -> None:
    env = sql_env("unused")
    del env["ATTRITION_HRIS_SQL_URL"]
    _refused(run(["demo"], tmp_path / "home", env), "ATTRITION_HRIS_SQL_URL")


def test_demo_on_an_empty_table_refuses_it(
    postgres_url: str, postgres_reader_url: str, export_table: pd.DataFrame, tmp_path: Path
) -> None:
    engine = sa.create_engine(postgres_url)
    export_table.head(0).to_sql("hris_empty", engine, index=False, if_exists="replace")
    engine.dispose()
    _refused(run(["demo"], tmp_path / "home", sql_env(postgres_reader_url, "hris_empty")),
             "table 'hris_empty'", "no rows")  # fmt: skip

