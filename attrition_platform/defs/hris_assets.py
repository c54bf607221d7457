"""HRIS extracts landed in the lake, one daily partition per snapshot date."""

from typing import Any

import dagster as dg
import pandas as pd

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.partitions import partition_date, snapshot_partitions
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.lake import DeltaLake

EMPLOYEES_TABLE = "hris_employees"
TERMINATIONS_TABLE = "hris_terminations"
PREVIEW_COLUMNS = [KEY, SNAPSHOT_DATE, "Department", "JobRole", "JobLevel", "OverTime", "opt_out"]

hris_system = dg.AssetSpec(
    "hris_system",
    group_name="hris",
    kinds={"hris"},
    description="The HR information system itself (synthetic, a file export or a SQL database).",
)


# Both extracts are landed the same way: one Delta partition per snapshot date, from the HRIS.
HRIS_EXTRACT: dict[str, Any] = dict(
    partitions_def=snapshot_partitions,
    group_name="hris",
    kinds={"deltalake", "pandas"},
    deps=[hris_system],
    owners=["team:data"],
)


def preview(df: pd.DataFrame, columns: list[str], rows: int = 5) -> dg.MetadataValue:
    """A few rows of non-sensitive columns, so the UI shows what landed without exposing pay."""
    cols = [c for c in columns if c in df.columns]
    return dg.MetadataValue.md(df[cols].head(rows).to_markdown(index=False))


@dg.asset(
    **HRIS_EXTRACT,
    description="Everyone employed on the snapshot date, as the HRIS reports it (contract-checked).",
)
def hris_employees(
    context: dg.AssetExecutionContext, hris: HrisSource, lake: DeltaLake
) -> dg.MaterializeResult:
    day = partition_date(context)
    df = hris.employees_as_of(day)
    version = lake.write_partition(EMPLOYEES_TABLE, df, day)
    context.log.info(f"{len(df)} employees on {day} -> {EMPLOYEES_TABLE} v{version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(df),
            "delta_version": version,
            "table_uri": dg.MetadataValue.path(lake.uri(EMPLOYEES_TABLE)),
            "hris_kind": hris.kind,
            "opted_out": int(df["opt_out"].sum()) if "opt_out" in df else 0,
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
    df = hris.terminations_as_of(day).copy()
    df[SNAPSHOT_DATE] = day
    version = lake.write_partition(TERMINATIONS_TABLE, df, day)
    voluntary = int((df["termination_type"] == "voluntary").sum())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(df),
            "delta_version": version,
            "voluntary": voluntary,
            "involuntary": len(df) - voluntary,
            "table_uri": dg.MetadataValue.path(lake.uri(TERMINATIONS_TABLE)),
        }
    )
