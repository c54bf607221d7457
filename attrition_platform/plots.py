"""Plots for Dagster metadata: PNGs embedded in Markdown, so the UI shows them inline."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402


def _markdown(fig: plt.Figure, title: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


SPLIT_COLOURS = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:green"}


def probability_range(y: np.ndarray, models: Mapping[str, np.ndarray]) -> float:
    """The upper end of the calibration axes: just beyond the highest decile of predictions
    (and its observed rate), so a model that rarely predicts above 0.4 is not squeezed into a
    corner of a 0..1 square by a few outliers. 1 once the curve reaches most of the range."""
    top = 0.0
    for p in models.values():
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        top = max(top, float(mean.max()), float(frac.max()))
    top *= 1.15
    return 1.0 if top > 0.8 else float(max(0.05, top))


def calibration_plot(y: np.ndarray, models: Mapping[str, np.ndarray]) -> str:
    """Observed exit rate per decile of predicted probability, on the probability range the
    models use, with the predictions' distribution below: bins far from the diagonal where
    many employees sit matter, empty stretches do not."""
    top = probability_range(y, models)
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08}
    )
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="perfect calibration")
    bins = np.linspace(0, top, 31)
    beyond = []
    for name, p in models.items():
        frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
        (line,) = ax.plot(mean, frac, marker="o", label=f"{name} (deciles)")
        hist.hist(p[p <= top], bins=bins, alpha=0.5, color=line.get_color())
        if (p > top).any():
            beyond.append(f"{name}: {(p > top).mean():.1%}")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_ylabel("observed exit rate")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Calibration (test window)")
    ax.grid(alpha=0.3)
    if beyond:
        hist.annotate(f"above {top:.2f}: " + ", ".join(beyond), (1, 0.9), xycoords="axes fraction",
                      ha="right", va="top", fontsize=7, color="dimgrey")
    hist.set_xlabel("predicted probability")
    hist.set_ylabel("employees")
    hist.set_yticks([])
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


def recall_plot(months: Sequence[str], realised: Sequence[float], evaluation: float | None, limit: float) -> str:
    """Realised recall per month (NaN: no leavers or not matured) against the evaluation
    recall, with the retrain line `limit` below it: a point under the dotted line is a drop
    the recall monitor acts on."""
    fig, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(months))
    ax.plot(x, np.asarray(realised, dtype=float), marker="o", label="realised recall")
    if evaluation is not None:
        ax.axhline(evaluation, color="tab:green", label="evaluation recall")
        ax.axhline(evaluation - limit, color="tab:red", ls=":", label=f"retrain below (-{limit * 100:g} pp)")
    ax.set_xticks(x, list(months), rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("recall")
    ax.set_title("Realised recall by month of score")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _markdown(fig, "realised recall by month")


def line_runs(dates: Sequence[dt.date], max_gap: dt.timedelta) -> list[list[int]]:
    """Indices of consecutive dates grouped where no gap exceeds `max_gap` (one line each)."""
    runs: list[list[int]] = []
    for i, d in enumerate(dates):
        if runs and d - dates[runs[-1][-1]] <= max_gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def leaver_rate_plot(dates: Sequence[dt.date], rates: Sequence[float], splits: Sequence[str]) -> str:
    """Leaver rate per snapshot, coloured by split, with the split boundaries marked. A line
    joins only neighbouring snapshots of the same split; an embargo or a missing snapshot
    shows as a gap, not as a straight line claiming data that is not there."""
    order = np.argsort(np.asarray(dates, dtype="datetime64[D]"))
    d = [dates[i] for i in order]
    r = np.asarray(rates, dtype=float)[order]
    s = [str(splits[i]) for i in order]
    steps = sorted(b - a for a, b in zip(d, d[1:]))
    cadence = steps[len(steps) // 2] if steps else dt.timedelta(days=31)
    max_gap = cadence * 1.5
    fig, ax = plt.subplots(figsize=(7.5, 3))
    for name, colour in SPLIT_COLOURS.items():
        idx = [i for i, v in enumerate(s) if v == name]
        if not idx:
            continue
        for n, run in enumerate(line_runs([d[i] for i in idx], max_gap)):
            pick = [idx[j] for j in run]
            ax.plot([d[i] for i in pick], r[pick], marker="o", ms=3, color=colour,
                    label=name if n == 0 else None)
        first, last = d[idx[0]], d[idx[-1]]
        if name != "train":
            ax.axvspan(first - cadence / 2, last + cadence / 2, color=colour, alpha=0.07, lw=0)
            ax.axvline(first - cadence / 2, color=colour, ls="--", lw=1)
        ax.annotate(name, (first + (last - first) / 2, 1), xycoords=("data", "axes fraction"),
                    xytext=(0, -11), textcoords="offset points", ha="center", fontsize=8,
                    color=colour)
    spans = [(min(x for x, v in zip(d, s) if v == n), max(x for x, v in zip(d, s) if v == n))
             for n in SPLIT_COLOURS if n in s]
    for (_, end_), (start_, _) in zip(spans, spans[1:]):
        if start_ - end_ > max_gap:  # an embargo between two splits: no snapshots used there
            ax.axvspan(end_ + cadence / 2, start_ - cadence / 2, color="grey", alpha=0.15, lw=0)
            ax.annotate("embargo", (end_ + (start_ - end_) / 2, 0.5), xycoords=("data", "axes fraction"),
                        ha="center", fontsize=8, color="dimgrey")
    ax.set_ylim(0, max(float(np.nanmax(r)) * 1.25, 0.01) if len(r) else 1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("leavers within horizon")
    ax.set_title("Leaver rate by snapshot and split")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _markdown(fig, "leaver rate by snapshot")


def line_plot(x: Sequence[object], y: Sequence[float], title: str, ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(list(x), list(y), marker=".")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.autofmt_xdate()
    return _markdown(fig, title)


def grouped_bar_plot(
    groups: Sequence[str], series: Mapping[str, Sequence[float]], title: str, xlabel: str,
    flagged: Sequence[bool] | None = None,
) -> str:
    """Horizontal bars per group, one bar per series (e.g. candidate vs champion recall per
    protected group); `flagged` groups (too small to judge) get a "*" after their name."""
    names = [f"{g} *" if flagged is not None and flagged[i] else g for i, g in enumerate(groups)]
    n = max(len(series), 1)
    height = 0.8 / n
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(names) * max(n, 1.5) / 1.5 + 1.2))
    y = np.arange(len(names))[::-1]
    for i, (label, values) in enumerate(series.items()):
        vals = np.nan_to_num(np.asarray(values, dtype=float))
        ax.barh(y + (n - 1) / 2 * height - i * height, vals, height=height, label=label)
    ax.set_yticks(y, names)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    if flagged is not None and any(flagged):
        ax.annotate("* too few rows or leavers to judge", (0, 0), xycoords="axes fraction",
                    xytext=(0, -30), textcoords="offset points", fontsize="small")
    return _markdown(fig, title)


def threshold_bar_plot(
    values: Mapping[str, float], threshold: float, title: str, xlabel: str, highlight: Sequence[str] = ()
) -> str:
    """Horizontal bars (largest on top) with a dashed line at `threshold`; bars at or over it
    in red, `highlight`ed names in bold, so the ones that matter read at a glance."""
    names = list(values)[::-1]
    heights = [float(values[n]) for n in names]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(names) + 1.2))
    colours = ["tab:red" if v >= threshold else "tab:blue" for v in heights]
    ax.barh(names, heights, color=colours)
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"{threshold:g}")
    for label in ax.get_yticklabels():
        if label.get_text() in highlight:
            label.set_fontweight("bold")
    ax.set_xlim(0, max([threshold * 1.25, *heights]) * 1.05)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _markdown(fig, title)
