from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("dagster", "mlflow", "pandas", "pyarrow")
MODULES = ("published", "fallback_export", "audit_logs", "feature_store", "arrow_columns", "object_store", "drift_status",
           "storage_options")


def test_contracts_import_without_dagster_mlflow_pandas_or_pyarrow():
    """The serving image has none of them: importing with them blocked must still work."""
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in FORBIDDEN)
    imports = "; ".join(f"import attrition_platform.contracts.{m}" for m in MODULES)
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; {blocked}; {imports}"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
