"""Privacy: the retention purge (hourly) of the audit logs (prediction_log, action_log).

Erasure of one employee is a command (`attrition erase`), not an asset: it is a request from a
person, handled once, and must not be re-run by a schedule. See docs/privacy.md.
"""

import datetime as dt

import dagster as dg
import pandas as pd
from pydantic import Field

from attrition_platform.contracts.audit_logs import ACTION_LOG, PREDICTION_LOG
from attrition_platform.privacy.retention import purge_logs
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.thresholds import RETENTION_DAYS


class RetentionPurgeConfig(dg.Config):
    retention_days: int = Field(
        default=RETENTION_DAYS, ge=1, description="Log rows older than this many days are purged."
    )
    now: str | None = Field(
        default=None,
        description="Purge as of this ISO 8601 instant (UTC when no zone is given) instead of "
        "the current time: for tests and for replaying a missed day.",
    )
    compact: bool = Field(
        default=True,
        description="Also merge the small files serving's appends leave (one per flush) into "
        "one file per day; costs a rewrite of the days that have more than one file.",
    )


def purge_instant(now: str | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(now)
    except ValueError:
        raise dg.Failure(f"config now: {now!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dg.asset(
    group_name="privacy",
    kinds={"deltalake"},
    deps=[PREDICTION_LOG, ACTION_LOG],
    owners=["team:data"],
    description="Deletes prediction_log and action_log rows older than the retention period "
    "(180 days), compacts the logs' small files and VACUUMs with zero retention, so the old "
    "bytes are gone from disk and from the Delta log, not only hidden from the latest version.",
)
def retention_purge(
    context: dg.AssetExecutionContext, config: RetentionPurgeConfig, lake: DeltaLake
) -> dg.MaterializeResult:
    now = purge_instant(config.now)
    purged = purge_logs(
        lake.root,
        config.retention_days,
        now,
        compact=config.compact,
        storage_options=lake.storage_options(),
    )
    cutoff = now - dt.timedelta(days=config.retention_days)
    metadata: dict[str, object] = {
        "cutoff": cutoff.isoformat(),
        "retention_days": config.retention_days,
        "rows_deleted": sum(p.rows_deleted for p in purged),
        "files_vacuumed": sum(p.files_vacuumed for p in purged),
    }
    for p in purged:
        context.log.info(
            f"{p.table}: {p.rows_deleted} rows older than {cutoff:%Y-%m-%d %H:%M} UTC deleted, "
            f"{p.files_vacuumed} files removed from disk, v{p.version_before} -> v{p.version_after}"
        )
        metadata[f"{p.table}/rows_deleted"] = p.rows_deleted
        metadata[f"{p.table}/files_vacuumed"] = p.files_vacuumed
        metadata[f"{p.table}/files_compacted"] = p.files_compacted
        metadata[f"{p.table}/oldest_day_kept"] = p.oldest_day_kept or "(empty)"
        metadata[f"{p.table}/delta_version"] = p.version_after
    metadata["tables"] = dg.MetadataValue.md(
        pd.DataFrame(
            [
                {
                    "table": p.table,
                    "rows deleted": p.rows_deleted,
                    "files compacted": p.files_compacted,
                    "files removed from disk": p.files_vacuumed,
                    "oldest day kept": p.oldest_day_kept or "(empty)",
                    "version before": p.version_before,
                    "version after": p.version_after,
                    "history kept from version": p.kept_from_version,
                }
                for p in purged
            ]
        ).to_markdown(index=False)
    )
    return dg.MaterializeResult(metadata=metadata)
