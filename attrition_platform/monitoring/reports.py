"""Where monitoring reports (Evidently HTML) are kept.

`ATTRITION_REPORTS_URI` (read at call time) names a directory, `file://` URI or
`s3://bucket/prefix`. Unset, reports go beside the lake: `<lake parent>/reports`, which is
`$ATTRITION_HOME/reports` for the embedded defaults (lake `$ATTRITION_HOME/lake`) and
`s3://bucket/prefix/reports` for a lake at `s3://bucket/prefix/lake`, written with the lake's
own AWS_* settings (contracts/storage_options.py). A report is one object written atomically
(temp file and rename on disk, one PUT on S3), through the same store code as the published
location.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from attrition_platform.contracts.published import PublicationError, Store, store_from_uri
from attrition_platform.contracts.storage_options import is_remote, storage_options_from_env

ENV_VAR = "ATTRITION_REPORTS_URI"
REPORTS_DIR = "reports"


class ReportError(Exception):
    """A report that could not be written; names the location and the problem."""


def reports_uri(lake_root: str) -> str:
    """$ATTRITION_REPORTS_URI, else the `reports` location beside the lake root."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return configured
    if is_remote(lake_root):
        scheme, _, rest = lake_root.rstrip("/").partition("://")
        bucket, _, prefix = rest.partition("/")
        parent = str(PurePosixPath(prefix).parent) if prefix else ""
        parent = "" if parent == "." else parent
        return f"{scheme}://{bucket}/{parent + '/' if parent else ''}{REPORTS_DIR}"
    local = Path(lake_root.removeprefix("file://")).expanduser().resolve()
    return str(local.parent / REPORTS_DIR)


@dataclass(frozen=True)
class SavedReport:
    location: str  # full path or s3:// URI of the report
    remote: bool


def _store(uri: str) -> Store:
    try:
        return store_from_uri(uri, storage_options_from_env() if is_remote(uri) else None)
    except PublicationError as exc:
        raise ReportError(f"{ENV_VAR}={uri}: {exc}") from None


def save_report(lake_root: str, key: str, data: bytes) -> SavedReport:
    """Write `data` as `key` (e.g. `drift/2026-11-30-1a2b3c4d.html`) under the reports location."""
    uri = reports_uri(lake_root)
    store = _store(uri)
    try:
        store.write_bytes(key, data)
    except (PublicationError, OSError) as exc:
        raise ReportError(f"report {key} in {uri}: {exc}") from None
    if is_remote(uri):
        return SavedReport(f"{uri.rstrip('/')}/{key}", remote=True)
    return SavedReport(str(Path(uri.removeprefix("file://")).expanduser().resolve() / key), remote=False)
