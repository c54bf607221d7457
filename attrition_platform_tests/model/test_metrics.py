"""Metrics and the threshold choice against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.model.metrics import choose_threshold, classification_metrics

Y = np.array([1, 0, 1, 0, 0, 0, 1, 0])
P = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.25, 0.2, 0.1])


def test_classification_metrics_match_a_hand_count() -> None:
    # At 0.5: flagged 0.9 (leaver), 0.8 (stayer), 0.7 (leaver) -> TP 2, FP 1, FN 1 (the 0.2 leaver).
    m = classification_metrics(Y, P, 0.5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # ROC AUC: of the 3 x 5 leaver/stayer pairs the leaver scores higher in 10 (0.9 beats all 5,
    # 0.7 beats 4, 0.2 beats only 0.1).
    assert m["roc_auc"] == pytest.approx(10 / 15)
    # Average precision: precision at each leaver's rank (1, 3, 7), averaged.
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 7) / 3)
    brier = np.mean((P - Y) ** 2)
    assert m["brier"] == pytest.approx(brier)
    assert m["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.16 + 0.09 + 0.0625 + 0.64 + 0.01) / 8)
    assert m["positive_rate"] == pytest.approx(3 / 8) and m["rows"] == 8


def test_a_threshold_at_a_score_flags_that_score() -> None:
    m = classification_metrics(Y, P, 0.7)  # p >= threshold is flagged
    assert (m["recall"], m["precision"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))


def test_nothing_flagged_gives_zero_precision_not_a_division_error() -> None:
    m = classification_metrics(Y, P, 0.95)
    assert (m["recall"], m["precision"], m["f1"]) == (0.0, 0.0, 0.0)


def test_threshold_maximises_f_beta_on_the_given_rows() -> None:
    # Cuts at each leaver: 0.9 -> P 1, R 1/3, F1 0.5; 0.7 -> P 2/3, R 2/3, F1 0.667;
    # 0.2 -> P 3/7, R 1, F1 0.6 (cuts at a stayer only add false alarms).
    assert choose_threshold(Y, P, beta=1.0) == pytest.approx(0.7)
    # beta = 2 weighs recall: 0.2 gives F2 = 5 * (3/7) / (4 * 3/7 + 1) = 0.789 vs 0.667 at 0.7.
    assert choose_threshold(Y, P, beta=2.0) == pytest.approx(0.2)
    # beta = 0.5 weighs precision: 0.9 gives 1.25 * (1/3) / (0.25 + 1/3) = 0.714 vs 0.667 at 0.7.
    assert choose_threshold(Y, P, beta=0.5) == pytest.approx(0.9)


def test_threshold_on_one_class_falls_back_to_one_half() -> None:
    assert choose_threshold(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4])) == 0.5
