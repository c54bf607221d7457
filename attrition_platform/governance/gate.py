"""The promotion gate's rules: pure functions of the two models' numbers on one window.

Every rule is evaluated and reported (value, limit, margin), not only the first that fails, so
a rejected candidate's metadata says every way it fell short and by how much. A candidate
promotes only if every rule passes.

Fairness: the plan says the candidate's gap must stay "within ±2 pp" of the champion's. The
gate reads that as an upper bound (candidate gap ≤ champion gap + 2 pp): a candidate that is
fairer than the champion by more than 2 pp passes, because rejecting a model for being fairer
would defeat the rule's purpose.

The first model has no champion to be compared with. It must clear absolute floors on recall,
precision and ROC AUC; a fairness floor is optional (off by default) because a recall gap
between groups with different leaver rates is, at one decision threshold, partly a property
of the data rather than of the model (the synthetic company: 15 % of under-30s leave, 6 % of
40-49s, and the first model's age-band recall gap is ~45 pp). The gap is reported and warned
about by `fairness_report`, and it becomes the bar every later candidate must hold (±2 pp).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from attrition_platform import thresholds as t


@dataclass(frozen=True)
class GateRules:
    recall_tolerance: float = t.PROMOTION_RECALL_TOLERANCE
    precision_tolerance: float = t.PROMOTION_PRECISION_TOLERANCE
    fairness_tolerance: float = t.PROMOTION_FAIRNESS_TOLERANCE
    first_min_recall: float = t.FIRST_MODEL_MIN_RECALL
    first_min_precision: float = t.FIRST_MODEL_MIN_PRECISION
    first_min_roc_auc: float = t.FIRST_MODEL_MIN_ROC_AUC
    first_max_fairness_gap: float | None = t.FIRST_MODEL_MAX_FAIRNESS_GAP  # None: not gated


@dataclass(frozen=True)
class ModelNumbers:
    """One model on the evaluation window at its own decision threshold."""

    version: str
    recall: float
    precision: float
    roc_auc: float
    fairness_gap: float  # largest recall gap across gated protected attributes, as a fraction


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    value: float
    limit: float
    margin: float  # how far inside (+) or outside (−) the limit, in the value's units
    text: str


@dataclass(frozen=True)
class Decision:
    promote: bool
    summary: str
    rules: tuple[RuleResult, ...]

    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    def as_rows(self) -> list[dict[str, object]]:
        return [asdict(r) for r in self.rules]


def _at_least(rule: str, value: float, limit: float, what: str) -> RuleResult:
    margin = value - limit
    ok = margin >= -1e-12
    return RuleResult(rule, ok, value, limit, margin,
                      f"{what} {value:.4f} {'≥' if ok else '<'} {limit:.4f} ({margin * 100:+.2f} pp)")


def _at_most(rule: str, value: float, limit: float, what: str) -> RuleResult:
    margin = limit - value
    ok = margin >= -1e-12
    return RuleResult(rule, ok, value, limit, margin,
                      f"{what} {value * 100:.2f} pp {'≤' if ok else '>'} {limit * 100:.2f} pp "
                      f"({margin * 100:+.2f} pp)")


def decide(candidate: ModelNumbers, champion: ModelNumbers | None, rules: GateRules = GateRules()) -> Decision:
    """Promote `candidate` over `champion` (None: the first model, judged on absolute floors)?"""
    if champion is None:
        results = (
            _at_least("first_model_recall", candidate.recall, rules.first_min_recall, "recall"),
            _at_least("first_model_precision", candidate.precision, rules.first_min_precision, "precision"),
            _at_least("first_model_roc_auc", candidate.roc_auc, rules.first_min_roc_auc, "ROC AUC"),
        )
        if rules.first_max_fairness_gap is not None:
            results += (_at_most("first_model_fairness_gap", candidate.fairness_gap,
                                 rules.first_max_fairness_gap, "largest recall gap"),)
        against = "the first-model floors"
    else:
        results = (
            _at_least("recall_vs_champion", candidate.recall, champion.recall - rules.recall_tolerance,
                      "recall"),
            _at_least("precision_vs_champion", candidate.precision,
                      champion.precision - rules.precision_tolerance, "precision"),
            _at_most("fairness_gap_vs_champion", candidate.fairness_gap,
                     champion.fairness_gap + rules.fairness_tolerance, "largest recall gap"),
        )
        against = f"champion v{champion.version}"
    failed = [r for r in results if not r.passed]
    if failed:
        summary = f"rejected against {against}: " + "; ".join(r.text for r in failed)
    else:
        summary = f"promoted over {against}: " + "; ".join(r.text for r in results)
        if champion is None and rules.first_max_fairness_gap is None:
            summary += (f"; largest recall gap {candidate.fairness_gap * 100:.2f} pp not gated for a "
                        "first model: it becomes the bar the next candidates must hold")
    return Decision(not failed, summary, results)
