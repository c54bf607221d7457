"""HrisSource configuration: environment variables pick the kind; bad settings say which."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import attrition_platform.resources.hris as hris_module
from attrition_platform.resources.hris import HrisError, HrisSource, hris_from_env
from attrition_platform_tests.hris.factories import static_rows


def test_environment_picks_the_kind_and_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ATTRITION_HRIS_KIND", "ATTRITION_HRIS_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ATTRITION_HRIS_EMPLOYEES", "300")
    monkeypatch.setenv("ATTRITION_HRIS_MONTHS", "4")
    source = hris_from_env()
    assert (source.kind, source.employees, source.months) == ("synthetic", 300, 4)
    monkeypatch.setenv("ATTRITION_HRIS_PATH", "/data/export.csv")
    assert hris_from_env().kind == "file"


def test_a_non_numeric_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRITION_HRIS_EMPLOYEES", "lots")
    with pytest.raises(HrisError, match="ATTRITION_HRIS_EMPLOYEES"):
        hris_from_env()


def test_a_bad_date_names_the_setting() -> None:
    with pytest.raises(HrisError, match="'end_date'"):
        HrisSource(end_date="next tuesday").extract_dates()


def test_file_kind_without_a_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(HrisError, match="not found"):
        HrisSource(kind="file", path=str(tmp_path / "nope.csv")).extract_dates()
    with pytest.raises(HrisError, match="needs `path`"):
        HrisSource(kind="file").extract_dates()


def test_static_export_is_one_snapshot_on_its_configured_date(tmp_path: Path) -> None:
    path = tmp_path / "static.csv"
    static_rows(25).to_csv(path, index=False)
    source = HrisSource(kind="file", path=str(path), static_snapshot_date="2025-06-30")
    assert source.is_static()
    assert source.extract_dates() == [dt.date(2025, 6, 30)]
    rows = source.employees_as_of(dt.date(2025, 6, 30))
    assert len(rows) == 25 and set(rows["snapshot_date"]) == {dt.date(2025, 6, 30)}
    assert source.terminations_as_of(dt.date(2025, 6, 30)).empty


def test_synthetic_source_simulates_once_per_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every partition run asks the resource again; simulating each time would cost minutes."""
    import attrition_platform.hris.synthetic as synthetic

    calls: list[object] = []
    real = synthetic.simulate

    def counting(config: object) -> object:
        calls.append(config)
        return real(config)  # type: ignore[arg-type]

    monkeypatch.setattr(synthetic, "simulate", counting)
    hris_module._simulate.cache_clear()
    day = dt.date(2026, 11, 1)
    first = HrisSource(employees=150, months=2, seed=1)
    rows = first.employees_as_of(day)
    again = HrisSource(employees=150, months=2, seed=1)  # a new instance, as each run builds
    assert again._company() is first._company()
    pd.testing.assert_frame_equal(again.employees_as_of(day), rows)
    assert len(calls) == 1
    other = HrisSource(employees=150, months=2, seed=2).employees_as_of(day)
    assert len(calls) == 2 and not other.equals(rows)


def test_file_source_rereads_an_export_that_changed(tmp_path: Path) -> None:
    path = tmp_path / "static.csv"
    static_rows(25).to_csv(path, index=False)
    source = HrisSource(kind="file", path=str(path), static_snapshot_date="2025-06-30")
    assert len(source.employees_as_of(dt.date(2025, 6, 30))) == 25
    static_rows(30).to_csv(path, index=False)
    assert len(source.employees_as_of(dt.date(2025, 6, 30))) == 30


def test_sql_url_from_the_environment_is_read_when_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CLI calls the resource outside any run: the EnvVar must give its value, not its name."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = sa.create_engine(url)
    static_rows(12).to_sql("hr", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("ATTRITION_HRIS_KIND", "sql")
    monkeypatch.setenv("ATTRITION_HRIS_SQL_TABLE", "hr")
    monkeypatch.delenv("ATTRITION_HRIS_SQL_URL", raising=False)
    source = hris_from_env()
    with pytest.raises(HrisError, match="ATTRITION_HRIS_SQL_URL .* not set"):
        source.extract_dates()
    monkeypatch.setenv("ATTRITION_HRIS_SQL_URL", url)
    assert source.resolved_sql_url() == url
    assert len(source.employees_as_of(source.extract_dates()[0])) == 12


def test_sql_kind_needs_exactly_one_of_table_or_query() -> None:
    with pytest.raises(HrisError, match="exactly one of `sql_table`"):
        HrisSource(kind="sql", sql_url="sqlite://").extract_dates()
