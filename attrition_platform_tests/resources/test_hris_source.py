"""HrisSource configuration: environment variables pick the kind; bad settings say which."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

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


def test_synthetic_source_is_cached_per_configuration() -> None:
    a = HrisSource(employees=150, months=2, seed=1)
    first = a.employees_as_of(dt.date(2026, 11, 1))
    again = HrisSource(employees=150, months=2, seed=1).employees_as_of(dt.date(2026, 11, 1))
    other = HrisSource(employees=150, months=2, seed=2).employees_as_of(dt.date(2026, 11, 1))
    assert first.equals(again)
    assert not first.equals(other)
