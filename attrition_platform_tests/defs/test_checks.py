"""Each check fails (or warns) on stored data built to break it, and says by how much.

A file export that breaks the contract is refused before it lands, so the broken rows here come
from a source that alters its answer after the contract passed it (`TamperedHris`): the same
real file source, graph, Delta tables and Dagster instance, with stored data that is wrong in
exactly one way per test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from attrition_platform.definitions import asset_graph
from attrition_platform.defs.partitions import register_snapshot_dates
from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import SNAPSHOT_KEYS, make_resources, materialize_snapshot
from attrition_platform_tests.hris.factories import time_aware_rows

JAN, FEB = "2024-01-01", "2024-02-01"
Breakage = Callable[[pd.DataFrame, dt.date], pd.DataFrame]


def _repeat_two(df: pd.DataFrame, _: dt.date) -> pd.DataFrame:
    return pd.concat([df, df.head(2)], ignore_index=True)


def _null_departments(df: pd.DataFrame, _: dt.date) -> pd.DataFrame:
    df = df.copy()
    df["Department"] = df["Department"].astype(object)
    df.loc[:2, "Department"] = None
    return df


def _hired_after_snapshot(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    df = df.copy()
    df.loc[:1, "hire_date"] = as_of + dt.timedelta(days=30)
    df.loc[:1, "YearsAtCompany"] = 0  # so only the hire date itself gives them away
    return df


def _empty_in_feb(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    return df.iloc[0:0] if as_of.isoformat() == FEB else df


def _empty(df: pd.DataFrame, _: dt.date) -> pd.DataFrame:
    return df.iloc[0:0]


def _unknown_exit_type(df: pd.DataFrame, _: dt.date) -> pd.DataFrame:
    df = df.copy()
    df["termination_type"] = df["termination_type"].astype(object)
    df.loc[:1, "termination_type"] = "retired"
    return df


def _exit_after_snapshot(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    df = df.copy()
    df.loc[0, "termination_date"] = as_of + dt.timedelta(days=10)
    return df


def _first_exit_forgotten_in_feb(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    return df.iloc[1:] if as_of.isoformat() == FEB else df


EMPLOYEE_BREAKAGES: dict[str, Breakage] = {
    "repeat_key": _repeat_two,
    "null_department": _null_departments,
    "hired_after_snapshot": _hired_after_snapshot,
    "empty_in_feb": _empty_in_feb,
    "empty": _empty,
}
EXIT_BREAKAGES: dict[str, Breakage] = {
    "repeat_exit": _repeat_two,
    "unknown_exit_type": _unknown_exit_type,
    "exit_after_snapshot": _exit_after_snapshot,
    "exit_forgotten": _first_exit_forgotten_in_feb,
}


class TamperedHris(HrisSource):
    """The file source, its answer altered after the contract passed it."""

    breakage: str = "none"

    def employees_as_of(self, as_of: dt.date) -> pd.DataFrame:
        rows = super().employees_as_of(as_of)
        return EMPLOYEE_BREAKAGES.get(self.breakage, lambda df, _: df)(rows, as_of)

    def terminations_as_of(self, as_of: dt.date) -> pd.DataFrame:
        rows = super().terminations_as_of(as_of)
        return EXIT_BREAKAGES.get(self.breakage, lambda df, _: df)(rows, as_of)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 employees on two monthly snapshots; every third left on 2023-12-15 (10 exits)."""
    rows = time_aware_rows(30, snapshots=(JAN, FEB))
    rows["YearsAtCompany"] = 1  # consistent with the hire dates
    path = tmp_path_factory.mktemp("export") / "export.csv"
    rows.to_csv(path, index=False)
    return path


def _land(
    tmp_path: Path, export: Path, breakage: str, instance: dg.DagsterInstance, *days: str
) -> dg.ExecuteInProcessResult:
    resources = make_resources(tmp_path, TamperedHris(kind="file", path=str(export), breakage=breakage))
    result = None
    for day in days:
        register_snapshot_dates(instance, [dt.date.fromisoformat(day)])
        result = dg.materialize(
            asset_graph(),
            selection=dg.AssetSelection.assets(*SNAPSHOT_KEYS),
            partition_key=day,
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    assert result is not None
    return result


def _evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def _value(evaluation: dg.AssetCheckEvaluation, key: str) -> float:
    return evaluation.metadata[key].value


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_a_repeated_employee_number_blocks_the_snapshot_before_its_features(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    result = _land(tmp_path, export, "repeat_key", instance, JAN)
    check = _evaluation(result, "hris_unique_keys")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _value(check, "duplicate_rows") == 2 and _value(check, "repeated_keys") == 2
    assert "2 EmployeeNumber(s) appear more than once" in (check.description or "")
    assert "employee_features" not in _materialized(result)
    assert not result.success


def test_missing_values_are_counted_per_column(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    check = _evaluation(_land(tmp_path, export, "null_department", instance, JAN), "hris_no_nulls")
    assert not check.passed
    assert _value(check, "null_cells") == 3 and _value(check, "rows_with_nulls") == 3
    assert _value(check, "nulls/Department") == 3 and _value(check, "columns_with_nulls") == 1
    assert "worst Department: 3 of" in (check.description or "")


def test_a_hire_date_after_the_snapshot_fails_the_feature_leakage_guard(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    result = _land(tmp_path, export, "hired_after_snapshot", instance, JAN)
    check = _evaluation(result, "features_not_after_snapshot")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _value(check, "hired_after_snapshot") == 2
    assert _value(check, "tenure_beyond_hire_date") == 0
    assert _value(check, "rows_from_the_future") == 2


def test_clean_data_passes_every_snapshot_check(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    """The same export untouched: the failures above come from the breakage, not the data."""
    result = _land(tmp_path, export, "none", instance, JAN, FEB)
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    assert _value(_evaluation(result, "terminations_monotone"), "previous_exits") == 10


def test_a_repeated_exit_fails_unique_exits(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    check = _evaluation(_land(tmp_path, export, "repeat_exit", instance, JAN), "terminations_unique_exits")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _value(check, "duplicate_exits") == 2 and _value(check, "exits") == 12


def test_an_exit_type_outside_the_domain_fails(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    check = _evaluation(
        _land(tmp_path, export, "unknown_exit_type", instance, JAN), "terminations_type_domain"
    )
    assert not check.passed
    assert _value(check, "unknown_type") == 2 and _value(check, "missing_date") == 0
    assert _value(check, "voluntary") == 8


def test_an_exit_dated_after_the_snapshot_fails(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    check = _evaluation(
        _land(tmp_path, export, "exit_after_snapshot", instance, JAN), "terminations_not_after_snapshot"
    )
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _value(check, "exits_after_snapshot") == 1 and _value(check, "max_days_after") == 10


def test_an_exit_forgotten_by_a_later_snapshot_warns(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    result = _land(tmp_path, export, "exit_forgotten", instance, JAN, FEB)
    check = _evaluation(result, "terminations_monotone")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert _value(check, "vanished_exits") == 1 and _value(check, "previous_exits") == 10
    assert f"1 of 10 exits known on {JAN} are missing on {FEB}" == check.description


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    return (error.cause or error).message


def test_an_empty_extract_after_a_full_one_is_refused(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    result = _land(tmp_path, export, "empty_in_feb", instance, JAN, FEB)
    assert not result.success
    message = _failure_message(result)
    assert f"no employees for {FEB}, but the snapshot of {JAN} holds 20" in message
    lake = make_resources(tmp_path, HrisSource())["lake"]
    assert lake.partition_dates("hris_employees") == [dt.date(2024, 1, 1)]  # nothing written


def test_an_empty_first_extract_is_refused(
    tmp_path: Path, export: Path, instance: dg.DagsterInstance
) -> None:
    result = _land(tmp_path, export, "empty", instance, JAN)
    assert not result.success
    assert f"no employees for {JAN}: nothing to land" in _failure_message(result)


def test_a_new_job_role_is_a_contract_warning_not_a_stop(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    hris = HrisSource(
        employees=400, months=3, seed=5, drift_start="2026-10-01", drift_new_job_role="Data Scientist"
    )
    result = materialize_snapshot(make_resources(tmp_path, hris), "2026-11-01", instance)
    assert result.success  # downstream features were still built
    contract_check = _evaluation(result, "hris_contract")
    assert not contract_check.passed
    assert contract_check.severity == dg.AssetCheckSeverity.WARN
    assert "JobRole" in contract_check.metadata["problems"].value
    assert _value(contract_check, "violations") >= 1 and _value(contract_check, "blocking_violations") == 0


def test_a_headcount_collapse_warns_against_the_previous_snapshot(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    rows = time_aware_rows(60, snapshots=("2024-01-01", "2024-02-01"))
    rows["YearsAtCompany"] = 1
    rows = rows[~((rows["snapshot_date"] == "2024-02-01") & (rows["EmployeeNumber"] % 2 == 0))]
    path = tmp_path / "export.csv"
    rows.to_csv(path, index=False)
    resources = make_resources(tmp_path, HrisSource(kind="file", path=str(path)))
    first = materialize_snapshot(resources, "2024-01-01", instance)
    assert _evaluation(first, "hris_headcount_change").passed
    second = materialize_snapshot(resources, "2024-02-01", instance)
    check = _evaluation(second, "hris_headcount_change")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert _value(check, "headcount") == 20 and _value(check, "previous") == 40
    assert _value(check, "change") == -0.5
    assert "-50.0% (limit ±20%)" in (check.description or "")
