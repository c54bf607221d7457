"""HRIS extracts landed in the lake, one partition per snapshot (extract) date."""

import datetime as dt
import inspect
import warnings
from typing import Any

import dagster as dg
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.metadata import observe_source, preview, table_metadata
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.privacy.suppression import suppressed_mask
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.lake import DeltaLake

EMPLOYEES_TABLE = "hris_employees"
TERMINATIONS_TABLE = "hris_terminations"
PREVIEW_COLUMNS = [KEY, SNAPSHOT_DATE, "Department", "JobRole", "JobLevel", "OverTime", "opt_out"]

def _code_reference(obj: type) -> dg.CodeReferencesMetadataValue:
    """Where the code that talks to the HRIS lives (an external asset has no function of its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.CodeReferencesMetadataValue(
            code_references=[
                dg.LocalFileCodeReference(
                    file_path=str(inspect.getsourcefile(obj)),
                    line_number=inspect.getsourcelines(obj)[1],
                    label="HrisSource",
                )
            ]
        )


hris_system = dg.AssetSpec(
    "hris_system",
    group_name="hris",
    kinds={"hris"},
    description="The HR information system itself (synthetic, a file export or a SQL database). "
    "Not materialised by Dagster: each snapshot run records an observation here saying which "
    "source it read (kind, file or masked URL, seed and size) and its latest extract date.",
    metadata={"dagster/code_references": _code_reference(HrisSource)},
)


# Both extracts are landed the same way: one Delta partition per snapshot date, from the HRIS.
HRIS_EXTRACT: dict[str, Any] = dict(
    partitions_def=snapshot_partitions,
    group_name="hris",
    kinds={"deltalake", "pandas"},
    deps=[hris_system],
    owners=["team:data"],
)


def drop_suppressed(df: pd.DataFrame, lake: DeltaLake) -> tuple[pd.DataFrame, int]:
    """The extract without employees erased on request (the suppression list, privacy/), and
    how many rows that dropped: an HRIS may keep exporting someone the platform must forget."""
    mask = suppressed_mask(df[KEY].tolist(), lake.root, lake.storage_options())
    return (df[~mask] if mask.any() else df), int(mask.sum())


def refuse_empty_extract(lake: DeltaLake, day: dt.date) -> None:
    """An HRIS that answers with no employees has failed (a truncated export, a wiped or
    filtered table), not lost its workforce: landing it would erase the snapshot and pass every
    check downstream, so the run stops and says what the lake held before."""
    earlier = [d for d in lake.partition_dates(EMPLOYEES_TABLE) if d < day]
    if earlier:
        before = len(lake.read(EMPLOYEES_TABLE, snapshot_date=earlier[-1], columns=[KEY]))
        raise dg.Failure(
            f"the HRIS returned no employees for {day}, but the snapshot of {earlier[-1]} holds "
            f"{before}: refusing to land an empty extract (check the export or the source table)"
        )
    raise dg.Failure(
        f"the HRIS returned no employees for {day}: nothing to land (check the export or the "
        "source table)"
    )


@dg.asset(
    **HRIS_EXTRACT,
    description="Everyone employed on the snapshot date, as the HRIS reports it (contract-checked).",
)
def hris_employees(
    context: dg.AssetExecutionContext, hris: HrisSource, lake: DeltaLake
) -> dg.MaterializeResult:
    day = partition_date(context)
    df, suppressed = drop_suppressed(hris.employees_as_of(day), lake)
    if df.empty:
        refuse_empty_extract(lake, day)
    version = lake.write_partition(EMPLOYEES_TABLE, df, day)
    context.log.info(f"{len(df)} employees on {day} -> {EMPLOYEES_TABLE} v{version}")
    context.log_event(observe_source(hris, hris.extract_dates(), day.isoformat(), len(df)))
    return dg.MaterializeResult(
        metadata={
            **table_metadata(df),
            "delta_version": version,
            "table_uri": dg.MetadataValue.path(lake.uri(EMPLOYEES_TABLE)),
            "hris_kind": hris.kind,
            "opted_out": int(df["opt_out"].sum()) if "opt_out" in df else 0,
            "suppressed_dropped": suppressed,
            "departments": dg.MetadataValue.json(
                {str(k): int(v) for k, v in df["Department"].value_counts().items()}
            ),
            "preview": preview(df, PREVIEW_COLUMNS),
        }
    )


@dg.asset(
    **HRIS_EXTRACT,
    description="Exits (date and voluntary/involuntary) as known on the snapshot date.",
)
def hris_terminations(
    context: dg.AssetExecutionContext, hris: HrisSource, lake: DeltaLake
) -> dg.MaterializeResult:
    day = partition_date(context)
    df, suppressed = drop_suppressed(hris.terminations_as_of(day), lake)
    df = df.copy()
    df[SNAPSHOT_DATE] = day
    version = lake.write_partition(TERMINATIONS_TABLE, df, day)
    voluntary = int((df["termination_type"] == "voluntary").sum())
    return dg.MaterializeResult(
        metadata={
            **table_metadata(df),
            "delta_version": version,
            "voluntary": voluntary,
            "involuntary": len(df) - voluntary,
            "suppressed_dropped": suppressed,
            "table_uri": dg.MetadataValue.path(lake.uri(TERMINATIONS_TABLE)),
        }
    )
