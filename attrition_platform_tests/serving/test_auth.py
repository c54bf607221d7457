"""The bearer-token rules, against a real JWKS endpoint on loopback and real RSA/EC keys."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from attrition_platform_tests.loopback import json_server
from serving.auth import (
    SCOPES,
    AuthConfigError,
    AuthError,
    AuthSettings,
    Authenticator,
    Principal,
)
from serving.dev_keys import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    ProductionModeError,
    dev_auth_settings,
    ensure_dev_keypair,
    mint_dev_token,
)

ISSUER = "https://idp.example.test/"
AUDIENCE = "attrition-serving"
PREDICT, ACTIONS, ADMIN = SCOPES
HS_SECRET = "a-local-only-shared-secret-of-32-bytes-or-more"


@dataclass
class JwksServer:
    """A JWKS endpoint whose key set the test can change, counting the fetches it answers."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: Any) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
        "kid": kid, "alg": "RS256", "use": "sig",
    }


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
        "kid": kid, "alg": "ES256", "use": "sig",
    }


@pytest.fixture()
def jwks(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[JwksServer]:
    state = JwksServer(url="")
    state.keys = [rsa_jwk(rsa_key, "rsa-1"), ec_jwk(ec_key, "ec-1")]

    def respond(method: str, path: str, body: Any) -> tuple[int, Any]:
        state.fetches += 1
        return 200, {"keys": state.keys}

    with json_server(respond) as base:
        state.url = f"{base}/.well-known/jwks.json"
        yield state


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "manager-42", "iat": now, "exp": now + 300,
        "scope": PREDICT,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, alg: str, kid: str | None, **overrides: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def jwks_auth(jwks: JwksServer, **settings: Any) -> Authenticator:
    return Authenticator(
        AuthSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, **settings)
    )


def refused(auth: Authenticator, header: str | None, scope: str = PREDICT) -> AuthError:
    with pytest.raises(AuthError) as info:
        auth.authenticate(header, scope)
    return info.value


# -- accepted ----------------------------------------------------------------------------------
def test_valid_rs256_and_es256_tokens_from_the_jwks_give_the_principal(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    auth = jwks_auth(jwks)
    both = f"{PREDICT} {ACTIONS}"
    rs = auth.authenticate(bearer(sign(rsa_key, "RS256", "rsa-1", scope=both)), ACTIONS)
    es = auth.authenticate(bearer(sign(ec_key, "ES256", "ec-1")), PREDICT)
    assert rs == Principal("manager-42", frozenset({PREDICT, ACTIONS}))
    assert es == Principal("manager-42", frozenset({PREDICT}))


def test_scp_list_claim_grants_scopes_like_the_scope_string(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = sign(rsa_key, "RS256", "rsa-1", scope=None, scp=[ACTIONS])
    assert jwks_auth(jwks).authenticate(bearer(token), ACTIONS).scopes == {ACTIONS}


def test_jwks_keys_are_cached_across_requests(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = jwks_auth(jwks)
    token = bearer(sign(rsa_key, "RS256", "rsa-1"))
    for _ in range(20):
        auth.authenticate(token, PREDICT)
    assert jwks.fetches == 1


def test_a_public_key_pem_verifies_without_a_jwks(ec_key: ec.EllipticCurvePrivateKey) -> None:
    auth = Authenticator(AuthSettings(ISSUER, AUDIENCE, public_key_pem=public_pem(ec_key)))
    assert auth.authenticate(bearer(sign(ec_key, "ES256", None)), PREDICT).subject == "manager-42"


def test_admin_scope_implies_every_scope(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = jwks_auth(jwks)
    token = bearer(sign(rsa_key, "RS256", "rsa-1", scope=ADMIN))
    for scope in SCOPES:
        assert auth.authenticate(token, scope).has(scope)


def test_hs256_is_accepted_only_when_explicitly_allowed() -> None:
    auth = Authenticator(AuthSettings(ISSUER, AUDIENCE, hs256_secret=HS_SECRET, allow_hs256=True))
    token = bearer(sign(HS_SECRET, "HS256", None))
    assert auth.authenticate(token, PREDICT).subject == "manager-42"


# -- refused: 401 ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "bearer token required"),
        ("", "bearer token required"),
        ("Basic dXNlcjpwYXNz", "authorization scheme must be Bearer"),
        ("Bearer", "malformed token"),
        ("Bearer not-a-jwt", "malformed token"),
        ("Bearer aaa.bbb.ccc", "malformed token"),
        ("Bearer a b", "malformed token"),
        ("Bearer " + "a" * 20_000 + ".b.c", "malformed token"),
    ],
)
def test_missing_or_malformed_authorization_is_401(
    jwks: JwksServer, header: str | None, message: str
) -> None:
    error = refused(jwks_auth(jwks), header)
    assert (error.status, error.message) == (401, message)
    assert error.www_authenticate.startswith('Bearer realm="attrition"')


def test_missing_header_challenge_carries_no_error_code(jwks: JwksServer) -> None:
    """RFC 6750 §3.1: a request without credentials gets a bare challenge."""
    assert refused(jwks_auth(jwks), None).www_authenticate == 'Bearer realm="attrition"'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"iss": "https://evil.example.test/"}, "token issuer not trusted"),
        ({"aud": "some-other-api"}, "token audience is not this API"),
        ({"sub": None}, "token lacks claim sub"),
        ({"iat": None}, "token lacks claim iat"),
        ({"exp": None}, "token lacks claim exp"),
        ({"aud": None}, "token lacks claim aud"),
        ({"iss": None}, "token lacks claim iss"),
        ({"sub": ""}, "token subject must be a non-empty string"),
        ({"iat": int(time.time()) + 3600}, "token not yet valid"),
    ],
)
def test_bad_claims_are_401(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, overrides: dict[str, Any], message: str
) -> None:
    error = refused(jwks_auth(jwks), bearer(sign(rsa_key, "RS256", "rsa-1", **overrides)))
    assert (error.status, error.message) == (401, message)
    assert 'error="invalid_token"' in error.www_authenticate


def test_a_token_signed_by_another_key_is_401(jwks: JwksServer) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = refused(jwks_auth(jwks), bearer(sign(impostor, "RS256", "rsa-1")))
    assert (error.status, error.message) == (401, "token signature invalid")


def test_a_tampered_payload_is_401(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    head, _, sig = sign(rsa_key, "RS256", "rsa-1").split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(scope=ADMIN)).encode()).rstrip(b"=")
    error = refused(jwks_auth(jwks), bearer(f"{head}.{forged.decode()}.{sig}"), ADMIN)
    assert (error.status, error.message) == (401, "token signature invalid")


def test_alg_none_is_401(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": "rsa-1"})
    error = refused(jwks_auth(jwks), bearer(unsigned))
    assert (error.status, error.message) == (401, "token algorithm not accepted")
    pem_auth = Authenticator(AuthSettings(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key)))
    assert refused(pem_auth, bearer(jwt.encode(claims(), None, algorithm="none"))).status == 401


def test_hs256_signed_with_the_rsa_public_key_is_401(rsa_key: rsa.RSAPrivateKey) -> None:
    """Key confusion: the attacker knows the public key and uses it as an HMAC secret."""
    pem = public_pem(rsa_key)
    import hmac, hashlib  # noqa: E401  (PyJWT itself refuses to HMAC with a PEM key)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}." + b64(
        json.dumps(claims(scope=ADMIN)).encode()
    )
    mac = hmac.new(pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    for allow in (False, True):  # even with HS256 enabled, the public key is never its secret
        auth = Authenticator(
            AuthSettings(
                ISSUER, AUDIENCE, public_key_pem=pem, hs256_secret=HS_SECRET, allow_hs256=allow
            )
        )
        error = refused(auth, bearer(forged), ADMIN)
        assert error.status == 401
        assert error.message in {"token algorithm not accepted", "token signature invalid"}


def test_hs256_is_401_when_not_allowed(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(
        AuthSettings(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key), hs256_secret=HS_SECRET)
    )
    error = refused(auth, bearer(sign(HS_SECRET, "HS256", None)))
    assert (error.status, error.message) == (401, "token algorithm not accepted")


def test_es256_header_against_an_rsa_key_is_401(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    auth = Authenticator(AuthSettings(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key)))
    error = refused(auth, bearer(sign(ec_key, "ES256", None)))
    assert (error.status, error.message) == (401, "token algorithm does not match its key")


def test_unknown_kid_is_401_after_one_refetch(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = jwks_auth(jwks, jwks_cooldown_seconds=0)
    error = refused(auth, bearer(sign(rsa_key, "RS256", "no-such-kid")))
    assert (error.status, error.message) == (401, "token key id unknown")
    assert jwks.fetches == 2  # the first fetch, then exactly one refetch for the unknown kid


def test_a_rotated_key_is_accepted_once_the_jwks_serves_it(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = jwks_auth(jwks, jwks_cooldown_seconds=0)
    assert auth.authenticate(bearer(sign(rsa_key, "RS256", "rsa-1")), PREDICT)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated = bearer(sign(new_key, "RS256", "rsa-2"))
    assert refused(auth, rotated).message == "token key id unknown"
    jwks.keys = [rsa_jwk(new_key, "rsa-2")]
    assert auth.authenticate(rotated, PREDICT).subject == "manager-42"


def test_a_key_removed_from_the_jwks_stops_verifying_after_the_lifespan(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = jwks_auth(
        jwks, jwks_cooldown_seconds=0, jwks_lifespan_seconds=0.2, token_cache_seconds=0
    )
    token = bearer(sign(rsa_key, "RS256", "rsa-1"))
    assert auth.authenticate(token, PREDICT)
    jwks.keys = [k for k in jwks.keys if k["kid"] != "rsa-1"]
    time.sleep(0.3)
    assert refused(auth, token).message == "token key id unknown"


def test_an_unreachable_jwks_is_401_not_a_crash(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(
        AuthSettings(
            ISSUER, AUDIENCE, jwks_url="http://127.0.0.1:9/jwks.json", jwks_timeout_seconds=1
        )
    )
    error = refused(auth, bearer(sign(rsa_key, "RS256", "rsa-1")))
    assert (error.status, error.message) == (401, "signing keys unavailable")


def test_leeway_accepts_a_token_expired_within_it_only(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = bearer(sign(rsa_key, "RS256", "rsa-1", exp=int(time.time()) - 10))
    assert jwks_auth(jwks, leeway_seconds=30).authenticate(token, PREDICT)
    assert refused(jwks_auth(jwks, leeway_seconds=0), token).message == "token expired"


# -- the verified-token cache -------------------------------------------------------------------
def test_a_cached_token_is_refused_once_it_expires(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    # `exp` is whole seconds: +1 could leave a few milliseconds, less than a loaded machine
    # needs for the first (JWKS-fetching) check; +3 leaves two seconds at least.
    exp = int(time.time()) + 3
    token = bearer(sign(rsa_key, "RS256", "rsa-1", exp=exp))
    auth = jwks_auth(jwks, leeway_seconds=0, token_cache_seconds=600)
    assert auth.authenticate(token, PREDICT)
    assert auth.authenticate(token, PREDICT)  # from the cache
    while time.time() <= exp + 0.05:
        time.sleep(0.05)
    assert refused(auth, token).message == "token expired"


def test_a_cached_token_still_gets_403_for_a_scope_it_lacks(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = jwks_auth(jwks)
    token = bearer(sign(rsa_key, "RS256", "rsa-1"))
    assert auth.authenticate(token, PREDICT)
    assert refused(auth, token, ACTIONS).status == 403


def test_the_token_cache_is_bounded(jwks: JwksServer, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = jwks_auth(jwks, token_cache_size=3)
    for n in range(10):
        auth.authenticate(bearer(sign(rsa_key, "RS256", "rsa-1", sub=f"user-{n}")), PREDICT)
    assert len(auth._verified) == 3


# -- refused: 403 ------------------------------------------------------------------------------
def test_a_valid_token_without_the_scope_is_403(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    error = refused(jwks_auth(jwks), bearer(sign(rsa_key, "RS256", "rsa-1")), ACTIONS)
    assert (error.status, error.message) == (403, f"token lacks scope {ACTIONS}")
    assert 'error="insufficient_scope"' in error.www_authenticate
    assert f'scope="{ACTIONS}"' in error.www_authenticate


def test_a_scope_that_only_looks_like_one_grants_nothing(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = bearer(sign(rsa_key, "RS256", "rsa-1", scope="attrition:predictx attrition:*"))
    assert refused(jwks_auth(jwks), token).status == 403


# -- never leak the token ----------------------------------------------------------------------
def test_error_messages_hold_no_token_or_claim_text(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    secret_subject = "jane.doe.ssn-123-45-6789"
    tokens = [
        sign(rsa_key, "RS256", "rsa-1", sub=secret_subject, exp=int(time.time()) - 3600),
        sign(rsa_key, "RS256", "rsa-1", sub=secret_subject, aud="evil-aud-value"),
        sign(rsa_key, "RS256", "kid-" + secret_subject),
        sign(rsa_key, "RS256", "rsa-1", sub=secret_subject, scope="x"),
        "junk.garbage-" + secret_subject,
    ]
    auth = jwks_auth(jwks)
    for token in tokens:
        error = refused(auth, bearer(token))
        for text in (error.message, error.www_authenticate, str(error)):
            assert token not in text
            for part in token.split("."):
                assert part not in text
            assert secret_subject not in text and "evil-aud-value" not in text


# -- settings ----------------------------------------------------------------------------------
def test_settings_without_any_key_are_refused() -> None:
    with pytest.raises(AuthConfigError, match="no token verification key"):
        AuthSettings(ISSUER, AUDIENCE, hs256_secret=HS_SECRET)  # HS256 not allowed: no key


def test_a_short_hs256_secret_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="shorter than 32 bytes"):
        AuthSettings(ISSUER, AUDIENCE, hs256_secret="short", allow_hs256=True)


def test_unknown_scope_asked_by_the_app_is_a_programming_error(jwks: JwksServer) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        jwks_auth(jwks).authenticate("Bearer x.y.z", "attrition:everything")


def test_from_env_reads_the_auth_variables_and_refuses_hs256_in_prod(
    monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey
) -> None:
    monkeypatch.setenv("ATTRITION_AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("ATTRITION_AUTH_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("ATTRITION_AUTH_LEEWAY_SECONDS", "5")
    monkeypatch.setenv("ATTRITION_SECRET_JWT_PUBLIC_KEY", public_pem(rsa_key))
    monkeypatch.setenv("ATTRITION_SECRET_JWT_HS256_SECRET", HS_SECRET)
    from serving.secrets import EnvSecrets

    settings = AuthSettings.from_env(EnvSecrets())
    assert (settings.issuer, settings.audience, settings.leeway_seconds) == (ISSUER, AUDIENCE, 5)
    assert settings.hs256_secret is None and not settings.allow_hs256
    assert Authenticator(settings).authenticate(bearer(sign(rsa_key, "RS256", None)), PREDICT)
    monkeypatch.setenv("ATTRITION_AUTH_ALLOW_HS256", "true")
    assert AuthSettings.from_env(EnvSecrets()).hs256_secret == HS_SECRET
    monkeypatch.setenv("ATTRITION_ENV", "prod")
    with pytest.raises(AuthConfigError, match="ATTRITION_AUTH_ALLOW_HS256"):
        AuthSettings.from_env(EnvSecrets())
    monkeypatch.delenv("ATTRITION_AUTH_ISSUER")
    with pytest.raises(AuthConfigError, match="ATTRITION_AUTH_ISSUER is not set"):
        AuthSettings.from_env(EnvSecrets())


# -- development keys --------------------------------------------------------------------------
def test_a_minted_dev_token_verifies_with_the_dev_settings(tmp_path: Path) -> None:
    keys = tmp_path / "secrets"
    token = mint_dev_token(keys, [PREDICT, ACTIONS], subject="dev-alice")
    principal = Authenticator(dev_auth_settings(keys)).authenticate(bearer(token), ACTIONS)
    assert principal == Principal("dev-alice", frozenset({PREDICT, ACTIONS}))
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["iss"], payload["aud"]) == (DEV_ISSUER, DEV_AUDIENCE)


def test_dev_keys_are_created_once_with_a_private_key_only_the_owner_reads(tmp_path: Path) -> None:
    private, public = ensure_dev_keypair(tmp_path / "secrets")
    first = private.read_bytes()
    assert ensure_dev_keypair(tmp_path / "secrets") == (private, public)
    assert private.read_bytes() == first
    assert private.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets").stat().st_mode & 0o077 == 0


def test_a_dev_token_is_refused_by_a_service_with_other_keys(tmp_path: Path) -> None:
    token = mint_dev_token(tmp_path / "a", [PREDICT])
    error = refused(Authenticator(dev_auth_settings(tmp_path / "b")), bearer(token))
    assert (error.status, error.message) == (401, "token signature invalid")


def test_a_dev_token_without_the_scope_is_403(tmp_path: Path) -> None:
    token = mint_dev_token(tmp_path, [PREDICT])
    assert refused(Authenticator(dev_auth_settings(tmp_path)), bearer(token), ACTIONS).status == 403


def test_dev_keys_are_refused_in_production_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTRITION_ENV", "prod")
    with pytest.raises(ProductionModeError, match="ATTRITION_ENV=prod"):
        mint_dev_token(tmp_path, [PREDICT])
    with pytest.raises(ProductionModeError):
        dev_auth_settings(tmp_path)
    assert not (tmp_path / "dev_jwt_private.pem").exists()


def test_minting_an_unknown_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        mint_dev_token(tmp_path, ["attrition:root"])


# -- install footprint -------------------------------------------------------------------------
def test_security_modules_import_nothing_of_the_platform_stack() -> None:
    """The serving image has no Dagster, MLflow, pandas or pyarrow: these modules need none."""
    import subprocess
    import sys

    code = (
        "import sys, serving.auth, serving.secrets, serving.dev_keys\n"
        "heavy = {'dagster', 'mlflow', 'pandas', 'pyarrow', 'litestar'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
