"""The linear part of the recipe: a regularised logistic model whose logit the trees boost from.

Why: on small static exports (a few hundred leavers) most of the signal is additive, and a
regularised logistic regression ranks better than shallow trees that must rebuild each slope
from steps. Starting XGBoost from the linear model's margin (its `base_margin`) lets the
trees spend their rounds on what the line misses (thresholds, U-shapes, interactions), and
early stopping on validation rows keeps them out when there is nothing to add.

The model lives in the bundle (metadata `linear_margin`) so scoring and explanations stay one
code path: margin = linear margin + tree margin. A linear term's exact SHAP value, with the
training rows' mean as the reference, is `weight * (x - mean)`; the linear base value is the
margin at the mean. Together with the trees' TreeSHAP values they sum to the margin exactly.

The weights of features with a known direction (`feature_spec.MONOTONE`) are sign-bounded,
like the trees' monotone constraints, so that "higher income lowers risk" holds for the whole
model, not only for its trees. scikit-learn's LogisticRegression has no coefficient bounds;
the same L2-penalised log-loss is minimised here with SciPy's L-BFGS-B, which takes bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

# Inverse L2 strengths tried on validation rows (sklearn's C: larger is weaker).
DEFAULT_CS: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class LinearMargin:
    """logit = intercept + sum_j weights[j] * (x[:, j] - center[j]), in model-matrix units."""

    weights: np.ndarray  # float64, one per model column
    center: np.ndarray  # float64: the training rows' column means, the SHAP reference
    intercept: float  # the margin at the center: the linear part's base value
    C: float

    @cached_property
    def offset(self) -> float:
        """The constant of the uncentred form: logit = x @ weights + offset."""
        return float(self.intercept - self.weights @ self.center)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.weights + self.offset

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and column, the exact linear SHAP value (float64, n x F)."""
        return (np.asarray(x, dtype=np.float64) - self.center) * self.weights

    def to_dict(self, feature_names: Sequence[str]) -> dict[str, Any]:
        """Keyed by feature name, so a reordered spec can never pair a weight with another column."""
        return {
            "intercept": self.intercept,
            "C": self.C,
            "weights": dict(zip(feature_names, self.weights.tolist(), strict=True)),
            "center": dict(zip(feature_names, self.center.tolist(), strict=True)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], feature_names: Sequence[str]) -> "LinearMargin":
        weights, center = data["weights"], data["center"]
        missing = [n for n in feature_names if n not in weights or n not in center]
        extra = sorted(set(weights) - set(feature_names))
        if missing or extra:
            raise ValueError(
                f"linear_margin does not match the feature spec (missing {missing[:3]}, unknown {extra[:3]})"
            )
        return cls(
            weights=np.array([float(weights[n]) for n in feature_names]),
            center=np.array([float(center[n]) for n in feature_names]),
            intercept=float(data["intercept"]),
            C=float(data["C"]),
        )


def _bounds(signs: Sequence[int]) -> list[tuple[float | None, float | None]]:
    """+1: the weight may not be negative; -1: not positive; 0: free. The intercept is free."""
    table = {1: (0.0, None), -1: (None, 0.0), 0: (None, None)}
    return [table[int(s)] for s in signs] + [(None, None)]


def fit_linear_margin(x: np.ndarray, y: np.ndarray, C: float, signs: Sequence[int] | None = None) -> LinearMargin:
    """L2-penalised logistic regression on standardised columns (sklearn's objective, C the
    inverse strength), weights sign-bounded by `signs`; returned in model-matrix units."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant column gets weight 0 from the penalty anyway
    z = (x - center) / scale
    n_features = z.shape[1]
    signs = [0] * n_features if signs is None else list(signs)
    if len(signs) != n_features:
        raise ValueError(f"{len(signs)} signs for {n_features} columns")
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start = np.zeros(n_features + 1)
    start[-1] = np.log(prior / (1 - prior))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        t = z @ w + b
        # log(1 + e^t) - y t, stably; its gradient is sigmoid(t) - y
        value = np.logaddexp(0.0, t).sum() - y @ t + 0.5 / C * (w @ w)
        r = 1.0 / (1.0 + np.exp(-t)) - y
        return float(value), np.concatenate([z.T @ r + w / C, [r.sum()]])

    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=_bounds(signs),
                      options={"maxiter": 2000})
    w, b = result.x[:-1], float(result.x[-1])
    weights = w / scale
    return LinearMargin(weights=weights, center=center, intercept=b, C=float(C))


def log_loss(y: np.ndarray, margin: np.ndarray) -> float:
    """Mean log-loss of labels given logits (stable for large |margin|)."""
    y = np.asarray(y, dtype=np.float64)
    m = np.asarray(margin, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, m) - y * m))


def choose_linear_margin(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    signs: Sequence[int] | None = None,
    cs: Sequence[float] = DEFAULT_CS,
) -> tuple[LinearMargin, dict[str, float]]:
    """The C with the lowest validation log-loss (fitted on fit rows only) and the loss of each."""
    if not cs:
        raise ValueError("give at least one C for the linear margin")
    tried: dict[str, float] = {}
    best: tuple[float, LinearMargin] | None = None
    for c in cs:
        model = fit_linear_margin(x_fit, y_fit, c, signs)
        loss = log_loss(y_val, model.margin(x_val))
        tried[str(c)] = round(loss, 6)
        if best is None or loss < best[0]:
            best = (loss, model)
    assert best is not None
    return best[1], tried
