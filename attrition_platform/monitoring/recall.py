"""Realised recall: how many of the employees who did leave had the served model flagged?

The model promised a recall on its evaluation window; this module measures the recall it really
had, once the outcome of its scores is known. Pure functions over pandas frames (no Dagster, no
I/O), so every rule below is tested on hand-made rows:

- One score per employee per calendar month of the score date: the *latest* one (what the
  HR portal showed at the end of that month). An employee scored 30 times in a month counts
  once, so a month is not weighted by how often someone was looked up.
- A score is judged with the model that made it: predicted "leaves" when its probability is at
  or above *that* model's decision threshold, labelled with *that* model's horizon.
- Label = a voluntary exit in (score date, score date + horizon], the training label exactly
  (`training_data.label_time_aware`). Involuntary exits are not leavers: those employees count
  as "stayed", as they did in the rows the evaluation recall was measured on, so realised and
  evaluation recall measure the same thing.
- A score is matured once score date + horizon <= the date exits are known up to; immature
  scores are never judged (an employee who has not left *yet* is not a miss or a hit). A month
  is complete when every one of its chosen scores has matured; only complete months give a
  verdict, so a verdict never changes as more of a month's outcomes arrive.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from attrition_platform.contract_columns import KEY

EMPLOYEE = "employee_id"
SCORE_DATE = "score_date"
SCORED_AT = "scored_at"
MODEL_VERSION = "model_version"
PROBABILITY = "probability"
SOURCE = "source"
MONTH = "month"
SCORE_COLUMNS = (EMPLOYEE, SCORE_DATE, SCORED_AT, MODEL_VERSION, PROBABILITY, SOURCE)

MONTH_COLUMNS = (
    "scored",  # matured scores judged (one per employee)
    "maturing",  # chosen scores whose horizon has not elapsed yet
    "leavers",  # voluntary exits within the horizon among the judged
    "flagged",  # judged scores at or above their model's threshold
    "caught",  # leavers that were flagged (true positives)
    "recall",  # caught / leavers (NaN without leavers)
    "precision",  # caught / flagged (NaN when nobody was flagged)
    "complete",  # no chosen score of the month still maturing
    "models",  # model versions that made the judged scores, comma-separated
)


@dataclass(frozen=True)
class ModelFacts:
    """What judging one model's scores needs from its bundle."""

    threshold: float
    horizon_days: int


@dataclass(frozen=True)
class Verdict:
    """The realised recall of the latest complete month(s) with enough leavers, against the
    champion's evaluation recall. `enough_data` False means no verdict: every number is None."""

    enough_data: bool
    months: tuple[str, ...]
    leavers: int
    realised_recall: float | None
    evaluation_recall: float | None
    drop_pp: float | None  # (evaluation - realised) in percentage points; > 0 is worse

    def exceeds(self, limit: float) -> bool:
        """True when the drop is larger than `limit` (a fraction: 0.05 is 5 pp)."""
        return self.drop_pp is not None and self.drop_pp > limit * 100


def empty_scores() -> pd.DataFrame:
    """A score frame with no rows and the columns `one_score_per_month` expects."""
    return pd.DataFrame(
        {
            EMPLOYEE: pd.Series(dtype="int64"),
            SCORE_DATE: pd.Series(dtype="datetime64[ns]"),
            SCORED_AT: pd.Series(dtype="datetime64[ns, UTC]"),
            MODEL_VERSION: pd.Series(dtype="object"),
            PROBABILITY: pd.Series(dtype="float64"),
            SOURCE: pd.Series(dtype="object"),
        }
    )


def one_score_per_month(scores: pd.DataFrame) -> pd.DataFrame:
    """The latest score of each employee in each calendar month of the score date.

    Ties on date go to the later `scored_at`; `source` then breaks exact ties so the choice
    does not depend on row order.
    """
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}")
    out = scores.loc[:, list(SCORE_COLUMNS)].copy()
    out[SCORE_DATE] = pd.to_datetime(out[SCORE_DATE]).dt.normalize()
    out[MODEL_VERSION] = out[MODEL_VERSION].astype(str)
    out[SOURCE] = out[SOURCE].astype(str)
    out[MONTH] = out[SCORE_DATE].dt.strftime("%Y-%m")
    out = out.sort_values([EMPLOYEE, SCORE_DATE, SCORED_AT, SOURCE], kind="stable")
    return out.drop_duplicates([EMPLOYEE, MONTH], keep="last").reset_index(drop=True)


def label_scores(
    chosen: pd.DataFrame,
    exits: pd.DataFrame,
    models: Mapping[str, ModelFacts],
    known_until: dt.date | None,
) -> pd.DataFrame:
    """`chosen` (from `one_score_per_month`) with `matured`, `flagged` and `left` columns.

    `exits` are voluntary exits (`training_data.voluntary_exits`: KEY, exit). Rows of a model
    not in `models` are dropped: without its threshold and horizon they cannot be judged (the
    caller counts them). `known_until` None (no exit extract yet): nothing has matured.
    """
    rows = chosen[chosen[MODEL_VERSION].isin(list(models))].reset_index(drop=True)
    threshold = rows[MODEL_VERSION].map({v: f.threshold for v, f in models.items()})
    horizon = pd.to_timedelta(
        rows[MODEL_VERSION].map({v: f.horizon_days for v, f in models.items()}).astype("int64"),
        unit="D",
    )
    rows["threshold"] = threshold.astype("float64")
    rows["window_end"] = rows[SCORE_DATE] + horizon
    rows["matured"] = (
        (rows["window_end"] <= pd.Timestamp(known_until)).to_numpy()
        if known_until is not None
        else np.zeros(len(rows), dtype=bool)
    )
    rows["flagged"] = (rows[PROBABILITY] >= rows["threshold"]).to_numpy()
    pairs = pd.DataFrame(
        {"row": np.arange(len(rows)), KEY: rows[EMPLOYEE].to_numpy(dtype="int64"),
         "start": rows[SCORE_DATE].to_numpy(), "end": rows["window_end"].to_numpy()}
    ).merge(exits.astype({KEY: "int64"}), on=KEY, how="inner")
    inside = (pairs["exit"] > pairs["start"]) & (pairs["exit"] <= pairs["end"])
    left = np.zeros(len(rows), dtype=bool)
    left[pairs.loc[inside, "row"].to_numpy()] = True
    rows["left"] = left
    return rows


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def monthly_recall(labelled: pd.DataFrame) -> pd.DataFrame:
    """One row per month (index "YYYY-MM", ascending) with the counts of `MONTH_COLUMNS`."""
    records: dict[str, dict[str, Any]] = {}
    for month, group in labelled.groupby(MONTH, sort=True):
        judged = group[group["matured"]]
        leavers = int(judged["left"].sum())
        flagged = int(judged["flagged"].sum())
        caught = int((judged["left"] & judged["flagged"]).sum())
        maturing = int((~group["matured"]).sum())
        records[str(month)] = {
            "scored": len(judged),
            "maturing": maturing,
            "leavers": leavers,
            "flagged": flagged,
            "caught": caught,
            "recall": _ratio(caught, leavers),
            "precision": _ratio(caught, flagged),
            "complete": maturing == 0,
            "models": ",".join(sorted(judged[MODEL_VERSION].unique(), key=_version_key)),
        }
    frame = pd.DataFrame.from_dict(records, orient="index", columns=list(MONTH_COLUMNS)).astype(
        {**dict.fromkeys(MONTH_COLUMNS[:5], "int64"), "recall": "float64", "precision": "float64",
         "complete": "bool", "models": "object"}
    )
    frame.index.name = MONTH
    return frame


def _version_key(version: str) -> tuple[int, str]:
    """Numeric registry versions in numeric order (2 before 10), anything else after them."""
    return (int(version), "") if version.isdigit() else (10**9, version)


def judge(
    monthly: pd.DataFrame,
    evaluation_recall: float | None,
    min_leavers: int,
    months: int = 1,
) -> Verdict:
    """Pool the latest `months` complete months that each have at least `min_leavers` leavers.

    Fewer leavers than that make a month's recall too noisy to retrain on (20 leavers: one miss
    moves it 5 pp, the whole limit), and without an evaluation recall there is nothing to
    compare with: both give no verdict rather than a guess.
    """
    usable = monthly[monthly["complete"] & (monthly["leavers"] >= min_leavers)]
    picked = usable.tail(max(1, months))
    if picked.empty or evaluation_recall is None:
        return Verdict(False, tuple(picked.index), int(picked["leavers"].sum()), None, evaluation_recall, None)
    leavers = int(picked["leavers"].sum())
    realised = int(picked["caught"].sum()) / leavers
    drop = round((evaluation_recall - realised) * 100, 4)
    return Verdict(True, tuple(picked.index), leavers, realised, evaluation_recall, drop)


def evaluation_recall(metadata: Mapping[str, Any]) -> tuple[float | None, str]:
    """(recall, where it came from) of a bundle's metadata.

    `evaluation_metrics` is the untouched test window (written when a model is promoted);
    `validation_metrics` the window its threshold was tuned on, an optimistic fallback for a
    bundle published without evaluation. "none" when neither holds a recall.
    """
    for key in ("evaluation_metrics", "validation_metrics"):
        value = (metadata.get(key) or {}).get("recall")
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value), key
    return None, "none"


def month_records(monthly: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The per-month numbers as plain JSON values (NaN becomes None), for machines to read."""
    out: dict[str, dict[str, Any]] = {}
    for month, row in monthly.iterrows():
        record: dict[str, Any] = {}
        for name in MONTH_COLUMNS:
            value = row[name]
            if name in ("recall", "precision"):
                record[name] = None if math.isnan(value) else round(float(value), 4)
            elif name == "complete":
                record[name] = bool(value)
            elif name == "models":
                record[name] = str(value)
            else:
                record[name] = int(value)
        out[str(month)] = record
    return out


def month_table(monthly: pd.DataFrame, evaluation: float | None, verdict_months: Sequence[str]) -> pd.DataFrame:
    """The per-month table shown in the UI: rates as percentages, the drop per month in pp."""
    table = monthly.copy()
    table["recall %"] = (table.pop("recall") * 100).round(1)
    table["precision %"] = (table.pop("precision") * 100).round(1)
    table["evaluation recall %"] = round(evaluation * 100, 1) if evaluation is not None else math.nan
    table["drop pp"] = (table["evaluation recall %"] - table["recall %"]).round(1)
    table["verdict"] = ["used" if m in verdict_months else "" for m in table.index]
    return table
