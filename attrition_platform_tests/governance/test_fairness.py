"""Per-group recall, precision and selection rate, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attrition_platform.governance.fairness import (
    FairnessInputError,
    SmallGroupRule,
    age_band,
    comparison_table,
    evaluate,
)


def test_age_bands_have_the_plans_edges() -> None:
    ages = pd.Series([18, 29, 30, 39, 40, 49, 50, 60, None])
    assert age_band(ages).tolist() == ["<30", "<30", "30-39", "30-39", "40-49", "40-49", "50+", "50+", "unknown"]


def _company() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    # 40 women: 20 leavers, 15 caught, 5 false alarms; 40 men: 20 leavers, 5 caught, 5 false alarms.
    rows = pd.DataFrame({"Gender": ["Female"] * 40 + ["Male"] * 40, "Age": [25] * 40 + [45] * 40})
    y = np.array(([1] * 20 + [0] * 20) * 2)
    pred = np.zeros(80, dtype=int)
    pred[0:15] = 1
    pred[20:25] = 1
    pred[40:45] = 1
    pred[60:65] = 1
    return rows, y, pred


def test_group_metrics_match_hand_counts_and_the_gap_is_in_points() -> None:
    rows, y, pred = _company()
    result = evaluate(rows, y, pred, attributes=["Gender"], intersections=[], small=SmallGroupRule(10, 5))
    table = result.table.set_index("group")
    assert table.loc["Female", "recall"] == pytest.approx(15 / 20)
    assert table.loc["Female", "precision"] == pytest.approx(15 / 20)
    assert table.loc["Male", "recall"] == pytest.approx(5 / 20)
    assert table.loc["Male", "precision"] == pytest.approx(5 / 10)
    assert table.loc["Male", "selection_rate"] == pytest.approx(10 / 40)
    assert table.loc["Female", "rows"] == 40 and table.loc["Female", "leavers"] == 20
    assert result.gaps_pp["Gender"] == pytest.approx(50.0)
    assert result.largest_gap_pp == pytest.approx(50.0)
    assert result.largest_gap_attribute == "Gender"


def test_small_groups_are_flagged_kept_in_the_table_and_left_out_of_the_gap() -> None:
    rows, y, pred = _company()
    rows.loc[0:2, "Gender"] = "Other"  # 3 rows, all leavers caught: recall 1.0
    result = evaluate(rows, y, pred, attributes=["Gender"], intersections=[], small=SmallGroupRule(10, 5))
    table = result.table.set_index("group")
    assert bool(table.loc["Other", "small"]) and table.loc["Other", "rows"] == 3
    assert result.small_groups() == ["Gender=Other"]
    assert result.gaps_pp["Gender"] == pytest.approx((12 / 17 - 5 / 20) * 100)
    assert result.gaps_all_groups_pp["Gender"] == pytest.approx((1.0 - 5 / 20) * 100)


def test_intersections_are_reported_but_not_gated() -> None:
    rows, y, pred = _company()
    rows["Gender"] = ["Female", "Male"] * 40
    result = evaluate(rows, y, pred, attributes=["Gender"], intersections=[["Gender", "age_band"]],
                      small=SmallGroupRule(1, 1))
    assert set(result.table["attribute"]) == {"Gender", "Gender × age_band"}
    assert "Female × <30" in set(result.table["group"])
    assert result.gaps_pp["Gender × age_band"] > result.largest_gap_pp  # measured, not gated


def test_an_attribute_the_rows_lack_is_named() -> None:
    rows, y, pred = _company()
    with pytest.raises(FairnessInputError, match="'Ethnicity' is not a column"):
        evaluate(rows, y, pred, attributes=["Ethnicity"], intersections=[])


def test_the_comparison_table_puts_two_models_side_by_side() -> None:
    rows, y, pred = _company()
    a = evaluate(rows, y, pred, attributes=["Gender"], intersections=[])
    b = evaluate(rows, y, 1 - pred, attributes=["Gender"], intersections=[])
    table = comparison_table({"candidate": a, "champion": b}).set_index("group")
    assert table.loc["Male", "candidate recall"] == pytest.approx(0.25)
    assert table.loc["Male", "champion recall"] == pytest.approx(0.75)
