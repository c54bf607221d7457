"""Monitoring of the served model: data drift of live traffic against the champion's training rows.

The champion is the model the published location's `CURRENT` names (what serving answers
with). Its bundle records the Delta version of `training_set` it was trained on; the reference
is read by time travel at that version, so retraining (a new `training_set` version) never
changes what the served model is compared with. The verdict and the numbers are metadata that
`drift_sensor` reads (docs/monitoring.md lists the keys); the Evidently HTML report is saved
under the reports location (monitoring/reports.py) and linked, and the verdict is also written
there as `drift/latest.json` (contracts/drift_status.py) for serving to export as metrics.
"""


import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from deltalake.exceptions import DeltaError
from pydantic import Field

from attrition_platform import plots
from attrition_platform.contracts.audit_logs import PREDICTION_LOG
from attrition_platform.contracts.drift_status import DRIFT_STATUS_KEY, DriftStatus, encode_status, now_iso
from attrition_platform.contracts.published import PublicationError, fetch_bundle, read_pointer
from attrition_platform.defs.governance_assets import production_model
from attrition_platform.defs.training_assets import TRAINING_TABLE, training_set
from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.monitoring import drift
from attrition_platform.monitoring.live_window import LiveWindow, read_live_window, window
from attrition_platform.monitoring.reports import ReportError, save_report
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform.thresholds import (
    DRIFT_KEY_FEATURES,
    DRIFT_MIN_CURRENT_ROWS,
    DRIFT_REFERENCE_MAX_ROWS,
    DRIFT_WINDOW_DAYS,
    PSI_ALERT,
)

MONITORING_GROUP = "monitoring"
REFERENCE_SEED = 0


class DriftReportConfig(dg.Config):
    """The window of live traffic and what the verdict is about (editable in the launchpad)."""

    window_days: int = Field(
        default=DRIFT_WINDOW_DAYS, ge=1, description="Days of live predictions compared, ending with `end`."
    )
    end: str | None = Field(
        default=None, description="Last day of the window (YYYY-MM-DD, UTC, inclusive); default today."
    )
    min_current_rows: int = Field(
        default=DRIFT_MIN_CURRENT_ROWS,
        ge=1,
        description="Fewer valid live rows than this: no verdict (enough_data false), not drift.",
    )
    key_features: list[str] = Field(
        default_factory=list,
        description="Fields the verdict is about (inputs or derived features, e.g. OverTime, "
        "MonthlyIncome, tenure_ratio); empty = the champion's top `key_feature_count` by recorded importance.",
    )
    key_feature_count: int = Field(default=DRIFT_KEY_FEATURES, ge=1, description="Top-N by importance (mean |contribution|).")
    reference_max_rows: int = Field(
        default=DRIFT_REFERENCE_MAX_ROWS,
        ge=1,
        description="Larger reference sets are sampled to this many rows (fixed seed).",
    )


def _end_day(config: DriftReportConfig) -> dt.date:
    if config.end is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(config.end)
    except ValueError:
        raise dg.Failure(f"end: {config.end!r} is not a date (YYYY-MM-DD)") from None


def _champion(published: PublishedLocation, dest: Path) -> ModelBundle:
    """The bundle `CURRENT` names, verified file by file; a one-line Failure otherwise."""
    store = published.store()
    try:
        pointer = read_pointer(store)
        if pointer is None:
            raise dg.Failure(
                f"nothing is published at {published.uri}: drift is measured against the served "
                "model; publish one first (the promotion gate, or `attrition demo`)"
            )
        return fetch_bundle(store, pointer, dest)
    except PublicationError as exc:
        raise dg.Failure(f"published location {published.uri}: {exc}") from None


def _reference(
    lake: DeltaLake, bundle: ModelBundle, max_rows: int
) -> tuple[drift.DriftSide, int, tuple[str, ...]]:
    """The champion's own training rows (time travel to its recorded version), scored by it."""
    versions = bundle.metadata.get("delta_versions") or {}
    if "training_set" not in versions:
        raise dg.Failure(
            f"model {bundle.metadata.get('model_version')}: its bundle records no training_set "
            "version (delta_versions), so its training rows cannot be found"
        )
    version = int(versions["training_set"])
    try:
        rows = lake.read(TRAINING_TABLE, version=version)
    except (DeltaError, OSError, ValueError) as exc:
        raise dg.Failure(
            f"{TRAINING_TABLE} version {version} (the champion's training rows) cannot be read: "
            f"{type(exc).__name__}; was the table vacuumed or rewritten?"
        ) from None
    splits = drift.reference_splits(bundle.metadata)
    rows = rows[rows[td.SPLIT].isin(splits)].reset_index(drop=True)
    if len(rows) > max_rows:
        rows = rows.sample(n=max_rows, random_state=REFERENCE_SEED).reset_index(drop=True)
    probability = bundle.score(rows, unseen="allow").probabilities
    return drift.drift_side(rows, bundle.spec, probability), version, splits


def _current(live: LiveWindow, bundle: ModelBundle, version: str) -> tuple[drift.DriftSide, int]:
    """Logged inputs and the logged probability; rows another model answered (before a
    promotion) are re-scored by the champion, so the probability column is the champion's."""
    probability = live.probability.copy()
    other = [i for i, v in enumerate(live.model_version) if v != version]
    if other:
        rescored = bundle.score([live.records[i] for i in other], unseen="allow").probabilities
        probability[other] = rescored
    return drift.drift_side(live.records, bundle.spec, probability), len(other)


def _save_status(
    lake: DeltaLake, version: str, start: dt.date, end: dt.date, found: drift.DriftVerdict, report: str
) -> None:
    """Write the verdict as `drift/latest.json` beside its HTML report (same store, same storage
    options), replacing the previous one in one atomic write.

    Why: serving exports it as the `attrition_drift_*` gauges, so Prometheus alerts on drift, and
    on verdicts that stopped coming, without reading Dagster. Only a verdict is written: a run
    with too few live rows leaves the last one (and its age) as it was, because drift monitoring
    is blind then too, and the staleness alert should say so.
    """
    status = DriftStatus(
        checked_at=now_iso(),
        drifted=bool(found.drifted),
        drifted_share=len(found.drifted) / len(found.key_features) if found.key_features else 0.0,
        drifted_features=tuple(found.drifted),
        model_version=version,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        max_psi=round(found.max_psi, 4),
        report=report,
    )
    try:
        save_report(lake.root, DRIFT_STATUS_KEY, encode_status(status))
    except ReportError as exc:
        raise dg.Failure(str(exc)) from None


def _no_verdict(reason: str, common: dict[str, Any]) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            **common,
            "enough_data": False,
            "drift_detected": False,
            "max_psi": 0.0,
            "drifted_features": dg.MetadataValue.json([]),
            "verdict": f"no verdict: {reason}",
        }
    )


@dg.asset(
    group_name=MONITORING_GROUP,
    kinds={"evidently", "deltalake"},
    # training_set is read at the version the champion (production_model) records: time travel.
    deps=[training_set, production_model, dg.AssetKey(PREDICTION_LOG)],
    owners=["team:ml"],
    description="PSI (Evidently) of the last days' live inputs and predicted probabilities against "
    "the served model's own training rows (time travel to the training_set version its bundle "
    "records); HTML report saved and linked, verdict written as drift/latest.json for serving's metrics.",
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    lake: DeltaLake,
    published: PublishedLocation,
) -> dg.MaterializeResult:
    start, end = window(_end_day(config), config.window_days)
    with tempfile.TemporaryDirectory(prefix="attrition-drift-") as tmp:
        bundle = _champion(published, Path(tmp))
    version = str(bundle.metadata["model_version"])
    try:
        keys = (
            drift.check_key_features(config.key_features, bundle.spec)
            if config.key_features
            else drift.key_features(bundle, config.key_feature_count)
        )
    except drift.DriftInputError as exc:
        raise dg.Failure(str(exc)) from None
    live = read_live_window(lake.root, start, end, lake.storage_options())
    current, rescored = _current(live, bundle, version)
    common: dict[str, Any] = {
        "model_version": version,
        "window": f"{start.isoformat()}..{end.isoformat()}",
        "window_days": config.window_days,
        "current_rows": current.rows,
        "current_rows_rejected": current.rejected,
        "current_rows_unreadable": live.unreadable,
        "current_rows_rescored": rescored,
        "min_current_rows": config.min_current_rows,
        "key_features": dg.MetadataValue.json(keys),
        "key_features_source": "config" if config.key_features else (
            "champion importance" if bundle.metadata.get("importance") else "champion total gain"
        ),
        "threshold": PSI_ALERT,
    }
    if current.rows < config.min_current_rows:
        reason = (
            f"{current.rows} valid live predictions in {live.describe()}, "
            f"{config.min_current_rows} needed"
        )
        context.log.warning(f"drift_report: {reason}; no drift verdict")
        return _no_verdict(reason, common)

    reference, ts_version, splits = _reference(lake, bundle, config.reference_max_rows)
    try:
        result = drift.evidently_psi(reference, current, bundle.spec, PSI_ALERT)
    except drift.DriftInputError as exc:
        raise dg.Failure(str(exc)) from None
    found = drift.verdict(result.psi, keys, PSI_ALERT)
    key = f"drift/{end.isoformat()}-{context.run.run_id[:8]}.html"
    try:
        saved = save_report(lake.root, key, result.html())
    except ReportError as exc:
        raise dg.Failure(str(exc)) from None
    _save_status(lake, version, start, end, found, saved.location)
    context.log.info(f"drift_report for model {version} over {live.describe()}: {found.describe()}")
    chart = {**found.psi, drift.PREDICTION: found.prediction_psi, **found.other_psi}
    return dg.MaterializeResult(
        metadata={
            **common,
            "enough_data": True,
            "drift_detected": bool(found.drifted),
            "max_psi": round(found.max_psi, 4),
            "drifted_features": dg.MetadataValue.json(found.drifted),
            "psi": dg.MetadataValue.json({k: round(v, 4) for k, v in found.psi.items()}),
            "psi_other_features": dg.MetadataValue.json(
                {k: round(v, 4) for k, v in found.other_psi.items()}
            ),
            "prediction_psi": round(found.prediction_psi, 4),
            "verdict": found.describe(),
            "reference_rows": reference.rows,
            "reference_rows_rejected": reference.rejected,
            "training_set_version": ts_version,
            "reference_splits": "+".join(splits),
            "mean_probability_reference": round(float(np.mean(reference.columns[drift.PREDICTION])), 4),
            "mean_probability_current": round(float(np.mean(current.columns[drift.PREDICTION])), 4),
            "psi_chart": dg.MetadataValue.md(
                plots.threshold_bar_plot(
                    chart, PSI_ALERT, f"PSI vs model {version}'s training rows", "PSI",
                    highlight=[*found.key_features, drift.PREDICTION],
                )
            ),
            "report": (
                dg.MetadataValue.url(saved.location)
                if saved.remote
                else dg.MetadataValue.path(saved.location)
            ),
            "psi_table": dg.MetadataValue.md(
                pd.DataFrame(
                    {
                        "PSI": [round(v, 4) for v in chart.values()],
                        "key": [k in found.key_features or k == drift.PREDICTION for k in chart],
                    },
                    index=list(chart),
                ).to_markdown()
            ),
        }
    )


@dg.asset_check(
    asset=drift_report,
    blocking=False,
    description=f"No key feature of the served model drifts: PSI below {PSI_ALERT} on each. Too few "
    "live rows is no verdict (passes, says so). Not blocking: drift is a finding about the traffic, "
    "not a defect of the report; drift_sensor reacts to it by alerting and retraining.",
)
def drift_psi_within_limit(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Judged from the report's own metadata, so the check and the sensor read the same numbers."""
    event = context.instance.get_latest_materialization_event(drift_report.key)
    materialization = event.asset_materialization if event is not None else None
    if materialization is None:
        return dg.AssetCheckResult(
            passed=False, description="drift_report has no materialization to judge"
        )
    meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    if not meta.get("enough_data", False):
        return dg.AssetCheckResult(
            passed=True,
            description=str(meta.get("verdict", "no verdict: too few live rows")),
            metadata={"enough_data": False},
        )
    psi: dict[str, float] = dict(meta.get("psi") or {})
    with_prediction = {**psi, drift.PREDICTION: float(meta.get("prediction_psi", 0.0))}
    found = drift.verdict(with_prediction, list(psi), PSI_ALERT)
    return dg.AssetCheckResult(
        passed=not found.drifted,
        severity=dg.AssetCheckSeverity.ERROR,
        description=found.describe(),
        metadata={
            "enough_data": True,
            "max_psi": dg.MetadataValue.float(found.max_psi),
            "drifted_features": dg.MetadataValue.json(found.drifted),
            "model_version": str(meta.get("model_version", "")),
        },
    )
