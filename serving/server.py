"""Run the service: build settings, auth and app, then serve with uvicorn (HTTPS when given a
certificate and key). `attrition serve` and `python -m serving` (the container's entry point)
both end here.

uvicorn's access log is off: its lines carry the raw path, and a path can carry an employee id.
The service logs model, fallback and audit events itself, with no request data in them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.auth import AuthSettings, Authenticator
from serving.config import ConfigError, ServingSettings
from serving.secrets import SecretSource, secret_source_from_env

log = logging.getLogger("attrition.serving")
GRACEFUL_SECONDS = 20  # drain in-flight requests; Kubernetes' grace period must be longer
# The event loop uvicorn runs. asyncio, not uvloop: under 32 concurrent clients uvloop starves
# some connections (a bare Litestar route doing 0.5 ms of work: p99 91-148 ms and max 426-470
# ms with uvloop, p99 34-36 ms and max 45-55 ms with asyncio, at the same requests/s;
# benchmarks/http_floor.py --loop), at a cost of ~0.07 ms p50 at one client.
LOOPS = ("asyncio", "uvloop", "auto")
DEFAULT_LOOP = "asyncio"


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8000
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def build_authenticator(
    settings: ServingSettings, secrets: SecretSource | None = None
) -> tuple[Authenticator, str]:
    """Production-style settings when any ATTRITION_AUTH_* variable is given; otherwise (and
    only outside production) the development keys of `attrition token`. `secrets` (default:
    `secret_source_from_env()`) holds the verification key when no JWKS URL is given."""
    configured = any(os.environ.get(k) for k in ("ATTRITION_AUTH_ISSUER", "ATTRITION_AUTH_JWKS_URL"))
    if configured:
        source = secrets if secrets is not None else secret_source_from_env()
        return Authenticator(AuthSettings.from_env(source)), "configured issuer"
    if settings.production:
        raise ConfigError(
            "ATTRITION_ENV=prod needs ATTRITION_AUTH_ISSUER, ATTRITION_AUTH_AUDIENCE and "
            "ATTRITION_AUTH_JWKS_URL (or a public key in Vault); development keys are refused"
        )
    from serving.dev_keys import dev_auth_settings

    home = Path(os.environ.get("ATTRITION_HOME", ".attrition")).expanduser().resolve()
    return Authenticator(dev_auth_settings(home / "secrets")), "development keys (attrition token)"


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("ATTRITION_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def listen_from_env() -> Listen:
    return Listen(
        host=os.environ.get("ATTRITION_SERVING_HOST", "127.0.0.1"),
        port=int(os.environ.get("ATTRITION_SERVING_PORT", "8000")),
        tls_cert=os.environ.get("ATTRITION_TLS_CERT") or None,
        tls_key=os.environ.get("ATTRITION_TLS_KEY") or None,
    )


def loop_from_env() -> str:
    """$ATTRITION_SERVING_LOOP: the event loop uvicorn runs (`LOOPS`; default asyncio)."""
    loop = os.environ.get("ATTRITION_SERVING_LOOP", "").strip().lower() or DEFAULT_LOOP
    if loop not in LOOPS:
        raise ConfigError(f"ATTRITION_SERVING_LOOP must be one of {', '.join(LOOPS)}, not {loop!r}")
    return loop


def app_from_env(on_ready: Callable[[Any], None] | None = None) -> Any:
    """The app from environment variables: the factory an ASGI server imports
    (`granian --factory serving.server:app_from_env`)."""
    from serving.app import create_app

    # One source for the signing key and the object-store credentials: one Vault login, one
    # cached read of the secret.
    secrets = secret_source_from_env()
    settings = ServingSettings.from_env(secrets)
    authenticator, auth_kind = build_authenticator(settings, secrets)
    log.info("auth: %s; published location: %s; lake: %s", auth_kind, settings.serving_uri, settings.lake_root)
    return create_app(settings, authenticator, on_ready=on_ready)


def _check_tls(listen: Listen) -> None:
    if bool(listen.tls_cert) != bool(listen.tls_key):
        raise ConfigError("TLS needs both a certificate (ATTRITION_TLS_CERT) and its key (ATTRITION_TLS_KEY)")
    for path in (listen.tls_cert, listen.tls_key):
        if path and not Path(path).is_file():
            raise ConfigError(f"TLS file not found: {path}")


def serve(listen: Listen, on_ready: Callable[[Any], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests and flush the audit queue."""
    import uvicorn

    configure_logging()
    _check_tls(listen)
    loop = loop_from_env()
    app = app_from_env(on_ready)
    config = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        access_log=False,
        log_config=None,
        ssl_certfile=listen.tls_cert,
        ssl_keyfile=listen.tls_key,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        loop=loop,
        lifespan="on",
    )
    uvicorn.Server(config).run()
