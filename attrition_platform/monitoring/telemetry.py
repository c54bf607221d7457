"""Evidently's usage telemetry, switched off from code (not only in tests or the shell).

Evidently 0.7 sends usage events through `iterative_telemetry` unless `DO_NOT_TRACK` (its own
switch) or `ITERATIVE_DO_NOT_TRACK` (the library's) is set; the legacy UI reads
`EVIDENTLY_DISABLE_TELEMETRY`. HR monitoring runs must not call out to a third party, so every
switch is set before the first import. An operator's own value is left as it is: any value of
the first two disables tracking.
"""

from __future__ import annotations

import os

SWITCHES: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


def disable_telemetry() -> None:
    """Set the three switches (idempotent); call before `import evidently`."""
    for name, value in SWITCHES.items():
        os.environ.setdefault(name, value)
    os.environ["EVIDENTLY_DISABLE_TELEMETRY"] = "1"  # the legacy switch reads exactly "1"
