"""The gate's rules on numbers built to pass or to fail each of them."""

from __future__ import annotations

import pytest

from attrition_platform.governance.gate import GateRules, ModelNumbers, decide

CHAMPION = ModelNumbers("3", recall=0.50, precision=0.40, roc_auc=0.80, fairness_gap=0.06)


def _candidate(**changes: float) -> ModelNumbers:
    values = {"recall": 0.50, "precision": 0.40, "roc_auc": 0.80, "fairness_gap": 0.06, **changes}
    return ModelNumbers("4", **values)


def test_a_candidate_better_on_recall_and_precision_and_as_fair_is_promoted() -> None:
    decision = decide(_candidate(recall=0.55, precision=0.42), CHAMPION)
    assert decision.promote
    assert not decision.failed()
    assert decision.summary.startswith("promoted over champion v3")


def test_a_candidate_with_lower_recall_is_rejected_and_the_shortfall_is_named() -> None:
    decision = decide(_candidate(recall=0.47, precision=0.45), CHAMPION)
    assert not decision.promote
    [failed] = decision.failed()
    assert failed.rule == "recall_vs_champion"
    assert failed.margin == pytest.approx(-0.03)
    assert "-3.00 pp" in decision.summary


def test_a_candidate_with_lower_precision_is_rejected() -> None:
    decision = decide(_candidate(recall=0.60, precision=0.39), CHAMPION)
    assert [r.rule for r in decision.failed()] == ["precision_vs_champion"]


def test_a_more_accurate_but_less_fair_candidate_is_rejected_on_fairness_alone() -> None:
    decision = decide(_candidate(recall=0.70, precision=0.60, fairness_gap=0.085), CHAMPION)
    assert not decision.promote
    [failed] = decision.failed()
    assert failed.rule == "fairness_gap_vs_champion"
    assert failed.limit == pytest.approx(0.08)
    assert failed.margin == pytest.approx(-0.005)


def test_a_gap_within_two_points_of_the_champion_passes_and_a_fairer_candidate_always_passes() -> None:
    assert decide(_candidate(fairness_gap=0.0799), CHAMPION).promote
    assert decide(_candidate(fairness_gap=0.0), CHAMPION).promote


def test_tolerances_let_a_candidate_trail_by_that_much_and_no_more() -> None:
    rules = GateRules(recall_tolerance=0.02, precision_tolerance=0.01)
    assert decide(_candidate(recall=0.48, precision=0.39), CHAMPION, rules).promote
    assert not decide(_candidate(recall=0.479, precision=0.39), CHAMPION, rules).promote


def test_every_failing_rule_is_reported_not_only_the_first() -> None:
    decision = decide(_candidate(recall=0.1, precision=0.1, fairness_gap=0.3), CHAMPION)
    assert [r.rule for r in decision.failed()] == [
        "recall_vs_champion", "precision_vs_champion", "fairness_gap_vs_champion"]


def test_the_first_model_is_judged_on_the_floors() -> None:
    rules = GateRules(first_min_recall=0.3, first_min_precision=0.2, first_min_roc_auc=0.7)
    assert decide(_candidate(recall=0.31, precision=0.21, roc_auc=0.71), None, rules).promote
    rejected = decide(_candidate(recall=0.31, precision=0.21, roc_auc=0.69), None, rules)
    assert [r.rule for r in rejected.failed()] == ["first_model_roc_auc"]
    assert rejected.summary.startswith("rejected against the first-model floors")


def test_a_first_model_fairness_floor_is_applied_only_when_set() -> None:
    unset = decide(_candidate(fairness_gap=0.45), None, GateRules(first_max_fairness_gap=None))
    assert unset.promote and "not gated" in unset.summary
    floor = decide(_candidate(fairness_gap=0.45), None, GateRules(first_max_fairness_gap=0.10))
    assert [r.rule for r in floor.failed()] == ["first_model_fairness_gap"]
