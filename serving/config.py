"""The service's settings, read from environment variables once at start (documented in
docs/serving.md). Every default is the embedded one: `attrition serve` on a demo data directory
needs no variable at all.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attrition_platform.contracts.published import default_serving_uri
from attrition_platform.contracts.storage_options import is_remote, storage_options_from_env

if TYPE_CHECKING:
    from serving.secrets import SecretSource


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable, never a secret."""


def _home() -> Path:
    return Path(os.environ.get("ATTRITION_HOME", ".attrition")).expanduser().resolve()


def _float(name: str, default: float, low: float = 0.0, unit: str = "seconds", high: float = math.inf) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of {unit}, not {raw!r}") from None
    if not math.isfinite(value):  # float() takes "nan" and "inf"; neither is a duration
        raise ConfigError(f"{name} must be a finite number of {unit}, not {raw!r}")
    if value < low:
        raise ConfigError(f"{name} must be at least {low:g}")
    if value > high:
        raise ConfigError(f"{name} must be at most {high:g} {unit}")
    return value


def _int(name: str, default: int, low: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}")
    return value


@dataclass(frozen=True)
class ServingSettings:
    """Where the service reads from and writes to, and how it behaves under failure."""

    serving_uri: str  # the published location: CURRENT, bundles/, scores/
    lake_root: str  # employee_features is read from here; prediction_log/action_log go here
    cache_dir: Path  # verified copies of published bundles
    poll_seconds: float = 10.0  # how often CURRENT and the feature table are checked
    fallback_after_seconds: float = 300.0  # live scoring down this long -> cached scores
    error_streak: int = 3  # consecutive internal scoring errors that mark live scoring down
    batch_max: int = 500
    max_body_bytes: int = 1_048_576
    top_factors: int = 3
    audit_queue_size: int = 10_000
    audit_batch_size: int = 5000  # rows per Delta commit: one commit per flush at ~1,000 req/s
    audit_flush_seconds: float = 1.0
    # The interpreter's GIL hand-over interval. Python's 5 ms lets the audit writer's flush (a
    # burst of Python building Arrow columns) hold a request waiting for up to 5 ms at a time:
    # the one-client p99. 0.5 ms cuts that wait tenfold (benchmarks/README.md); 0 keeps Python's.
    gil_switch_ms: float = 0.5
    environment: str = "local"
    # The AWS_* options (contracts/storage_options.py) of the s3:// lake and published location,
    # credentials included: kept out of repr so that logging the settings never logs a key.
    storage_options: dict[str, str] | None = field(default=None, repr=False)

    @property
    def production(self) -> bool:
        return self.environment == "prod"

    @classmethod
    def from_env(cls, secrets: SecretSource | None = None) -> "ServingSettings":
        """Settings from the environment. Object-store credentials come from `secrets` (Vault
        when VAULT_ADDR is set; `secret_source_from_env()` when None) over the AWS_* variables,
        and only when the lake or the published location is on S3."""
        home = _home()
        env = os.environ.get("ATTRITION_ENV", "local").strip().lower() or "local"
        lake = os.environ.get("ATTRITION_LAKE_URI") or str(home / "lake")
        serving_uri = default_serving_uri()
        storage = None
        if is_remote(lake) or is_remote(serving_uri):
            from serving.secrets import secret_source_from_env, with_object_store_credentials

            source = secrets if secrets is not None else secret_source_from_env()
            storage = with_object_store_credentials(storage_options_from_env(), source)
        return cls(
            serving_uri=serving_uri,
            lake_root=lake,
            cache_dir=Path(os.environ.get("ATTRITION_SERVING_CACHE") or home / "cache" / "serving"),
            poll_seconds=_float("ATTRITION_SERVING_POLL_SECONDS", 10.0, 0.05),
            fallback_after_seconds=_float("ATTRITION_FALLBACK_AFTER_SECONDS", 300.0),
            error_streak=_int("ATTRITION_SERVING_ERROR_STREAK", 3),
            batch_max=_int("ATTRITION_BATCH_MAX", 500),
            max_body_bytes=_int("ATTRITION_MAX_BODY_BYTES", 1_048_576, 1024),
            top_factors=_int("ATTRITION_TOP_FACTORS", 3),
            audit_queue_size=_int("ATTRITION_AUDIT_QUEUE_SIZE", 10_000),
            audit_batch_size=_int("ATTRITION_AUDIT_BATCH_SIZE", 5000),
            audit_flush_seconds=_float("ATTRITION_AUDIT_FLUSH_SECONDS", 1.0, 0.01),
            gil_switch_ms=_float("ATTRITION_GIL_SWITCH_MS", 0.5, 0.0, unit="milliseconds", high=100.0),
            environment=env,
            storage_options=storage,
        )


def startup_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "the settings cannot work": the entry points print them as one line
    and exit 2 instead of a traceback."""
    from attrition_platform.contracts.published import PublicationError
    from serving.auth import AuthConfigError
    from serving.dev_keys import ProductionModeError
    from serving.secrets import SecretError

    return (ConfigError, AuthConfigError, SecretError, ProductionModeError, PublicationError)
