"""A service configured the production way: only Vault settings and non-secret AWS_* settings
in its environment. The JWT public key and the S3 credentials live in a real Vault-API server
(`bao server -dev`), and the S3 server (moto) refuses every request not signed with those
credentials — so the service reaching its model, its feature snapshot and its audit log at all
proves it used the keys Vault held. Tested over HTTP on loopback."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import hvac
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from attrition_platform.contracts.audit_logs import PREDICTION_LOG, read_log
from attrition_platform.publication import publish
from attrition_platform_tests.s3_server import (  # noqa: F401 - fixtures
    enforced_credentials,
    new_bucket,
    s3_options,
    s3_server,
)
from attrition_platform_tests.serving.harness import (
    free_port,
    make_bundle,
    serve_in_thread,
    write_snapshot,
)
from attrition_platform_tests.serving.vault_server import ROOT_TOKEN, vault_server  # noqa: F401
from serving.server import app_from_env

ISSUER = "https://idp.example.test/"
AUDIENCE = "attrition-api"
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _token(key: rsa.RSAPrivateKey, scope: str = "attrition:predict") -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "hr-manager-9", "iat": now, "exp": now + 300,
              "scope": scope}
    return jwt.encode(claims, key, algorithm="RS256")


def test_a_service_configured_through_vault_reads_s3_and_verifies_tokens_with_vault_held_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_server: str, vault_server: str  # noqa: F811
) -> None:
    bucket = new_bucket(s3_options(s3_server))
    lake, published = f"s3://{bucket}/lake", f"s3://{bucket}/published"
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secret_path = f"attrition/serving-{uuid.uuid4().hex[:8]}"
    with enforced_credentials(s3_server) as (key_id, secret_key):
        # The platform's side: its own credentials in its environment, lake and model on S3.
        platform_env = s3_options(s3_server, key_id, secret_key)
        for name, value in platform_env.items():
            monkeypatch.setenv(name, value)
        write_snapshot(lake)  # type: ignore[arg-type] - DeltaLake takes the URI as a string
        publish(make_bundle(seed=3), "1", published, lake, promoted_by="test", reason="vault test",
                storage_options=platform_env)
        hvac.Client(url=vault_server, token=ROOT_TOKEN).secrets.kv.v2.create_or_update_secret(
            secret_path, mount_point="secret",
            secret={"jwt_public_key": _public_pem(signing), "aws_access_key_id": key_id,
                    "aws_secret_access_key": secret_key},
        )

        # The service's side: no credential in its environment, nor anywhere boto3 would look.
        for name in CREDENTIAL_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "ATTRITION_HOME": str(tmp_path / "home"), "ATTRITION_ENV": "prod",
            "ATTRITION_SERVING_URI": published, "ATTRITION_LAKE_URI": lake,
            "ATTRITION_SERVING_POLL_SECONDS": "0.5", "ATTRITION_AUDIT_FLUSH_SECONDS": "0.1",
            "VAULT_ADDR": vault_server, "VAULT_TOKEN": ROOT_TOKEN, "VAULT_SECRET_PATH": secret_path,
            "ATTRITION_AUTH_ISSUER": ISSUER, "ATTRITION_AUTH_AUDIENCE": AUDIENCE,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("ATTRITION_AUTH_JWKS_URL", raising=False)

        app = app_from_env()
        assert app.state.service.settings.storage_options["AWS_ACCESS_KEY_ID"] == key_id
        with serve_in_thread(app) as (base, _, _):
            with httpx.Client(base_url=base, timeout=10) as c:
                good = {"Authorization": f"Bearer {_token(signing)}"}
                ready = c.get("/readyz")
                risk = c.get("/v1/employees/3/risk", headers=good)  # features from the S3 lake
                forged = c.get("/v1/employees/3/risk", headers={"Authorization": f"Bearer {_token(impostor)}"})
                model = c.get("/v1/model", headers=good)
        # The graceful stop flushed the audit queue into prediction_log on S3.
        audit = read_log(lake, PREDICTION_LOG, platform_env)

    assert ready.status_code == 200, ready.text
    assert risk.status_code == 200, risk.text
    assert risk.json()["model_version"] == "1" and risk.json()["source"] == "live"
    assert forged.status_code == 401
    assert model.json()["model_version"] == "1"
    assert audit["prediction_id"] == [risk.json()["prediction_id"]]
    assert audit["caller"] == ["hr-manager-9"]


# -- how the Vault credentials combine with the AWS_* environment -------------------------------
ENV_OPTIONS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-west-1",
               "AWS_ACCESS_KEY_ID": "env-key", "AWS_SECRET_ACCESS_KEY": "env-secret",
               "AWS_SESSION_TOKEN": "env-session"}


def _vault_source(monkeypatch: pytest.MonkeyPatch, addr: str, secret: dict[str, str]) -> Any:
    from serving.secrets import secret_source_from_env

    path = f"attrition/serving-{uuid.uuid4().hex[:8]}"
    hvac.Client(url=addr, token=ROOT_TOKEN).secrets.kv.v2.create_or_update_secret(
        path, secret=secret, mount_point="secret")
    for name, value in {"VAULT_ADDR": addr, "VAULT_TOKEN": ROOT_TOKEN, "VAULT_SECRET_PATH": path}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VAULT_AUTH_METHOD", raising=False)
    return secret_source_from_env()


def test_a_vault_key_pair_replaces_all_three_environment_credentials(
    monkeypatch: pytest.MonkeyPatch, vault_server: str  # noqa: F811
) -> None:
    from serving.secrets import with_object_store_credentials

    source = _vault_source(monkeypatch, vault_server, {"aws_access_key_id": "vault-key",
                                                       "aws_secret_access_key": "vault-secret"})
    merged = with_object_store_credentials(ENV_OPTIONS, source)
    # The environment's session token belongs to the environment's keys: it is dropped.
    assert merged == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-west-1",
                      "AWS_ACCESS_KEY_ID": "vault-key", "AWS_SECRET_ACCESS_KEY": "vault-secret"}
    with_token = _vault_source(monkeypatch, vault_server, {
        "aws_access_key_id": "k", "aws_secret_access_key": "s", "aws_session_token": "t"})
    assert with_object_store_credentials(ENV_OPTIONS, with_token)["AWS_SESSION_TOKEN"] == "t"


def test_a_vault_secret_without_object_store_keys_leaves_the_environment_ones(
    monkeypatch: pytest.MonkeyPatch, vault_server: str  # noqa: F811
) -> None:
    from serving.secrets import EnvSecrets, with_object_store_credentials

    source = _vault_source(monkeypatch, vault_server, {"jwt_public_key": "not used here"})
    assert with_object_store_credentials(ENV_OPTIONS, source) == ENV_OPTIONS
    assert with_object_store_credentials(ENV_OPTIONS, EnvSecrets()) == ENV_OPTIONS


@pytest.mark.parametrize(
    ("held", "named"),
    [({"aws_access_key_id": "AKIA-HALF-OF-A-PAIR"}, "aws_secret_access_key"),
     ({"aws_secret_access_key": "secret-half-of-a-pair"}, "aws_access_key_id"),
     ({"aws_session_token": "lonely-session-token"}, "aws_session_token")],
)
def test_an_incomplete_key_pair_in_vault_is_refused_naming_the_secret_not_its_value(
    monkeypatch: pytest.MonkeyPatch, vault_server: str, held: dict[str, str], named: str  # noqa: F811
) -> None:
    from serving.secrets import SecretError, with_object_store_credentials

    source = _vault_source(monkeypatch, vault_server, held)
    with pytest.raises(SecretError, match=named) as info:
        with_object_store_credentials(ENV_OPTIONS, source)
    assert not any(value in str(info.value) for value in held.values())
    assert source.location in str(info.value)


@pytest.mark.parametrize(
    ("vault_secret", "extra_env", "named"),
    [
        ({"aws_access_key_id": "AKIA-ONLY-HALF"}, {"AWS_ALLOW_HTTP": "true"}, "aws_secret_access_key"),
        ({"aws_access_key_id": "AKIA-FULL", "aws_secret_access_key": "full-pair-secret"}, {},
         "AWS_ALLOW_HTTP=true"),
    ],
)
def test_python_m_serving_stops_with_one_line_on_unusable_object_store_settings(
    tmp_path: Path, vault_server: str,  # noqa: F811
    vault_secret: dict[str, str], extra_env: dict[str, str], named: str,
) -> None:
    import os
    import subprocess
    import sys

    path = f"attrition/serving-{uuid.uuid4().hex[:8]}"
    hvac.Client(url=vault_server, token=ROOT_TOKEN).secrets.kv.v2.create_or_update_secret(
        path, secret=vault_secret, mount_point="secret")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "AWS_", "VAULT_"))}
    env.update({
        "ATTRITION_HOME": str(tmp_path), "ATTRITION_SERVING_URI": "s3://attrition-pub/published",
        "ATTRITION_SERVING_PORT": str(free_port()), "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "VAULT_ADDR": vault_server, "VAULT_TOKEN": ROOT_TOKEN, "VAULT_SECRET_PATH": path, **extra_env,
    })
    out = subprocess.run([sys.executable, "-m", "serving"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, out.stderr[-2000:]
    assert named in out.stderr and "Traceback" not in out.stderr
    assert not any(value in out.stderr for value in vault_secret.values())
