"""Plots for Dagster metadata: PNGs embedded in Markdown, so the UI shows them inline."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402


def _markdown(fig: plt.Figure, title: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def calibration_plot(y: np.ndarray, models: Mapping[str, np.ndarray]) -> str:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for name, p in models.items():
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", label=name)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed exit rate")
    ax.legend()
    ax.set_title("Calibration (test window)")
    return _markdown(fig, "calibration curve")


def confusion_plot(matrix: np.ndarray, threshold: float) -> str:
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(int(v)), ha="center", va="center")
    ax.set_xticks([0, 1], ["stays", "leaves"])
    ax.set_yticks([0, 1], ["stayed", "left"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion at threshold {threshold:.3f}")
    return _markdown(fig, "confusion matrix")


def bar_plot(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 0.25 * len(labels) + 1))
    ax.barh(list(labels)[::-1], list(values)[::-1])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _markdown(fig, title)


def line_plot(x: Sequence[object], y: Sequence[float], title: str, ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(list(x), list(y), marker=".")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.autofmt_xdate()
    return _markdown(fig, title)
