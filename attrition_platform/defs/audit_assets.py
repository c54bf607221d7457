"""prediction_log and action_log: the audit tables the serving service appends to.

The platform creates them (with the schema of contracts/audit_logs.py, the one module both
sides import) so monitors, the purge and erasure always find a table, even before the service
has answered anyone; materialising them again reports what they hold. Rows arrive from
serving, not from this asset: it never writes or rewrites a row.
"""

import dagster as dg
from deltalake import DeltaTable, QueryBuilder

from attrition_platform.contracts.audit_logs import (
    ACTION_LOG,
    PARTITION_COLUMN,
    PREDICTION_LOG,
    ensure_log_tables,
    log_uri,
)
from attrition_platform.resources.lake import DeltaLake

_DESCRIPTIONS = {
    PREDICTION_LOG: "Every prediction the serving service answered (inputs, outputs, model version, "
    "caller, source live|cached), appended in small batches; partitioned by day; purged after 180 days.",
    ACTION_LOG: "Managers' actions on predictions, each with its required reason (a human in the "
    "loop); partitioned by day; purged after 180 days.",
}


def _summary(uri: str, storage_options: dict[str, str] | None) -> dict[str, object]:
    table = DeltaTable(uri, storage_options=storage_options)
    stats = (
        QueryBuilder()
        .register("t", table)
        .execute(
            f'SELECT COUNT(*) AS n, COUNT(DISTINCT "{PARTITION_COLUMN}") AS days, '
            f'MIN("{PARTITION_COLUMN}") AS first, MAX("{PARTITION_COLUMN}") AS last FROM "t"'
        )
        .read_all()
    )
    row = {name: stats[name].to_pylist()[0] for name in ("n", "days", "first", "last")}
    return {
        "dagster/row_count": int(row["n"] or 0),
        "days": int(row["days"] or 0),
        "first_day": row["first"] or "none",
        "last_day": row["last"] or "none",
        "delta_version": table.version(),
        "data_files": len(table.file_uris()),
        "table_uri": dg.MetadataValue.path(uri),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name, group_name="audit", kinds={"deltalake"}, owners=["team:data"],
                     description=description)
        for name, description in _DESCRIPTIONS.items()
    ],
)
def audit_logs(context: dg.AssetExecutionContext, lake: DeltaLake):
    """Create both tables where absent; report rows, days and files of each."""
    options = lake.storage_options()
    ensure_log_tables(lake.root, options)
    for name in _DESCRIPTIONS:
        metadata = _summary(log_uri(lake.root, name), options)
        context.log.info(f"{name}: {metadata['dagster/row_count']} rows over {metadata['days']} day(s)")
        yield dg.MaterializeResult(asset_key=name, metadata=metadata)
