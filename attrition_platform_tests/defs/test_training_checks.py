"""The training set's blocking checks fail on training sets built to break them: one written
with the old split (validation right before test), and one with a split without leavers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from attrition_platform.defs.training_assets import training_set
from attrition_platform.defs.training_checks import training_class_balance, training_label_leakage
from attrition_platform.model import training_data as td
from attrition_platform.resources.lake import DeltaLake

D = dt.date
HORIZON = 180
KNOWN_UNTIL = D(2026, 11, 1)


def _monthly(n: int) -> list[dt.date]:
    return [D(2024 + (i + 11) // 12, (i + 11) % 12 + 1, 1) for i in range(n)]  # from 2023-12-01


def _labelled_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """400 employees over 36 monthly snapshots; each leaves (voluntarily) on its own day."""
    dates = _monthly(36)
    keys = range(1, 401)
    exit_of = {k: dates[0] + dt.timedelta(days=int(k * 2.6) + 1) for k in keys}
    rows = pd.DataFrame(
        [{"EmployeeNumber": k, "snapshot_date": d, "JobRole": "Sales"} for d in dates for k in keys if d < exit_of[k]]
    )
    exits = pd.DataFrame(
        {
            "EmployeeNumber": list(exit_of),
            "termination_date": list(exit_of.values()),
            "termination_type": ["voluntary"] * len(exit_of),
        }
    )
    return td.label_time_aware(rows, exits, HORIZON, KNOWN_UNTIL), exits


def _old_split(rows: pd.DataFrame) -> pd.DataFrame:
    """The split before the test window was sealed: 3 test, 3 validation right before them,
    training ending one horizon before validation."""
    dates = sorted(rows["snapshot_date"].unique())
    test, val = dates[-3:], dates[-6:-3]
    train = [d for d in dates if d <= val[0] - dt.timedelta(days=HORIZON)]
    split_of = {**{d: "train" for d in train}, **{d: "validation" for d in val}, **{d: "test" for d in test}}
    rows["split"] = rows["snapshot_date"].map(split_of)
    return rows[rows["split"].notna()].reset_index(drop=True)


def _run_checks(tmp_path: Path, training: pd.DataFrame, exits: pd.DataFrame, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    lake = DeltaLake(root=str(tmp_path / "lake"))
    term_version = lake.write_partition("hris_terminations", exits.assign(snapshot_date=KNOWN_UNTIL), KNOWN_UNTIL)
    lake.overwrite(
        "training_set",
        training,
        lineage={
            "lineage.hris_terminations": str(term_version),
            "lineage.known_until": KNOWN_UNTIL.isoformat(),
            "lineage.horizon_days": str(HORIZON),
            "lineage.mode": "time_aware",
        },
    )
    result = dg.materialize(
        [training_set, training_label_leakage, training_class_balance],
        selection=dg.AssetSelection.checks(training_label_leakage, training_class_balance),
        resources={"lake": lake},
        instance=instance,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_leakage_check_counts_no_shared_exit_on_the_sealed_split(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    rows, exits = _labelled_rows()
    sealed = td.assign_split(rows, td.SplitPlan(), HORIZON)
    check = _run_checks(tmp_path, sealed, exits, instance)["training_label_leakage"]
    assert check.passed
    assert check.metadata["shared_exit_events"].value == 0
    assert check.metadata["shared_exit_events_validation_test"].value == 0


def test_leakage_check_fails_on_a_training_set_written_with_the_old_split(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    rows, exits = _labelled_rows()
    check = _run_checks(tmp_path, _old_split(rows), exits, instance)["training_label_leakage"]
    assert not check.passed
    shared = check.metadata["shared_exit_events_validation_test"].value
    assert isinstance(shared, int) and shared > 0
    assert check.metadata["shared_exit_events"].value == shared
    assert check.metadata["days_validation_labels_run_into_test"].value > 0


def test_class_balance_fails_naming_the_split_and_its_rate(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    rows, exits = _labelled_rows()
    sealed = td.assign_split(rows, td.SplitPlan(), HORIZON)
    sealed.loc[sealed["split"] == "validation", "label"] = 0  # a validation window without leavers
    check = _run_checks(tmp_path, sealed, exits, instance)["training_class_balance"]
    assert not check.passed
    assert "validation: leaver rate 0.00% is 1.00% below the 1% minimum" in (check.description or "")
    assert check.metadata["validation_leaver_rate"].value == 0.0
    assert check.metadata["validation_rate_outside_band"].value == 0.01
    assert check.metadata["validation_leavers"].value == 0
    assert check.metadata["train_rate_outside_band"].value == 0.0
