"""Each HRIS kind lands through the real graph; snapshots know nothing after their date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from attrition_platform.defs.hris_assets import hris_employees
from attrition_platform.defs.partitions import register_snapshot_dates
from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import make_resources, materialize_snapshot
from attrition_platform_tests.hris.factories import time_aware_rows

JAN, FEB = "2024-01-01", "2024-02-01"
CHANGED, LEAVER = 6, 9  # EmployeeNumbers (keys are 3, 6, 9, ...): neither left before JAN


def _export() -> pd.DataFrame:
    """Two snapshots as an HRIS exports them today: the leaver's rows carry what the system
    knows now (exit date, type, Attrition = Yes) even on the snapshot taken before the exit."""
    rows = time_aware_rows(40, snapshots=(JAN, FEB))
    rows["YearsAtCompany"] = 1  # consistent with the hire dates (the features leakage guard checks it)
    rows["Attrition"] = "No"
    feb = rows["snapshot_date"] == FEB
    rows.loc[feb & (rows["EmployeeNumber"] == CHANGED), "MonthlyIncome"] = 19_999
    leaver = rows["EmployeeNumber"] == LEAVER
    rows.loc[leaver, "termination_date"] = "2024-01-20"
    rows.loc[leaver, "termination_type"] = "voluntary"
    rows.loc[leaver, "Attrition"] = "Yes"
    return rows


@pytest.fixture(scope="module")
def file_lake(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance):
    home = tmp_path_factory.mktemp("file_kind")
    path = home / "export.csv"
    _export().to_csv(path, index=False)
    resources = make_resources(home, HrisSource(kind="file", path=str(path)))
    for day in (JAN, FEB):
        assert materialize_snapshot(resources, day, instance).success
    return resources["lake"]


def test_a_feature_changed_after_the_snapshot_never_reaches_that_snapshot(file_lake) -> None:
    jan = file_lake.read("employee_features", snapshot_date=dt.date(2024, 1, 1))
    feb = file_lake.read("employee_features", snapshot_date=dt.date(2024, 2, 1))
    original = _export().query("snapshot_date == @JAN and EmployeeNumber == @CHANGED")["MonthlyIncome"].item()
    assert jan.loc[jan["EmployeeNumber"] == CHANGED, "MonthlyIncome"].item() == original != 19_999
    assert feb.loc[feb["EmployeeNumber"] == CHANGED, "MonthlyIncome"].item() == 19_999


def test_an_exit_after_the_snapshot_is_invisible_in_it(file_lake) -> None:
    """The January snapshot is taken before the leaver's exit (2024-01-20): none of the three
    ways the export reveals that exit (date, type, Attrition) may reach January's employees,
    features or exits, and February knows it."""
    assert (_export().query("EmployeeNumber == @LEAVER")["Attrition"] == "Yes").all()
    jan = file_lake.read("hris_employees", snapshot_date=dt.date(2024, 1, 1))
    row = jan[jan["EmployeeNumber"] == LEAVER]
    assert len(row) == 1
    assert row["termination_date"].isna().all() and row["termination_type"].isna().all()
    assert (row["Attrition"].astype(str) == "No").all()
    features = file_lake.read("employee_features", snapshot_date=dt.date(2024, 1, 1))
    assert (features.loc[features["EmployeeNumber"] == LEAVER, "Attrition"].astype(str) == "No").all()
    assert (features["Attrition"].astype(str) == "No").all()  # no one in January has left yet
    jan_exits = file_lake.read("hris_terminations", snapshot_date=dt.date(2024, 1, 1))
    assert LEAVER not in set(jan_exits["EmployeeNumber"])
    feb_exits = file_lake.read("hris_terminations", snapshot_date=dt.date(2024, 2, 1))
    known = feb_exits[feb_exits["EmployeeNumber"] == LEAVER]
    assert known["termination_date"].tolist() == [dt.date(2024, 1, 20)]
    assert known["termination_type"].astype(str).tolist() == ["voluntary"]
    feb = file_lake.read("hris_employees", snapshot_date=dt.date(2024, 2, 1))
    assert LEAVER not in set(feb["EmployeeNumber"])


def test_sql_kind_lands_a_snapshot_from_real_postgresql(
    postgres_url: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    import sqlalchemy as sa

    rows = _export()
    engine = sa.create_engine(postgres_url)
    rows.to_sql("hris_export", engine, index=False, if_exists="replace")
    engine.dispose()
    resources = make_resources(tmp_path, HrisSource(kind="sql", sql_url=postgres_url, sql_table="hris_export"))
    assert materialize_snapshot(resources, FEB, instance).success
    landed = resources["lake"].read("hris_employees", snapshot_date=dt.date(2024, 2, 1))
    expected = rows[(rows["snapshot_date"] == FEB) & rows["termination_date"].isna()]
    assert sorted(landed["EmployeeNumber"]) == sorted(expected["EmployeeNumber"])


def test_a_date_without_an_extract_fails_with_the_dates_that_exist(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    path = tmp_path / "export.csv"
    _export().to_csv(path, index=False)
    resources = make_resources(tmp_path, HrisSource(kind="file", path=str(path)))
    register_snapshot_dates(instance, [dt.date(2024, 3, 5)])
    result = dg.materialize(
        [hris_employees],
        partition_key="2024-03-05",
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.cause.message
    assert "no extract for 2024-03-05" in message and "2024-02-01" in message
