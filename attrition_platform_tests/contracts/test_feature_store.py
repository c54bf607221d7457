from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.contracts.feature_store import (
    FEATURES_TABLE,
    latest_employee_features,
    table_version,
)
from attrition_platform.defs.feature_assets import build_features
from attrition_platform.resources.lake import DeltaLake
from attrition_platform_tests.hris.factories import static_rows

DAYS = (dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1))


def _snapshot(day: dt.date, seed: int, n: int = 40) -> pd.DataFrame:
    """One extract through the graph's own feature code, as the employee_features asset writes it."""
    rows = static_rows(n, seed=seed)
    rows[SNAPSHOT_DATE] = day
    rows["hire_date"] = dt.date(2015, 1, 1)
    rows["opt_out"] = np.arange(n) % 7 == 0
    rows["Attrition"] = "No"
    return build_features(rows)


@pytest.fixture
def lake(tmp_path) -> DeltaLake:
    return DeltaLake(root=str(tmp_path / "lake"))


def _write(lake: DeltaLake, frames: dict[dt.date, pd.DataFrame]) -> None:
    for day, frame in frames.items():
        lake.write_partition(FEATURES_TABLE, frame, day)


def test_latest_partition_rows_come_back_exactly(lake):
    frames = {day: _snapshot(day, seed=i) for i, day in enumerate(DAYS)}
    # Written out of order: "latest" is the greatest snapshot date, not the last write.
    _write(lake, {DAYS[2]: frames[DAYS[2]], DAYS[0]: frames[DAYS[0]], DAYS[1]: frames[DAYS[1]]})
    day, columns = latest_employee_features(lake.root)
    assert day == "2026-11-01"
    expected = frames[DAYS[2]].sort_values(KEY).reset_index(drop=True)
    order = np.argsort(columns[KEY])
    assert set(columns) == set(expected.columns)
    for name in expected.columns:
        got = columns[name][order]
        want = expected[name].to_numpy()
        if name in (SNAPSHOT_DATE, "hire_date"):
            want = pd.to_datetime(want).to_numpy().astype("datetime64[D]")
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want.astype(float), rtol=0, atol=0, err_msg=name)
        else:
            assert got.tolist() == want.tolist(), name
    assert (
        columns["opt_out"].dtype == bool
        and columns["opt_out"].sum() == expected["opt_out"].sum() > 0
    )


def test_leavers_of_a_static_export_are_not_served(lake):
    frame = _snapshot(DAYS[0], seed=3)
    frame.loc[frame.index[:5], "Attrition"] = "Yes"
    _write(lake, {DAYS[0]: frame})
    _, columns = latest_employee_features(lake.root)
    assert sorted(columns[KEY].tolist()) == sorted(frame[KEY].iloc[5:].tolist())


def test_latest_features_feed_the_bundle_directly(lake, small_bundle):
    _write(lake, {DAYS[0]: _snapshot(DAYS[0], seed=4)})
    _, columns = latest_employee_features(lake.root)
    result = small_bundle.score(columns)
    assert result.valid.all() and np.isfinite(result.probabilities).all()


def test_table_version_changes_when_a_new_partition_lands(lake):
    assert table_version(lake.root, FEATURES_TABLE) is None
    assert latest_employee_features(lake.root) is None
    _write(lake, {DAYS[0]: _snapshot(DAYS[0], seed=1)})
    first = table_version(lake.root, FEATURES_TABLE)
    assert table_version(lake.root, FEATURES_TABLE) == first  # stable while nothing lands
    _write(lake, {DAYS[1]: _snapshot(DAYS[1], seed=2)})
    assert table_version(lake.root, FEATURES_TABLE) != first
    assert latest_employee_features(lake.root)[0] == "2026-10-01"
