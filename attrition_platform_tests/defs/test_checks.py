"""Checks fail when they should: a new job role warns, a headcount collapse warns, a training
set without leavers in a split blocks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from attrition_platform.resources.hris import HrisSource
from attrition_platform_tests.defs.conftest import make_resources, materialize_snapshot
from attrition_platform_tests.hris.factories import time_aware_rows


def _evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


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
    assert check.metadata["change"].value < -0.2
