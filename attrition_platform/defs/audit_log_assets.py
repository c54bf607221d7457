"""prediction_log and action_log as assets: tables the serving service writes, not Dagster.

Declared as external assets (`dg.AssetSpec`) so the graph shows where the audit trail comes
from and what reads it (retention_purge, the drift and recall monitors). The schema, the
creation and every append live in contracts/audit_logs.py, shared with serving.
"""

import inspect
import warnings

import dagster as dg

from attrition_platform.contracts import audit_logs


def _written_by(fn: object) -> dg.CodeReferencesMetadataValue:
    """Where the appends are written (an external asset has no function of its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.CodeReferencesMetadataValue(
            code_references=[
                dg.LocalFileCodeReference(
                    file_path=str(inspect.getsourcefile(fn)),  # type: ignore[arg-type]
                    line_number=inspect.getsourcelines(fn)[1],  # type: ignore[arg-type]
                    label=getattr(fn, "__name__", "append"),
                )
            ]
        )


prediction_log = dg.AssetSpec(
    audit_logs.PREDICTION_LOG,
    group_name="serving",
    kinds={"deltalake"},
    description="Every answer the serving service gave (Delta, partitioned by day): appended by "
    "serving, never holds opted-out employees, purged after 180 days (retention_purge), "
    "erasable per employee (`attrition erase`).",
    metadata={"dagster/code_references": _written_by(audit_logs.append_predictions)},
)

action_log = dg.AssetSpec(
    audit_logs.ACTION_LOG,
    group_name="serving",
    kinds={"deltalake"},
    description="Managers' recorded actions, each with its reason (Delta, partitioned by day): "
    "appended by serving, purged after 180 days, erasable per employee.",
    metadata={"dagster/code_references": _written_by(audit_logs.append_actions)},
)
