"""Where the embedded defaults live: one data directory holds Dagster, the lake and MLflow.

Read from the environment at call time (never frozen at import) so tests and the CLI can point
the whole platform somewhere else with one variable, ATTRITION_HOME.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".attrition"


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    def ensure(self) -> "Paths":
        for p in (self.dagster_home, self.lake, self.mlflow_artifacts, self.cache):
            p.mkdir(parents=True, exist_ok=True)
        return self


def paths() -> Paths:
    """The data directory: $ATTRITION_HOME, else ./.attrition, always absolute."""
    return Paths(Path(os.environ.get("ATTRITION_HOME", DEFAULT_HOME)).expanduser().resolve())


def environment() -> str:
    """The one switch that picks the resource set: local (default), test or prod."""
    env = os.environ.get("ATTRITION_ENV", "local").strip().lower()
    if env not in ("local", "test", "prod"):
        raise ValueError(f"ATTRITION_ENV must be local, test or prod, not {env!r}")
    return env
