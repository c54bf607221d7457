"""Secrets for the serving service: HashiCorp Vault / OpenBao (KV v2) or environment variables.

One interface, `SecretSource.get(name)`, so the service never knows where a signing key or a
credential came from. Production reads one KV v2 secret (each of its keys is a secret name)
and re-reads it after a TTL so a rotation in Vault reaches running pods without a restart.
The embedded default is environment variables (ATTRITION_SECRET_<NAME>; for the object store,
the plain AWS_* variables of contracts/storage_options.py).

Errors name the setting or the secret and never its value. All configuration is read from the
environment when a source is built (documented in docs/security.md).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import hvac
import hvac.exceptions
import requests

from attrition_platform.contracts.storage_options import (
    ACCESS_KEY_ID,
    CREDENTIALS,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
)

ENV_PREFIX = "ATTRITION_SECRET_"
DEFAULT_KV_MOUNT = "secret"
DEFAULT_SECRET_PATH = "attrition/serving"
DEFAULT_TTL_SECONDS = 300.0
DEFAULT_K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
AUTH_METHODS = ("token", "approle", "kubernetes")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SecretError(Exception):
    """A secret that cannot be had; the message names the secret or setting, never a value."""


class SecretSource(Protocol):
    def get(self, name: str) -> str | None:
        """The secret's value, or None when this source does not hold it."""
        ...


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise SecretError(f"secret name {name!r} must be lower-case letters, digits and _")


class EnvSecrets:
    """ATTRITION_SECRET_<NAME> variables, read at each call: the one-machine default."""

    def get(self, name: str) -> str | None:
        _check_name(name)
        return os.environ.get(ENV_PREFIX + name.upper())


def _required_env(name: str, why: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SecretError(f"{name} is not set ({why})")
    return value


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SecretError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise SecretError(f"{name} must be 0 or more")
    return value


class VaultSecrets:
    """One KV v2 secret in Vault/OpenBao, cached for a TTL; thread-safe.

    Settings (environment, read when built): VAULT_ADDR, VAULT_KV_MOUNT, VAULT_SECRET_PATH,
    VAULT_AUTH_METHOD (token | approle | kubernetes) and its credentials, VAULT_NAMESPACE,
    VAULT_CACERT, VAULT_CLIENT_TIMEOUT, ATTRITION_SECRET_TTL_SECONDS. `clock` is injectable so
    a test can step past the TTL without sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.addr = _required_env("VAULT_ADDR", "the Vault server URL")
        self.mount = os.environ.get("VAULT_KV_MOUNT", "").strip() or DEFAULT_KV_MOUNT
        path = os.environ.get("VAULT_SECRET_PATH", "").strip().strip("/")
        self.path = path or DEFAULT_SECRET_PATH
        self.auth_method = os.environ.get("VAULT_AUTH_METHOD", "").strip().lower() or "token"
        if self.auth_method not in AUTH_METHODS:
            raise SecretError(
                f"VAULT_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}, "
                f"not {self.auth_method!r}"
            )
        self.ttl_seconds = _env_seconds("ATTRITION_SECRET_TTL_SECONDS", DEFAULT_TTL_SECONDS)
        self.timeout = _env_seconds("VAULT_CLIENT_TIMEOUT", 5.0) or 5.0
        self.namespace = os.environ.get("VAULT_NAMESPACE", "").strip() or None
        cacert = os.environ.get("VAULT_CACERT", "").strip()
        if cacert and not Path(cacert).is_file():
            raise SecretError(f"VAULT_CACERT={cacert} is not a file")
        self.verify: bool | str = cacert or True
        self._login = self._login_function()  # reads and checks the method's settings now
        self._clock = clock
        self._lock = threading.Lock()
        self._client: hvac.Client | None = None
        self._values: dict[str, Any] | None = None
        self._fetched_at = 0.0

    @property
    def location(self) -> str:
        """Where the secret lives (mount/data/path), for messages and policies."""
        return f"{self.mount}/data/{self.path}"

    def get(self, name: str) -> str | None:
        _check_name(name)
        with self._lock:
            if self._values is None or self._clock() - self._fetched_at >= self.ttl_seconds:
                self._values = self._read()
                self._fetched_at = self._clock()
            value = self._values.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise SecretError(f"secret {name} at {self.location} is not a string")
        return value

    def invalidate(self) -> None:
        """Drop the cache: the next get() reads Vault (e.g. after a failed verification)."""
        with self._lock:
            self._values = None

    # -- Vault I/O --------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        for attempt in (1, 2):
            client = self._authenticated_client()
            try:
                response = client.secrets.kv.v2.read_secret_version(
                    path=self.path, mount_point=self.mount, raise_on_deleted_version=True
                )
                data = response["data"]["data"]
                return dict(data) if isinstance(data, dict) else {}
            except hvac.exceptions.Forbidden:
                # An expired login token looks like this too: log in again once.
                self._client = None
                if attempt == 2:
                    raise SecretError(
                        f"Vault refused reading {self.location} (VAULT_AUTH_METHOD="
                        f"{self.auth_method}): the policy must allow read on it"
                    ) from None
            except hvac.exceptions.InvalidPath:
                raise SecretError(
                    f"no secret at {self.location} in Vault (VAULT_KV_MOUNT / VAULT_SECRET_PATH)"
                ) from None
            except (requests.exceptions.RequestException, hvac.exceptions.VaultError) as exc:
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable")

    def _unreachable(self, exc: Exception) -> SecretError:
        kind = type(exc).__name__
        return SecretError(f"Vault at VAULT_ADDR={self.addr} cannot be read ({kind})")

    def _authenticated_client(self) -> hvac.Client:
        if self._client is not None:
            return self._client
        client = hvac.Client(
            url=self.addr, verify=self.verify, timeout=self.timeout, namespace=self.namespace
        )
        try:
            self._login(client)
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden,
                hvac.exceptions.Unauthorized):
            raise SecretError(
                f"Vault login failed with VAULT_AUTH_METHOD={self.auth_method} "
                f"({self._credential_settings()} rejected)"
            ) from None
        except (requests.exceptions.RequestException, hvac.exceptions.VaultError) as exc:
            raise self._unreachable(exc) from None
        self._client = client
        return client

    def _credential_settings(self) -> str:
        return {
            "token": "VAULT_TOKEN",
            "approle": "VAULT_ROLE_ID/VAULT_SECRET_ID",
            "kubernetes": "VAULT_K8S_ROLE and the service-account token",
        }[self.auth_method]

    def _login_function(self) -> Callable[[hvac.Client], None]:
        if self.auth_method == "token":
            token = _required_env("VAULT_TOKEN", "VAULT_AUTH_METHOD=token")

            def login(client: hvac.Client) -> None:
                client.token = token

            return login
        if self.auth_method == "approle":
            role_id = _required_env("VAULT_ROLE_ID", "VAULT_AUTH_METHOD=approle")
            secret_id = _required_env("VAULT_SECRET_ID", "VAULT_AUTH_METHOD=approle")
            mount = os.environ.get("VAULT_APPROLE_MOUNT", "").strip() or "approle"

            def login(client: hvac.Client) -> None:
                client.auth.approle.login(
                    role_id=role_id, secret_id=secret_id, mount_point=mount, use_token=True
                )

            return login
        role = _required_env("VAULT_K8S_ROLE", "VAULT_AUTH_METHOD=kubernetes")
        token_path = Path(
            os.environ.get("VAULT_K8S_TOKEN_PATH", "").strip() or DEFAULT_K8S_TOKEN_PATH
        )
        mount = os.environ.get("VAULT_K8S_MOUNT", "").strip() or "kubernetes"

        def login(client: hvac.Client) -> None:
            # Read at each login: the kubelet rotates projected service-account tokens.
            try:
                jwt = token_path.read_text().strip()
            except OSError:
                raise SecretError(
                    f"service-account token {token_path} cannot be read (VAULT_K8S_TOKEN_PATH)"
                ) from None
            client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=mount, use_token=True)

        return login


def secret_source_from_env() -> SecretSource:
    """Vault when VAULT_ADDR is set (production), else environment variables (embedded)."""
    if os.environ.get("VAULT_ADDR", "").strip():
        return VaultSecrets()
    return EnvSecrets()


# -- object-store credentials -------------------------------------------------------------------
# Secret name in Vault -> the storage option (AWS_* name) it fills.
OBJECT_STORE_SECRETS = {
    "aws_access_key_id": ACCESS_KEY_ID,
    "aws_secret_access_key": SECRET_ACCESS_KEY,
    "aws_session_token": SESSION_TOKEN,
}


def with_object_store_credentials(options: dict[str, str], source: SecretSource) -> dict[str, str]:
    """`options` (the AWS_* environment) with the credentials Vault holds, if it holds any.

    The key id and the secret key come as a pair, and the session token goes with them: a
    Vault pair replaces the environment's three credentials outright (an environment session
    token would not belong to Vault's keys). With no pair in Vault, or with the environment
    source (the embedded default), `options` is returned unchanged. Called once at start: the
    boto3 client and deltalake get a fixed dict, so a rotated S3 key needs a (rolling) restart.
    """
    if not isinstance(source, VaultSecrets):
        return dict(options)
    held = {name: source.get(name) for name in OBJECT_STORE_SECRETS}
    key_id, secret_key, token = (held[n] for n in OBJECT_STORE_SECRETS)
    if not key_id and not secret_key:
        if token:
            raise SecretError(
                f"secret aws_session_token at {source.location} needs aws_access_key_id and "
                "aws_secret_access_key beside it"
            )
        return dict(options)
    if not key_id or not secret_key:
        missing = "aws_access_key_id" if not key_id else "aws_secret_access_key"
        raise SecretError(
            f"secret {missing} is missing at {source.location} (the other key of the pair is there)"
        )
    merged = {k: v for k, v in options.items() if k not in CREDENTIALS}
    merged[ACCESS_KEY_ID] = key_id
    merged[SECRET_ACCESS_KEY] = secret_key
    if token:
        merged[SESSION_TOKEN] = token
    return merged
