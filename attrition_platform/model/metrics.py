"""Classification metrics and threshold choice, shared by evaluation, CV and the promotion gate."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
)


def choose_threshold(y: np.ndarray, p: np.ndarray, beta: float = 1.0) -> float:
    """The probability cut that maximises F-beta on the given (validation) rows.

    beta > 1 weighs recall higher, which is what HR usually wants: a missed leaver costs more
    than an extra conversation.
    """
    y = np.asarray(y, dtype=int)
    if y.min() == y.max():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    b2 = beta * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1 + b2) * precision * recall / (b2 * precision + recall)
    f = np.nan_to_num(f[:-1])
    return float(thresholds[int(np.argmax(f))])


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    recall = tp / (tp + fn) if tp + fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = y.min() != y.max()
    return {
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "positive_rate": float(y.mean()) if len(y) else 0.0,
        "rows": float(len(y)),
    }


def confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    return confusion_matrix(np.asarray(y, dtype=int), np.asarray(p) >= threshold, labels=[0, 1])
