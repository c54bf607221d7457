"""Governance: fairness per protected group, the promotion gate, and publishing the champion.

The registry holds the decision (MLflow alias `champion`, with who, when and why as version
tags); the published location holds what serves (`CURRENT`). `promotion_gate` moves the alias;
`production_model` makes the published location follow it. Split this way, a publication that
fails (a store down) is retried by materialising `production_model` again, without deciding
anew, and a rejected candidate reaches neither.
"""


import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from attrition_platform import plots
from attrition_platform import thresholds as t
from attrition_platform.contract import SNAPSHOT_DATE
from attrition_platform.contracts.published import PublicationError, read_pointer
from attrition_platform.defs.metadata import mlflow_model_version_link, mlflow_ui_url
from attrition_platform.defs.training_assets import (
    METRIC_NAMES,
    TRAINING_TABLE,
    model_evaluation,
    split_frames,
)
from attrition_platform.governance import fairness
from attrition_platform.governance.evaluation import FairnessSpec, ModelOnWindow, score_on_window
from attrition_platform.governance.gate import Decision, GateRules, decide
from attrition_platform.governance.window import WindowProof, prove_unseen
from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.scoring_input import ScoringInputError
from attrition_platform.publication import publish
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.mlflow_registry import MlflowRegistry
from attrition_platform.resources.published import PublishedLocation

CHALLENGER = "challenger"
CHAMPION = "champion"
FAIRNESS_CHECK = "fairness_gap_within_limit"


class FairnessSettings(dg.Config):
    """Which protected attributes are measured, and when a group is too small to judge."""

    attributes: list[str] = Field(
        default=list(fairness.DEFAULT_ATTRIBUTES),
        description="Gated attributes: columns of the HRIS rows, or 'age_band' (<30, 30-39, 40-49, 50+).",
    )
    intersections: list[list[str]] = Field(
        default=[list(i) for i in fairness.DEFAULT_INTERSECTIONS],
        description="Intersections reported (not gated: their groups are small).",
    )
    min_group_rows: int = Field(default=t.FAIRNESS_MIN_GROUP_ROWS, ge=1)
    min_group_leavers: int = Field(default=t.FAIRNESS_MIN_GROUP_LEAVERS, ge=1)

    def spec(self) -> FairnessSpec:
        return FairnessSpec(
            tuple(self.attributes),
            tuple(tuple(i) for i in self.intersections),
            fairness.SmallGroupRule(self.min_group_rows, self.min_group_leavers),
        )


@dataclass(frozen=True)
class Window:
    """The candidate's test window with both models scored on it."""

    rows: pd.DataFrame
    y: np.ndarray
    training_set_version: int
    candidate: ModelOnWindow
    champion: ModelOnWindow | None  # None: no champion yet
    proof: WindowProof | None  # None: no champion, or the champion is the candidate

    @property
    def first(self) -> str:
        return str(self.rows[SNAPSHOT_DATE].min())

    @property
    def last(self) -> str:
        return str(self.rows[SNAPSHOT_DATE].max())


def _load(mlflow: MlflowRegistry, version: str, role: str) -> ModelBundle:
    try:
        return ModelBundle.from_mlflow(mlflow.model_uri(version), mlflow.tracking_uri)
    except Exception as exc:  # any unreadable version: say which, never a traceback
        raise dg.Failure(
            f"the {role} (model {mlflow.model_name} version {version}) does not load from the "
            f"registry ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None


def _champion_fit_rows(lake: DeltaLake, bundle: ModelBundle) -> pd.DataFrame | None:
    """The champion's training set at the version its bundle records, or None if unreadable."""
    try:
        version = int(bundle.metadata["delta_versions"]["training_set"])
        return lake.read(TRAINING_TABLE, version=version, columns=None)
    except Exception:  # no record, a vacuumed version, a missing table: nothing to prove with
        return None


def evaluation_window(lake: DeltaLake, mlflow: MlflowRegistry, spec: FairnessSpec) -> Window:
    challenger = mlflow.alias_version(CHALLENGER)
    if challenger is None:
        raise dg.Failure("no challenger in the registry: materialise candidate_model first")
    cand_version = str(challenger.version)
    cand_bundle = _load(mlflow, cand_version, "challenger")
    ts_version = int(cand_bundle.metadata["delta_versions"]["training_set"])
    rows = split_frames(lake.read(TRAINING_TABLE, version=ts_version))["test"]
    if rows.empty:
        raise dg.Failure(f"training_set version {ts_version} has no test rows to evaluate on")
    y = rows[td.LABEL].to_numpy()
    static = lake.lineage(TRAINING_TABLE, ts_version).get("lineage.mode") == "static"
    try:
        candidate = score_on_window(cand_bundle, cand_version, rows, y, spec)
        champion_v = mlflow.alias_version(CHAMPION)
        if champion_v is None:
            return Window(rows, y, ts_version, candidate, None, None)
        champ_version = str(champion_v.version)
        if champ_version == cand_version:
            return Window(rows, y, ts_version, candidate, candidate, None)
        champ_bundle = _load(mlflow, champ_version, "champion")
        champion = score_on_window(champ_bundle, champ_version, rows, y, spec)
    except ScoringInputError as exc:
        raise dg.Failure(f"evaluation rows cannot be scored: {exc}") from None
    except fairness.FairnessInputError as exc:
        raise dg.Failure(str(exc)) from None
    horizon = int(champ_bundle.metadata.get("horizon_days") or 0)
    proof = prove_unseen(rows, _champion_fit_rows(lake, champ_bundle), static=static, horizon_days=horizon)
    return Window(rows, y, ts_version, candidate, champion, proof)


def _fairness_metadata(window: Window) -> dict[str, Any]:
    results = {f"candidate v{window.candidate.version}": window.candidate.fairness}
    if window.champion is not None and window.champion is not window.candidate:
        results[f"champion v{window.champion.version}"] = window.champion.fairness
    table = fairness.comparison_table(results)
    recall_cols = [c for c in table.columns if c.endswith(" recall")]
    chart = plots.grouped_bar_plot(
        [f"{a}: {g}" for a, g in zip(table["attribute"], table["group"])],
        {c.removesuffix(" recall"): list(table[c]) for c in recall_cols},
        "Recall per protected group (evaluation window)",
        "recall at the model's decision threshold",
        flagged=list(table["small"]),
    )
    gaps = pd.DataFrame(
        {name: {**r.gaps_pp, "largest (gated)": r.largest_gap_pp} for name, r in results.items()}
    )
    return {
        "fairness_table": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
        "recall_by_group": dg.MetadataValue.md(chart),
        "recall_gap_pp": dg.MetadataValue.md(gaps.round(2).to_markdown()),
        "small_groups": dg.MetadataValue.json(window.candidate.fairness.small_groups()),
    }


@dg.asset(
    group_name="governance",
    kinds={"fairlearn", "mlflow"},
    deps=[model_evaluation],
    owners=["team:ml"],
    check_specs=[
        dg.AssetCheckSpec(
            FAIRNESS_CHECK,
            asset="fairness_report",
            description="Warns when the challenger's recall gap across a protected attribute "
            f"exceeds {t.FAIRNESS_RECALL_GAP_ALERT * 100:.0f} pp (groups too small to judge excluded, listed).",
        )
    ],
    description="Recall, precision and selection rate per protected group (Gender, age band and "
    "their intersection) for the challenger and the champion on the challenger's test window; "
    "the largest recall gap, small groups flagged.",
)
def fairness_report(
    context: dg.AssetExecutionContext, config: FairnessSettings, lake: DeltaLake, mlflow: MlflowRegistry
) -> dg.MaterializeResult:
    window = evaluation_window(lake, mlflow, config.spec())
    cand = window.candidate
    gap = cand.fairness.largest_gap_pp
    client = mlflow.client()
    client.set_model_version_tag(mlflow.model_name, cand.version, "fairness_max_recall_gap_pp", f"{gap:.2f}")
    run_id = client.get_model_version(mlflow.model_name, cand.version).run_id
    if run_id:
        client.log_metric(run_id, "fairness_max_recall_gap_pp", gap)
    champ = window.champion
    limit_pp = t.FAIRNESS_RECALL_GAP_ALERT * 100
    attribute = cand.fairness.largest_gap_attribute
    check = dg.AssetCheckResult(
        check_name=FAIRNESS_CHECK,
        passed=gap <= limit_pp,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"largest recall gap {gap:.1f} pp ({attribute}) "
            + ("≤" if gap <= limit_pp else ">") + f" {limit_pp:.0f} pp"
        ),
        metadata={
            "largest_gap_pp": round(gap, 2),
            "attribute": attribute or "",
            "limit_pp": limit_pp,
            "gaps_pp": dg.MetadataValue.json({k: round(v, 2) for k, v in cand.fairness.gaps_pp.items()}),
        },
    )
    context.log.info(f"challenger v{cand.version}: largest recall gap {gap:.1f} pp ({attribute})")
    return dg.MaterializeResult(
        metadata={
            "candidate_version": cand.version,
            "champion_version": champ.version if champ is not None else "none",
            "candidate_max_gap_pp": round(gap, 2),
            "champion_max_gap_pp": round(champ.fairness.largest_gap_pp, 2) if champ is not None else float("nan"),
            "largest_gap_attribute": attribute or "",
            "evaluation_window": f"{window.first} .. {window.last}",
            "evaluation_rows": len(window.rows),
            "champion_never_saw_window": window.proof.unseen if window.proof is not None else True,
            **_fairness_metadata(window),
        },
        check_results=[check],
    )


class PromotionConfig(dg.Config):
    """Automatic by default; `promote` or `rollback` to a named version by hand, with a reason."""

    action: Literal["auto", "promote", "rollback"] = Field(
        default="auto",
        description="auto: the gate's rules decide for the challenger. promote / rollback: make "
        "`model_version` the champion now (needs `reason`); both are logged the same way.",
    )
    model_version: str | None = Field(default=None, description="For promote / rollback: the registry version.")
    reason: str | None = Field(default=None, description="Why (required for promote / rollback; recorded).")
    requested_by: str | None = Field(default=None, description="Who asks (recorded; default: the gate).")
    recall_tolerance: float = Field(default=t.PROMOTION_RECALL_TOLERANCE, ge=0, le=1)
    precision_tolerance: float = Field(default=t.PROMOTION_PRECISION_TOLERANCE, ge=0, le=1)
    fairness_tolerance_pp: float = Field(default=t.PROMOTION_FAIRNESS_TOLERANCE * 100, ge=0, le=100)
    first_min_recall: float = Field(default=t.FIRST_MODEL_MIN_RECALL, ge=0, le=1)
    first_min_precision: float = Field(default=t.FIRST_MODEL_MIN_PRECISION, ge=0, le=1)
    first_min_roc_auc: float = Field(default=t.FIRST_MODEL_MIN_ROC_AUC, ge=0, le=1)
    first_max_fairness_gap_pp: float | None = Field(
        default=None if t.FIRST_MODEL_MAX_FAIRNESS_GAP is None else t.FIRST_MODEL_MAX_FAIRNESS_GAP * 100,
        ge=0,
        le=100,
        description="A recall-gap floor for the first model (pp); unset = not gated, only reported.",
    )
    fairness: FairnessSettings = Field(default_factory=FairnessSettings)

    def rules(self) -> GateRules:
        return GateRules(
            recall_tolerance=self.recall_tolerance,
            precision_tolerance=self.precision_tolerance,
            fairness_tolerance=self.fairness_tolerance_pp / 100,
            first_min_recall=self.first_min_recall,
            first_min_precision=self.first_min_precision,
            first_min_roc_auc=self.first_min_roc_auc,
            first_max_fairness_gap=None if self.first_max_fairness_gap_pp is None
            else self.first_max_fairness_gap_pp / 100,
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _promote(mlflow: MlflowRegistry, version: str, by: str, reason: str, run_id: str) -> str | None:
    """Move `champion` to `version`, recording who, when, why and what it replaced."""
    client = mlflow.client()
    before = mlflow.alias_version(CHAMPION)
    previous = str(before.version) if before is not None else None
    tags = {
        "promoted_at": _now(),
        "promoted_by": by,
        "promotion_reason": reason[:4000],
        "promotion_dagster_run_id": run_id,
        "previous_champion": previous or "none",
    }
    for key, value in tags.items():
        client.set_model_version_tag(mlflow.model_name, version, key, value)
    client.set_registered_model_alias(mlflow.model_name, CHAMPION, version)
    return previous


def _record_decision(mlflow: MlflowRegistry, version: str, decision: str, summary: str, run_id: str) -> None:
    client = mlflow.client()
    for key, value in {
        "gate.decision": decision,
        "gate.summary": summary[:4000],
        "gate.decided_at": _now(),
        "gate.dagster_run_id": run_id,
    }.items():
        client.set_model_version_tag(mlflow.model_name, version, key, value)


def _rules_table(decision: Decision) -> str:
    frame = pd.DataFrame(decision.as_rows())[["rule", "passed", "value", "limit", "margin"]]
    return frame.round(4).to_markdown(index=False)


def _metrics_table(window: Window) -> str:
    cols = {f"candidate v{window.candidate.version}": window.candidate.metrics}
    if window.champion is not None and window.champion is not window.candidate:
        cols[f"champion v{window.champion.version}"] = window.champion.metrics
    frame = pd.DataFrame(cols).loc[list(METRIC_NAMES)]
    gaps = {k: v.fairness.largest_gap_pp for k, v in
            zip(cols, [window.candidate] + ([window.champion] if len(cols) > 1 else []))}
    frame.loc["largest recall gap (pp)"] = pd.Series(gaps)
    return frame.round(4).to_markdown()


def _manual(context: dg.AssetExecutionContext, config: PromotionConfig, mlflow: MlflowRegistry) -> dg.MaterializeResult:
    if not config.model_version or not config.model_version.strip().isdigit():
        raise dg.Failure(f"{config.action}: model_version is required (a registry version number, e.g. '3')")
    if not config.reason or not config.reason.strip():
        raise dg.Failure(f"{config.action}: reason is required and must not be empty (it is recorded)")
    version = config.model_version.strip()
    _load(mlflow, version, f"version to {config.action}")  # exists and loads, or a clear failure
    by = config.requested_by or f"launchpad ({config.action})"
    previous = _promote(mlflow, version, by, f"{config.action}: {config.reason.strip()}", context.run.run_id)
    summary = f"manual {config.action} to v{version} by {by}: {config.reason.strip()} (was v{previous or 'none'})"
    _record_decision(mlflow, version, f"manual_{config.action}", summary, context.run.run_id)
    context.log.warning(summary)
    return dg.MaterializeResult(
        metadata={
            "decision": f"manual_{config.action}",
            "promoted": True,
            "champion_before": previous or "none",
            "champion_after": version,
            "summary": summary,
            "requested_by": by,
            "reason": config.reason.strip(),
        }
    )


@dg.asset(
    group_name="governance",
    kinds={"mlflow"},
    deps=[model_evaluation, fairness_report],
    owners=["team:ml"],
    description="Challenger vs champion on a window the champion never saw: promote (move the "
    "MLflow alias 'champion') only if recall and precision are at least the champion's and the "
    "recall gap stays within 2 pp of the champion's; the first model must clear absolute floors. "
    "Manual promote / roll back by launchpad config.",
)
def promotion_gate(
    context: dg.AssetExecutionContext, config: PromotionConfig, lake: DeltaLake, mlflow: MlflowRegistry
) -> dg.MaterializeResult:
    if config.action != "auto":
        return _manual(context, config, mlflow)
    window = evaluation_window(lake, mlflow, config.fairness.spec())
    cand, champ = window.candidate, window.champion
    base: dict[str, Any] = {
        "candidate_version": cand.version,
        "champion_before": champ.version if champ is not None else "none",
        "evaluation_window": f"{window.first} .. {window.last}",
        "evaluation_rows": len(window.rows),
        "metrics": dg.MetadataValue.md(_metrics_table(window)),
        "mlflow_model_version": mlflow_model_version_link(mlflow_ui_url(mlflow.ui_url), mlflow.model_name, cand.version),
    }
    if champ is cand:
        summary = f"v{cand.version} is already the champion: nothing to decide"
        context.log.info(summary)
        return dg.MaterializeResult(metadata={**base, "decision": "unchanged", "promoted": False,
                                              "champion_after": cand.version, "summary": summary})
    if window.proof is not None:
        base["window_proof"] = dg.MetadataValue.json(window.proof.as_metadata())
        if not window.proof.unseen:
            summary = (f"not promoted: no fair comparison window. {window.proof.reason}; the challenger's "
                       f"test window is {window.first} .. {window.last}")
            _record_decision(mlflow, cand.version, "no_window", summary, context.run.run_id)
            context.log.warning(summary)
            return dg.MaterializeResult(metadata={**base, "decision": "no_window", "promoted": False,
                                                  "champion_after": champ.version if champ else "none",
                                                  "summary": summary})
    decision = decide(cand.numbers(), champ.numbers() if champ is not None else None, config.rules())
    base["rules"] = dg.MetadataValue.md(_rules_table(decision))
    base["failed_rules"] = dg.MetadataValue.json(
        {r.rule: {"value": round(r.value, 4), "limit": round(r.limit, 4), "short_by": round(-r.margin, 4)}
         for r in decision.failed()}
    )
    if decision.promote:
        by = config.requested_by or f"promotion_gate (Dagster run {context.run.run_id[:8]})"
        _promote(mlflow, cand.version, by, decision.summary, context.run.run_id)
        after = cand.version
    else:
        after = champ.version if champ is not None else "none"
    _record_decision(mlflow, cand.version, "promoted" if decision.promote else "rejected",
                     decision.summary, context.run.run_id)
    (context.log.info if decision.promote else context.log.warning)(decision.summary)
    return dg.MaterializeResult(
        metadata={**base, "decision": "promoted" if decision.promote else "rejected",
                  "promoted": decision.promote, "champion_after": after, "summary": decision.summary}
    )


@dg.asset(
    group_name="governance",
    kinds={"mlflow", "s3"},
    deps=[promotion_gate],
    owners=["team:ml"],
    description="The champion as serving sees it: its bundle and the latest snapshot's fallback "
    "scores written to the published location, verified, then CURRENT swapped in one atomic step "
    "(only when the champion changed).",
)
def production_model(
    context: dg.AssetExecutionContext, lake: DeltaLake, mlflow: MlflowRegistry, published: PublishedLocation
) -> dg.MaterializeResult:
    champion = mlflow.alias_version(CHAMPION)
    store = published.store()
    try:
        pointer = read_pointer(store)
    except PublicationError:
        pointer = None  # a damaged CURRENT is repaired by publishing the champion again
    served = pointer.model_version if pointer is not None else None
    common: dict[str, Any] = {"published_location": dg.MetadataValue.path(published.uri)}
    if champion is None:
        context.log.warning("no champion yet: nothing published")
        return dg.MaterializeResult(metadata={**common, "champion": "none", "served_version": served or "none",
                                              "published": False})
    version = str(champion.version)
    if served == version:
        return dg.MaterializeResult(
            metadata={**common, "champion": version, "served_version": version, "published": False,
                      "summary": f"v{version} is already served (CURRENT, published {pointer.published_at})"}
        )
    bundle = _load(mlflow, version, "champion")
    tags = champion.tags or {}
    tested = {k[len("test_"):]: float(v) for k, v in tags.items() if k.startswith("test_")}
    if tested:
        bundle.metadata["evaluation_metrics"] = tested
    by = tags.get("promoted_by", "promotion_gate")
    reason = tags.get("promotion_reason", "champion")
    try:
        new_pointer, rows = publish(bundle, version, store, lake.root, promoted_by=by, reason=reason,
                                    storage_options=lake.storage_options())
    except PublicationError as exc:
        raise dg.Failure(f"publishing champion v{version} to {published.uri}: {exc}") from None
    context.log.info(f"published champion v{version} (was {served or 'nothing'}) with {rows:,} cached scores")
    return dg.MaterializeResult(
        metadata={
            **common,
            "champion": version,
            "served_version": version,
            "previous_served_version": served or "none",
            "published": True,
            "published_at": new_pointer.published_at,
            "promoted_by": by,
            "reason": reason,
            "bundle_path": new_pointer.bundle_path,
            "fallback_scores": new_pointer.scores_path or "none",
            "cached_scores": rows,
            "pointer": dg.MetadataValue.json(
                {f: getattr(new_pointer, f) for f in new_pointer.__struct_fields__}
            ),
        }
    )
