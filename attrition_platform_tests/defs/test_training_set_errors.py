"""`training_set` stops with a message a user can act on when the data cannot train a model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from attrition_platform.defs.training_assets import training_set
from attrition_platform.resources.lake import DeltaLake

D = dt.date


def _failure(tmp_path: Path, features: pd.DataFrame, exits: pd.DataFrame, instance: dg.DagsterInstance) -> str:
    lake = DeltaLake(root=str(tmp_path / "lake"))
    for day, part in features.groupby("snapshot_date"):
        lake.write_partition("employee_features", part.reset_index(drop=True), day)
        lake.write_partition("hris_terminations", exits.assign(snapshot_date=day), day)
    result = dg.materialize([training_set], resources={"lake": lake}, instance=instance, raise_on_error=False)
    assert not result.success
    return result.failure_data_for_node("training_set").error.message


def _features(dates: list[dt.date], attrition: str = "No") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"EmployeeNumber": k, "snapshot_date": d, "Attrition": attrition, "opt_out": False, "Age": 30}
            for d in dates
            for k in range(1, 51)
        ]
    )


NO_EXITS = pd.DataFrame(
    {
        "EmployeeNumber": pd.Series(dtype="int64"),
        "termination_date": pd.Series(dtype="datetime64[ns]"),
        "termination_type": pd.Series(dtype="string"),
    }
)


def test_a_static_export_without_leavers_says_no_leavers(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    message = _failure(tmp_path, _features([D(2024, 1, 1)]), NO_EXITS, instance)
    assert "no leavers: Attrition is 'No' on all 50 rows" in message
    assert "snapshot" not in message  # not a request for more history


def test_a_time_aware_history_without_exits_says_no_leavers(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    dates = [D(2023 + (m // 12), m % 12 + 1, 1) for m in range(24)]
    message = _failure(tmp_path, _features(dates), NO_EXITS, instance)
    assert "no leavers: the export records no voluntary exit" in message
