"""recall_monitor: the served model's realised recall, once the outcome of its scores is known.

Joins the scores employees really got (`nightly_scores`, and `prediction_log` rows that name an
employee, live or cached) to the voluntary exits of the latest `hris_terminations` extract, per
month of score, and compares the latest complete month with the champion's evaluation recall.
The rules (one score per employee per month, each score judged by its own model's threshold and
horizon, involuntary exits are not leavers, complete months only) are in
monitoring/recall.py; docs/monitoring-recall.md explains them and the metadata the recall
sensor reads.
"""

import datetime as dt
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
from pydantic import Field

from attrition_platform import plots
from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.contracts.audit_logs import PREDICTION_LOG, log_uri
from attrition_platform.contracts.published import (
    PublicationError,
    Store,
    fetch_version,
    read_pointer,
)
from attrition_platform.defs.hris_assets import TERMINATIONS_TABLE, hris_terminations
from attrition_platform.defs.scoring_assets import SCORES_TABLE, nightly_scores
from attrition_platform.model.training_data import voluntary_exits
from attrition_platform.monitoring import recall as rc
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform.thresholds import RECALL_DROP_RETRAIN, RECALL_MIN_LEAVERS

ASSET_KEY = dg.AssetKey("recall_monitor")


class RecallConfig(dg.Config):
    """How much evidence a verdict needs; editable in the launchpad."""

    min_leavers: int = Field(
        default=RECALL_MIN_LEAVERS,
        ge=1,
        description="Leavers a month needs before its realised recall counts (fewer: no verdict).",
    )
    verdict_months: int = Field(
        default=1,
        ge=1,
        description="How many of the latest complete months with enough leavers are pooled into "
        "the verdict.",
    )
    horizon_days: int = Field(
        default=0,
        ge=0,
        description="0: each model's own label horizon (bundle metadata horizon_days); > 0 "
        "overrides it for every model.",
    )
    lookback_months: int = Field(
        default=24, ge=1, description="Months of scores read, ending at the exits' known-until date."
    )


@dataclass
class Models:
    """The facts of every model that made a score, and the ones that could not be judged."""

    facts: dict[str, rc.ModelFacts] = field(default_factory=dict)
    metadata: dict[str, dict] = field(default_factory=dict)  # version -> bundle metadata
    unjudged: dict[str, str] = field(default_factory=dict)  # version -> why


def _month_start(day: dt.date, months_back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _query(table: DeltaTable, sql: str) -> pd.DataFrame:
    return pa.table(QueryBuilder().register("t", table).execute(sql).read_all()).to_pandas()


def read_scores(lake: DeltaLake, since: dt.date) -> pd.DataFrame:
    """Every score from `since` on: nightly (one per snapshot) and logged answers about a named
    employee (the day of `ts`, UTC, is their score date)."""
    frames = [rc.empty_scores()]
    if lake.exists(SCORES_TABLE):
        nightly = _query(
            lake.table(SCORES_TABLE),
            f'SELECT "employee_id", "{SNAPSHOT_DATE}" AS "{rc.SCORE_DATE}", "scored_at", '
            f'"model_version", "probability" FROM "t" '
            f"WHERE \"{SNAPSHOT_DATE}\" >= DATE '{since.isoformat()}'",
        )
        frames.append(nightly.assign(**{rc.SOURCE: "nightly"}))
    uri = log_uri(lake.root, PREDICTION_LOG)
    options = lake.storage_options()
    if DeltaTable.is_deltatable(uri, storage_options=options):
        logged = _query(
            DeltaTable(uri, storage_options=options),
            'SELECT "employee_id", "ts" AS "scored_at", "model_version", "probability", "source" '
            f"FROM \"t\" WHERE \"employee_id\" IS NOT NULL AND \"day\" >= '{since.isoformat()}'",
        )
        logged[rc.SCORE_DATE] = pd.to_datetime(logged["scored_at"], utc=True).dt.tz_localize(None).dt.normalize()
        frames.append(logged)
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True)
    out[rc.SCORE_DATE] = pd.to_datetime(out[rc.SCORE_DATE])
    out[rc.SCORED_AT] = pd.to_datetime(out[rc.SCORED_AT], utc=True)
    return out


def model_facts(store: Store, versions: list[str], horizon_override: int, dest: Path) -> Models:
    """Threshold and horizon of each version, from its bundle at the published location (what
    served the score: the threshold it banded with is the one it is judged by)."""
    models = Models()
    for version in versions:
        bundle = fetch_version(store, version, dest / version)
        if bundle is None:
            models.unjudged[version] = "no bundle at the published location"
            continue
        models.metadata[version] = bundle.metadata
        horizon = horizon_override or int(bundle.metadata.get("horizon_days") or 0)
        if horizon <= 0:
            models.unjudged[version] = "bundle records no horizon_days (set horizon_days in the config)"
            continue
        models.facts[version] = rc.ModelFacts(threshold=float(bundle.threshold), horizon_days=horizon)
    return models


def read_exits(lake: DeltaLake) -> tuple[dt.date | None, pd.DataFrame]:
    """(date exits are known up to, voluntary exits): the latest terminations extract, which
    holds every exit known on its date."""
    dates = lake.partition_dates(TERMINATIONS_TABLE)
    if not dates:
        return None, voluntary_exits(pd.DataFrame())
    terminations = lake.read(TERMINATIONS_TABLE, snapshot_date=dates[-1])
    return dates[-1], voluntary_exits(terminations)


def _number(value: float | None) -> dg.MetadataValue:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return dg.MetadataValue.null()
    return dg.MetadataValue.float(round(float(value), 4))


def _summary(verdict: rc.Verdict, monthly: pd.DataFrame, known_until: dt.date | None,
             champion: str | None, source: str, min_leavers: int) -> str:
    if champion is None:
        return "no verdict: nothing is published, so there is no champion to judge"
    if known_until is None:
        return "no verdict: hris_terminations holds no extract yet, so no outcome is known"
    if verdict.enough_data:
        direction = "below" if (verdict.drop_pp or 0) > 0 else "at or above"
        return (
            f"realised recall {verdict.realised_recall:.1%} over {verdict.leavers} leavers "
            f"({', '.join(verdict.months)}) is {abs(verdict.drop_pp or 0):.1f} pp {direction} "
            f"model {champion}'s {source} recall {verdict.evaluation_recall:.1%}"
        )
    if verdict.evaluation_recall is None:
        return f"no verdict: model {champion}'s bundle records no recall (evaluation or validation)"
    if monthly.empty or not int(monthly["scored"].sum()):
        return f"no verdict: no score has matured yet (exits known up to {known_until})"
    return (
        f"no verdict: no complete month has {min_leavers} or more leavers yet "
        f"(exits known up to {known_until})"
    )


@dg.asset(
    group_name="monitoring",
    kinds={"deltalake", "pandas"},
    deps=[nightly_scores, hris_terminations, dg.AssetKey(PREDICTION_LOG)],
    owners=["team:ml"],
    description="Realised recall and precision per month of score once the horizon has passed "
    "(scores served or batch-scored at the time, voluntary exits as the label), against the "
    "champion's evaluation recall.",
)
def recall_monitor(
    context: dg.AssetExecutionContext, config: RecallConfig, lake: DeltaLake, published: PublishedLocation
) -> dg.MaterializeResult:
    store = published.store()
    try:
        pointer = read_pointer(store)
    except PublicationError as exc:
        raise dg.Failure(f"published location {published.uri}: {exc}") from None
    champion = pointer.model_version if pointer else None
    known_until, exits = read_exits(lake)
    anchor = known_until or dt.datetime.now(dt.UTC).date()
    scores = read_scores(lake, _month_start(anchor, config.lookback_months - 1))
    versions = sorted({str(v) for v in scores[rc.MODEL_VERSION].unique()} | ({champion} if champion else set()))
    with tempfile.TemporaryDirectory(prefix="attrition-recall-") as tmp:
        try:
            models = model_facts(store, versions, config.horizon_days, Path(tmp))
        except PublicationError as exc:  # a damaged bundle: say which file, judge nothing
            raise dg.Failure(f"published location {published.uri}: {exc}") from None
    evaluation, source = rc.evaluation_recall(models.metadata.get(champion or "", {}))

    chosen = rc.one_score_per_month(scores)
    unjudged_rows = int(chosen[rc.MODEL_VERSION].isin(list(models.unjudged)).sum())
    labelled = rc.label_scores(chosen, exits, models.facts, known_until)
    monthly = rc.monthly_recall(labelled)
    verdict = rc.judge(monthly, evaluation, config.min_leavers, config.verdict_months)
    summary = _summary(verdict, monthly, known_until, champion, source, config.min_leavers)
    retrain = verdict.exceeds(RECALL_DROP_RETRAIN)
    context.log.info(summary)
    if models.unjudged:
        context.log.warning(
            f"{unjudged_rows} employee-month score(s) not judged: "
            + "; ".join(f"model {v}: {why}" for v, why in models.unjudged.items())
        )
    table = rc.month_table(monthly, evaluation, verdict.months)
    return dg.MaterializeResult(
        metadata={
            "summary": summary,
            "enough_data": verdict.enough_data,
            "retrain_recommended": retrain,
            "recall_drop_pp": _number(verdict.drop_pp),
            "recall_drop_limit_pp": round(RECALL_DROP_RETRAIN * 100, 4),
            "latest_recall": _number(verdict.realised_recall),
            "evaluation_recall": _number(evaluation),
            "evaluation_recall_source": source,
            "verdict_months": ",".join(verdict.months),
            "verdict_leavers": verdict.leavers,
            "min_leavers": config.min_leavers,
            "champion_model_version": champion or dg.MetadataValue.null(),
            "known_until": known_until.isoformat() if known_until else dg.MetadataValue.null(),
            "matured_scores": int(monthly["scored"].sum()) if len(monthly) else 0,
            "maturing_scores": int(monthly["maturing"].sum()) if len(monthly) else 0,
            "unjudged_scores": unjudged_rows,
            "unjudged_models": dg.MetadataValue.json(models.unjudged),
            "months": int((monthly["scored"] > 0).sum()) if len(monthly) else 0,
            "recall_by_month": dg.MetadataValue.md(
                table.to_markdown() if len(table) else "_no scores yet_"
            ),
            "recall_per_month": dg.MetadataValue.json(rc.month_records(monthly)),
            "recall_chart": dg.MetadataValue.md(
                plots.recall_plot(
                    list(monthly.index),
                    monthly["recall"].where(monthly["complete"]).tolist(),
                    evaluation,
                    RECALL_DROP_RETRAIN,
                )
                if len(monthly)
                else "_no scores yet_"
            ),
        }
    )


def _value(metadata: dict[str, dg.MetadataValue], key: str) -> object:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


@dg.asset_check(
    asset=recall_monitor,
    description=f"Realised recall of the latest complete month(s) is at most "
    f"{RECALL_DROP_RETRAIN * 100:g} pp below the champion's evaluation recall (no verdict: passes).",
)
def recall_within_limit(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Judged from the monitor's latest materialisation, so the check and the sensor read the
    same numbers. WARN, not ERROR: the monitor's data are sound, it is the model that fell
    short, and the recall sensor answers that by retraining."""
    event = context.instance.get_latest_materialization_event(ASSET_KEY)
    metadata = dict(event.asset_materialization.metadata) if event and event.asset_materialization else {}
    enough = bool(_value(metadata, "enough_data"))
    drop = _value(metadata, "recall_drop_pp")
    limit = RECALL_DROP_RETRAIN * 100
    passed = not (enough and isinstance(drop, int | float) and drop > limit)
    summary = str(_value(metadata, "summary") or "no materialisation of recall_monitor yet")
    description = f"{summary} (limit {limit:g} pp)" if enough else summary
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "enough_data": dg.MetadataValue.bool(enough),
            "recall_drop_pp": _number(drop if isinstance(drop, int | float) else None),
            "limit_pp": dg.MetadataValue.float(limit),
            "verdict_months": str(_value(metadata, "verdict_months") or ""),
        },
    )
