"""Where the embedded defaults live: one data directory holds Dagster, the lake and MLflow.

Read from the environment at call time (never frozen at import) so tests and the CLI can point
the whole platform somewhere else with one variable, ATTRITION_HOME.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".attrition"
ENVIRONMENTS = ("local", "test", "prod")


class SettingsError(ValueError):
    """A setting the user gave (an environment variable) that cannot work; the message names it."""


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

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    def ensure(self) -> "Paths":
        """Create the data directory's layout; a home that cannot hold it is a SettingsError."""
        if self.home.exists() and not self.home.is_dir():
            raise SettingsError(f"ATTRITION_HOME={self.home} is a file, not a directory")
        try:
            for p in (self.dagster_home, self.lake, self.mlflow_artifacts, self.cache):
                p.mkdir(parents=True, exist_ok=True)
        except NotADirectoryError:
            raise SettingsError(f"ATTRITION_HOME={self.home}: a part of the path is a file") from None
        except OSError as exc:
            raise SettingsError(
                f"ATTRITION_HOME={self.home} cannot be created or written ({exc.strerror.lower()})"
            ) from None
        if not os.access(self.home, os.W_OK):
            raise SettingsError(f"ATTRITION_HOME={self.home} is not writable")
        return self


def paths() -> Paths:
    """The data directory: $ATTRITION_HOME, else ./.attrition, always absolute."""
    return Paths(Path(os.environ.get("ATTRITION_HOME", DEFAULT_HOME)).expanduser().resolve())


def environment() -> str:
    """The one switch that picks the resource set: local (default), test or prod."""
    env = os.environ.get("ATTRITION_ENV", "local").strip().lower()
    if env not in ENVIRONMENTS:
        raise SettingsError(f"ATTRITION_ENV must be local, test or prod, not {env!r}")
    return env
