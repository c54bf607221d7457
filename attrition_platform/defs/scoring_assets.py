"""Nightly scores: every active, non-opted-out employee of a snapshot, scored by the served model.

The model is the one at the published location (`CURRENT`), i.e. the model the live service
answers with: the champion, once `production_model` has published it. Scores go two ways: the
Delta table `nightly_scores` (one partition per snapshot date, for analysts and the recall
monitor) and, for the latest snapshot, the fallback export serving answers from when live
scoring is down (written first, then `CURRENT` is pointed at it in one atomic step).
"""


import datetime as dt
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.contracts.feature_store import employee_features_at, without_opted_out
from attrition_platform.contracts.published import (
    PublicationError,
    fetch_bundle,
    point_scores,
    publish_scores,
    read_pointer,
)
from attrition_platform.defs.feature_assets import employee_features
from attrition_platform.defs.governance_assets import production_model
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.publication import ScoredEmployees, score_employees
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation

SCORES_TABLE = "nightly_scores"


def scores_table(day: dt.date, scored: ScoredEmployees) -> pa.Table:
    """The Delta rows of one snapshot's scores, built column by column (top factors as the
    export's list<struct> column: no Python object per factor, so a million rows stay cheap)."""
    n = len(scored)
    return pa.table(
        {
            SNAPSHOT_DATE: pa.array([day] * n, type=pa.date32()),
            "employee_id": pa.array(scored.employee_id, type=pa.int64()),
            "model_version": pa.array([scored.model_version] * n, type=pa.string()),
            "probability": pa.array(scored.probability, type=pa.float64()),
            "risk_band": pa.array(scored.risk_band.tolist(), type=pa.string()),
            "top_factors": pa.array(scored.top_factors_array()),
            "scored_at": pa.array([scored.scored_at] * n, type=pa.timestamp("us", tz="UTC")),
        }
    )


@dg.asset(
    partitions_def=snapshot_partitions,
    group_name="scoring",
    kinds={"deltalake", "xgboost"},
    deps=[employee_features, production_model],
    owners=["team:data"],
    description="Every active, non-opted-out employee of the snapshot scored by the served model "
    "(published CURRENT) with top factors; the latest snapshot's scores also become serving's "
    "fallback export.",
)
def nightly_scores(
    context: dg.AssetExecutionContext, lake: DeltaLake, published: PublishedLocation
) -> dg.MaterializeResult:
    day = partition_date(context)
    store = published.store()
    try:
        pointer = read_pointer(store)
    except PublicationError as exc:
        raise dg.Failure(f"published location {published.uri}: {exc}") from None
    if pointer is None:
        raise dg.Failure(
            f"nothing is published at {published.uri} yet: publish a model first "
            "(materialise promotion_gate and production_model; `attrition demo` does)"
        )
    found = employee_features_at(lake.root, day, lake.storage_options())
    if found is None or not len(found[1].get(KEY, [])):
        raise dg.Failure(f"employee_features has no active employees for {day}: materialise it first")
    columns, opted_out = without_opted_out(found[1])

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="attrition-scores-") as tmp:
        try:
            bundle = fetch_bundle(store, pointer, Path(tmp))
        except PublicationError as exc:  # a damaged or tampered bundle: say which file, score nothing
            raise dg.Failure(f"model {pointer.model_version} at {published.uri}: {exc}") from None
    scored = score_employees(bundle, pointer.model_version, columns)
    seconds = time.perf_counter() - started
    rows = scores_table(day, scored)
    version = lake.write_partition(SCORES_TABLE, rows, day)

    # Serving's fallback follows the newest snapshot only: re-scoring an old date must not
    # move it back in time.
    export_key = publish_scores(store, day, scored.export_bytes())
    current_day = _scores_day(pointer.scores_path)
    pointed = current_day is None or day >= current_day
    if pointed:
        point_scores(store, export_key)
    bands = pd.Series(scored.risk_band).value_counts().reindex(["low", "medium", "high"], fill_value=0)
    context.log.info(
        f"{len(scored):,} employees scored with model {pointer.model_version} in {seconds:.1f} s; "
        f"{opted_out} opted out, {scored.rejected} refused"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": len(scored),
            "model_version": pointer.model_version,
            "opted_out_skipped": opted_out,
            "rejected_rows": scored.rejected,
            "risk_bands": dg.MetadataValue.md(bands.to_frame("employees").to_markdown()),
            "mean_probability": round(float(np.mean(scored.probability)), 4) if len(scored) else 0.0,
            "scoring_seconds": round(seconds, 2),
            "rows_per_second": round(len(scored) / seconds) if seconds > 0 else 0,
            "delta_version": version,
            "table_uri": dg.MetadataValue.path(lake.uri(SCORES_TABLE)),
            "fallback_export": dg.MetadataValue.path(f"{published.uri.rstrip('/')}/{export_key}"),
            "serving_fallback_updated": pointed,
            "preview": dg.MetadataValue.md(
                rows.slice(0, 5).drop_columns(["top_factors"]).to_pandas().to_markdown(index=False)
            ),
        }
    )


def _scores_day(scores_path: str | None) -> dt.date | None:
    """The date of the export CURRENT names (`scores/<YYYY-MM-DD>/scores.arrow`)."""
    if not scores_path:
        return None
    try:
        return dt.date.fromisoformat(scores_path.split("/")[1])
    except (IndexError, ValueError):
        return None
