"""prediction_log and action_log as assets: tables the serving service writes, not Dagster.

Declared as external assets (`dg.AssetSpec`) so the graph shows where the audit trail comes
from and what reads it (retention_purge, the drift and recall monitors). The schema, the
creation and every append live in contracts/audit_logs.py, shared with serving.
"""

import dagster as dg

from attrition_platform.contracts import audit_logs
from attrition_platform.defs.metadata import code_reference


prediction_log = dg.AssetSpec(
    audit_logs.PREDICTION_LOG,
    group_name="serving",
    kinds={"deltalake"},
    description="Every answer the serving service gave (Delta, partitioned by day): appended by "
    "serving, never holds opted-out employees, purged after 180 days (retention_purge), "
    "erasable per employee (`attrition erase`).",
    metadata={"dagster/code_references": code_reference(audit_logs.append_predictions, "append_predictions")},
)

action_log = dg.AssetSpec(
    audit_logs.ACTION_LOG,
    group_name="serving",
    kinds={"deltalake"},
    description="Managers' recorded actions, each with its reason (Delta, partitioned by day): "
    "appended by serving, purged after 180 days, erasable per employee.",
    metadata={"dagster/code_references": code_reference(audit_logs.append_actions, "append_actions")},
)
