"""One model scored on the evaluation window: its metrics at its own threshold and its fairness.

Both the fairness report and the gate need the candidate's and the champion's numbers on the
same rows; this is the one place that produces them, so the report shows exactly what the gate
decides on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attrition_platform.governance import fairness
from attrition_platform.governance.gate import ModelNumbers
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.metrics import classification_metrics


@dataclass(frozen=True)
class FairnessSpec:
    attributes: Sequence[str] = fairness.DEFAULT_ATTRIBUTES
    intersections: Sequence[Sequence[str]] = fairness.DEFAULT_INTERSECTIONS
    small: fairness.SmallGroupRule = field(default_factory=fairness.SmallGroupRule)


@dataclass(frozen=True)
class ModelOnWindow:
    version: str
    threshold: float
    probabilities: np.ndarray
    metrics: dict[str, float]
    fairness: fairness.FairnessResult
    unseen_counts: dict[str, int]

    def numbers(self) -> ModelNumbers:
        return ModelNumbers(
            version=self.version,
            recall=self.metrics["recall"],
            precision=self.metrics["precision"],
            roc_auc=self.metrics["roc_auc"],
            fairness_gap=self.fairness.largest_gap_pp / 100.0,
        )


def score_on_window(
    bundle: ModelBundle, version: str, rows: pd.DataFrame, y: np.ndarray, spec: FairnessSpec
) -> ModelOnWindow:
    """Score `rows` through the bundle's validated call (as serving does; categories the model
    never saw count as unseen) and measure it at the bundle's own decision threshold."""
    scored = bundle.score(rows, unseen="allow")
    p = scored.require_all()
    predicted = p >= bundle.threshold
    result = fairness.evaluate(rows, y, predicted, spec.attributes, spec.intersections, spec.small)
    return ModelOnWindow(
        version=version,
        threshold=float(bundle.threshold),
        probabilities=p,
        metrics=classification_metrics(y, p, bundle.threshold),
        fairness=result,
        unseen_counts=dict(scored.unseen_counts),
    )
