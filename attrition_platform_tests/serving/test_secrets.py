"""Secrets through a real Vault-API server (OpenBao dev server) and through the environment."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from attrition_platform_tests.loopback import json_server
from attrition_platform_tests.serving.pki import make_ca_and_server_cert
from attrition_platform_tests.serving.vault_server import ROOT_TOKEN, vault_server  # noqa: F401
from serving.auth import AuthSettings, Authenticator
from serving.secrets import (
    EnvSecrets,
    SecretError,
    VaultSecrets,
    secret_source_from_env,
)

POLICY = 'path "secret/data/attrition/*" { capabilities = ["read"] }'
K8S_NAMESPACE, K8S_ACCOUNT = "attrition", "attrition-serving"
_VAULT_VARS = (
    "VAULT_ADDR", "VAULT_TOKEN", "VAULT_AUTH_METHOD", "VAULT_ROLE_ID", "VAULT_SECRET_ID",
    "VAULT_K8S_ROLE", "VAULT_K8S_TOKEN_PATH", "VAULT_KV_MOUNT", "VAULT_SECRET_PATH",
    "VAULT_NAMESPACE", "VAULT_CACERT", "ATTRITION_SECRET_TTL_SECONDS",
)


class FakeClock:
    """Steps past a TTL without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _VAULT_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture()
def root(vault_server: str) -> hvac.Client:  # noqa: F811
    client = hvac.Client(url=vault_server, token=ROOT_TOKEN)
    assert client.is_authenticated()
    return client


@pytest.fixture()
def secret_path(root: hvac.Client) -> str:
    """A fresh secret under attrition/ per test (the policy covers attrition/*)."""
    path = f"attrition/serving-{uuid.uuid4().hex[:8]}"
    root.secrets.kv.v2.create_or_update_secret(
        path, secret={"db_password": "pw-v1", "s3_secret_key": "s3-v1"}, mount_point="secret"
    )
    return path


def use_vault(env: pytest.MonkeyPatch, addr: str, path: str, **settings: str) -> None:
    env.setenv("VAULT_ADDR", addr)
    env.setenv("VAULT_SECRET_PATH", path)
    for name, value in settings.items():
        env.setenv(name, value)


def _enable(root: hvac.Client, method: str) -> None:
    if f"{method}/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method(method)
    root.sys.create_or_update_policy("attrition-serving", POLICY)


# -- token, AppRole, Kubernetes ----------------------------------------------------------------
def test_token_auth_reads_each_key_of_the_secret(
    clean_env: pytest.MonkeyPatch, vault_server: str, secret_path: str  # noqa: F811
) -> None:
    use_vault(clean_env, vault_server, secret_path, VAULT_TOKEN=ROOT_TOKEN)
    source = secret_source_from_env()
    assert isinstance(source, VaultSecrets)
    assert source.get("db_password") == "pw-v1"
    assert source.get("s3_secret_key") == "s3-v1"
    assert source.get("not_there") is None


def test_approle_auth_reads_the_secret_its_policy_allows(
    clean_env: pytest.MonkeyPatch,
    vault_server: str,  # noqa: F811
    root: hvac.Client,
    secret_path: str,
) -> None:
    _enable(root, "approle")
    root.auth.approle.create_or_update_approle("serving", token_policies=["attrition-serving"])
    role_id = root.auth.approle.read_role_id("serving")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("serving")["data"]["secret_id"]
    use_vault(
        clean_env, vault_server, secret_path,
        VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id,
    )
    assert VaultSecrets().get("db_password") == "pw-v1"


def test_approle_policy_does_not_reach_outside_its_path(
    clean_env: pytest.MonkeyPatch, vault_server: str, root: hvac.Client  # noqa: F811
) -> None:
    _enable(root, "approle")
    root.secrets.kv.v2.create_or_update_secret(
        "payroll/keys", secret={"k": "v"}, mount_point="secret"
    )
    root.auth.approle.create_or_update_approle("serving", token_policies=["attrition-serving"])
    role_id = root.auth.approle.read_role_id("serving")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("serving")["data"]["secret_id"]
    use_vault(
        clean_env, vault_server, "payroll/keys",
        VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id,
    )
    with pytest.raises(SecretError, match="Vault refused reading secret/data/payroll/keys") as info:
        VaultSecrets().get("k")
    assert secret_id not in str(info.value)


def test_a_wrong_approle_secret_id_fails_login_without_echoing_it(
    clean_env: pytest.MonkeyPatch,
    vault_server: str,  # noqa: F811
    root: hvac.Client,
    secret_path: str,
) -> None:
    _enable(root, "approle")
    root.auth.approle.create_or_update_approle("serving", token_policies=["attrition-serving"])
    role_id = root.auth.approle.read_role_id("serving")["data"]["role_id"]
    wrong = str(uuid.uuid4())
    use_vault(
        clean_env, vault_server, secret_path,
        VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=wrong,
    )
    with pytest.raises(SecretError, match="login failed with VAULT_AUTH_METHOD=approle") as info:
        VaultSecrets().get("db_password")
    assert wrong not in str(info.value) and role_id not in str(info.value)


@pytest.fixture()
def token_review_api() -> Iterator[dict[str, Any]]:
    """A loopback stand-in for the Kubernetes TokenReview API that Vault's k8s auth calls.

    It approves exactly one service-account JWT (state["jwt"]) as attrition/attrition-serving
    and records every review request it receives.
    """
    state: dict[str, Any] = {"jwt": None, "reviews": []}

    def respond(method: str, path: str, body: Any) -> tuple[int, Any]:
        state["reviews"].append({"path": path, "body": body})
        ok = (body or {}).get("spec", {}).get("token") == state["jwt"]
        return 201, {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "status": {
                "authenticated": ok,
                "user": {
                    "username": f"system:serviceaccount:{K8S_NAMESPACE}:{K8S_ACCOUNT}",
                    "uid": "sa-uid-1",
                    "groups": ["system:serviceaccounts"],
                } if ok else {},
            },
        }

    with json_server(respond) as base:
        state["url"] = base
        yield state


def _service_account_jwt() -> str:
    """A JWT shaped like a Kubernetes service-account token (Vault parses it before review)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        {
            "iss": "kubernetes/serviceaccount",
            "sub": f"system:serviceaccount:{K8S_NAMESPACE}:{K8S_ACCOUNT}",
            "kubernetes.io/serviceaccount/namespace": K8S_NAMESPACE,
            "kubernetes.io/serviceaccount/service-account.name": K8S_ACCOUNT,
            "kubernetes.io/serviceaccount/service-account.uid": "sa-uid-1",
        },
        key,
        algorithm="RS256",
    )


def test_kubernetes_auth_logs_in_with_the_service_account_token(
    clean_env: pytest.MonkeyPatch, vault_server: str, root: hvac.Client,  # noqa: F811
    secret_path: str, token_review_api: dict[str, Any], tmp_path: Path,
) -> None:
    _enable(root, "kubernetes")
    ca_pem, _, _ = make_ca_and_server_cert(tmp_path / "pki")  # a throwaway cluster CA
    root.auth.kubernetes.configure(
        kubernetes_host=token_review_api["url"],
        kubernetes_ca_cert=ca_pem,
        disable_local_ca_jwt=True,
    )
    root.auth.kubernetes.create_role(
        "attrition-serving", [K8S_ACCOUNT], [K8S_NAMESPACE], policies=["attrition-serving"]
    )
    sa_jwt = _service_account_jwt()
    token_review_api["jwt"] = sa_jwt
    token_file = tmp_path / "serviceaccount-token"
    token_file.write_text(sa_jwt + "\n")
    use_vault(
        clean_env, vault_server, secret_path, VAULT_AUTH_METHOD="kubernetes",
        VAULT_K8S_ROLE="attrition-serving", VAULT_K8S_TOKEN_PATH=str(token_file),
    )
    assert VaultSecrets().get("db_password") == "pw-v1"
    # Vault really asked the (stand-in) cluster to review the token the pod presented.
    review = token_review_api["reviews"][-1]
    assert review["path"] == "/apis/authentication.k8s.io/v1/tokenreviews"
    assert review["body"]["spec"]["token"] == sa_jwt

    token_file.write_text(_service_account_jwt())  # a token the cluster does not vouch for
    with pytest.raises(SecretError, match="login failed with VAULT_AUTH_METHOD=kubernetes"):
        VaultSecrets().get("db_password")


def test_kubernetes_auth_without_a_token_file_names_the_setting(
    clean_env: pytest.MonkeyPatch, vault_server: str, tmp_path: Path  # noqa: F811
) -> None:
    use_vault(
        clean_env, vault_server, "attrition/x", VAULT_AUTH_METHOD="kubernetes",
        VAULT_K8S_ROLE="r", VAULT_K8S_TOKEN_PATH=str(tmp_path / "absent"),
    )
    with pytest.raises(SecretError, match="VAULT_K8S_TOKEN_PATH"):
        VaultSecrets().get("db_password")


def test_a_revoked_login_token_is_replaced_by_a_fresh_login(
    clean_env: pytest.MonkeyPatch,
    vault_server: str,  # noqa: F811
    root: hvac.Client,
    secret_path: str,
) -> None:
    """A long-running pod outlives its Vault token: the next read logs in again."""
    _enable(root, "approle")
    root.auth.approle.create_or_update_approle("serving", token_policies=["attrition-serving"])
    role_id = root.auth.approle.read_role_id("serving")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("serving")["data"]["secret_id"]
    use_vault(
        clean_env, vault_server, secret_path, ATTRITION_SECRET_TTL_SECONDS="60",
        VAULT_AUTH_METHOD="approle", VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id,
    )
    clock = FakeClock()
    source = VaultSecrets(clock=clock)
    assert source.get("db_password") == "pw-v1"
    first_token = source._client.token if source._client else None
    assert first_token
    root.auth.token.revoke(first_token)
    clock.now += 61
    assert source.get("db_password") == "pw-v1"
    assert source._client is not None and source._client.token != first_token


# -- caching and rotation ----------------------------------------------------------------------
def test_a_rotated_secret_is_picked_up_after_the_ttl_and_not_before(
    clean_env: pytest.MonkeyPatch,
    vault_server: str,  # noqa: F811
    root: hvac.Client,
    secret_path: str,
) -> None:
    use_vault(clean_env, vault_server, secret_path, VAULT_TOKEN=ROOT_TOKEN,
              ATTRITION_SECRET_TTL_SECONDS="60")
    clock = FakeClock()
    source = VaultSecrets(clock=clock)
    assert source.get("db_password") == "pw-v1"
    root.secrets.kv.v2.create_or_update_secret(
        secret_path, secret={"db_password": "pw-v2"}, mount_point="secret"
    )
    clock.now += 59
    assert source.get("db_password") == "pw-v1"  # cached: no Vault round trip per request
    clock.now += 2
    assert source.get("db_password") == "pw-v2"
    assert source.get("s3_secret_key") is None  # the new version replaced the whole secret


# -- failures ----------------------------------------------------------------------------------
def test_vault_down_is_a_secret_error_naming_vault_addr(clean_env: pytest.MonkeyPatch) -> None:
    from attrition_platform_tests.serving.vault_server import _free_port_pair

    addr = f"http://127.0.0.1:{_free_port_pair()}"
    use_vault(clean_env, addr, "attrition/serving", VAULT_TOKEN="some-token-value")
    with pytest.raises(SecretError, match="VAULT_ADDR") as info:
        VaultSecrets().get("db_password")
    assert addr in str(info.value) and "some-token-value" not in str(info.value)


def test_a_missing_secret_path_names_the_settings(
    clean_env: pytest.MonkeyPatch, vault_server: str  # noqa: F811
) -> None:
    use_vault(clean_env, vault_server, "attrition/does-not-exist", VAULT_TOKEN=ROOT_TOKEN)
    with pytest.raises(SecretError, match="VAULT_SECRET_PATH"):
        VaultSecrets().get("db_password")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "VAULT_TOKEN"),
        ({"VAULT_AUTH_METHOD": "approle"}, "VAULT_ROLE_ID"),
        ({"VAULT_AUTH_METHOD": "kubernetes"}, "VAULT_K8S_ROLE"),
        ({"VAULT_AUTH_METHOD": "ldap"}, "VAULT_AUTH_METHOD"),
        (
            {"VAULT_TOKEN": "t", "ATTRITION_SECRET_TTL_SECONDS": "soon"},
            "ATTRITION_SECRET_TTL_SECONDS",
        ),
    ],
)
def test_incomplete_vault_settings_name_the_missing_variable(
    clean_env: pytest.MonkeyPatch, settings: dict[str, str], named: str
) -> None:
    use_vault(clean_env, "http://127.0.0.1:1", "attrition/serving", **settings)
    with pytest.raises(SecretError, match=named):
        VaultSecrets()


# -- environment default -----------------------------------------------------------------------
def test_without_vault_addr_secrets_come_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("ATTRITION_SECRET_DB_PASSWORD", "from-env")
    source = secret_source_from_env()
    assert isinstance(source, EnvSecrets)
    assert source.get("db_password") == "from-env"
    assert source.get("jwt_public_key") is None
    with pytest.raises(SecretError, match="lower-case"):
        source.get("DB-PASSWORD")


# -- the JWT key from Vault ----------------------------------------------------------------------
def test_a_jwt_public_key_read_from_vault_verifies_a_token(
    clean_env: pytest.MonkeyPatch, vault_server: str, root: hvac.Client  # noqa: F811
) -> None:
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    path = f"attrition/auth-{uuid.uuid4().hex[:8]}"
    root.secrets.kv.v2.create_or_update_secret(
        path, secret={"jwt_public_key": public_pem}, mount_point="secret"
    )
    use_vault(clean_env, vault_server, path, VAULT_TOKEN=ROOT_TOKEN)
    clean_env.setenv("ATTRITION_AUTH_ISSUER", "https://idp.example.test/")
    clean_env.setenv("ATTRITION_AUTH_AUDIENCE", "attrition-serving")
    clean_env.delenv("ATTRITION_AUTH_JWKS_URL", raising=False)
    clean_env.delenv("ATTRITION_AUTH_ALLOW_HS256", raising=False)
    settings = AuthSettings.from_env(secret_source_from_env())
    now = int(time.time())
    token = jwt.encode(
        {"iss": "https://idp.example.test/", "aud": "attrition-serving", "sub": "svc-portal",
         "iat": now, "exp": now + 60, "scope": "attrition:predict"},
        signing_key, algorithm="RS256",
    )
    principal = Authenticator(settings).authenticate(f"Bearer {token}", "attrition:predict")
    assert principal.subject == "svc-portal"
