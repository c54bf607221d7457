"""The data directory's guards, on real directories and a real second process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attrition_platform import datadir
from attrition_platform.resources.hris import HrisSource
from attrition_platform.settings import Paths


def _ident(**kwargs: object) -> dict[str, object]:
    return datadir.source_identity(HrisSource(**kwargs))  # type: ignore[arg-type]


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    p = Paths(tmp_path / "home")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from attrition_platform import datadir; from attrition_platform.settings import Paths\n"
         f"with datadir.exclusive(Paths(__import__('pathlib').Path({str(p.home)!r})), 'attrition demo', 0, print):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        waits: list[str] = []
        with pytest.raises(datadir.DataDirError, match=rf"in use by pid {holder.pid} \(attrition demo, started at "):
            with datadir.exclusive(p, "attrition demo", 0.6, waits.append, poll_seconds=0.1):
                pass
        assert waits == [f"waiting for the data directory lock held by pid {holder.pid} (attrition demo, "
                         f"started at {json.loads(p.lock_file.read_text())['started']}) ..."]
    finally:
        holder.kill()
        holder.wait()
    with datadir.exclusive(p, "attrition demo", 0, waits.append):  # the kernel freed it on death
        assert json.loads(p.lock_file.read_text())["command"] == "attrition demo"


def test_the_first_source_is_recorded_and_another_is_refused_naming_both(tmp_path: Path) -> None:
    p = Paths(tmp_path / "home")
    first = _ident(employees=2000, months=36, seed=7)
    datadir.check_source(p, first)
    datadir.check_source(p, first)  # the same source again is fine
    with pytest.raises(datadir.DataDirError) as err:
        datadir.check_source(p, _ident(employees=500, months=36, seed=7))
    message = str(err.value)
    assert "holds synthetic seed 7, 2000 employees, 36 months" in message
    assert "you asked for employees 500" in message
    assert "another ATTRITION_HOME" in message and "--reset" in message
    with pytest.raises(datadir.DataDirError, match="drift income factor 0.9"):
        datadir.check_source(p, _ident(employees=2000, drift_income_factor=0.9))
    with pytest.raises(datadir.DataDirError, match="you asked for the file export"):
        datadir.check_source(p, _ident(kind="file", path=str(tmp_path / "x.csv")))


def test_a_lake_with_tables_but_no_recorded_source_is_refused(tmp_path: Path) -> None:
    p = Paths(tmp_path / "home")
    (p.lake / "hris_employees").mkdir(parents=True)
    with pytest.raises(datadir.DataDirError, match=r"holds tables \(hris_employees\) from an unrecorded source"):
        datadir.check_source(p, _ident())
    assert not (p.lake / datadir.SOURCE_FILE).exists()


def test_the_sql_password_is_never_recorded() -> None:
    ident = _ident(kind="sql", sql_url="postgresql+psycopg://hr:s3cret@db:5432/hr", sql_table="employees")
    assert ident["sql_url"] == "postgresql+psycopg://hr:***@db:5432/hr"
    assert "s3cret" not in json.dumps(ident)


def test_reset_wipes_only_a_data_directory(tmp_path: Path) -> None:
    p = Paths(tmp_path / "home").ensure()
    (p.lake / "t").mkdir()
    said: list[str] = []
    datadir.reset(p, said.append)
    assert not p.lake.exists() and not p.dagster_home.exists() and not p.mlflow_dir.exists()
    assert said == [f"reset: removing {p.home / n}" for n in ("lake", "dagster", "mlflow")]
    home_like = Paths(tmp_path / "user").ensure()
    (home_like.home / "thesis.tex").write_text("years of work")
    with pytest.raises(datadir.DataDirError, match="does not look like an attrition data directory"):
        datadir.reset(home_like, said.append)
    assert home_like.lake.exists() and (home_like.home / "thesis.tex").exists()
