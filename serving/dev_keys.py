"""Development signing keys: `attrition token` mints with them, a local `attrition serve`
trusts them.

A real RSA keypair (RS256, like production) rather than a shared HS256 secret, so a local
service exercises the same verification path as a deployed one. The keys live in the data
directory (ATTRITION_HOME/secrets/), are created once, and are refused in production mode
(ATTRITION_ENV=prod): there, tokens come from the identity provider, never from this file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from serving.auth import SCOPES, AuthSettings

DEV_ISSUER = "attrition-dev"
DEV_AUDIENCE = "attrition-serving"
PRIVATE_KEY_FILE = "dev_jwt_private.pem"
PUBLIC_KEY_FILE = "dev_jwt_public.pem"
MAX_TTL_SECONDS = 24 * 3600


class ProductionModeError(Exception):
    """Development keys were asked for while ATTRITION_ENV=prod."""


def _refuse_in_production(what: str) -> None:
    if os.environ.get("ATTRITION_ENV", "local").strip().lower() == "prod":
        raise ProductionModeError(
            f"{what} uses development keys, which are refused when ATTRITION_ENV=prod; "
            "tokens must come from the identity provider"
        )


def _write_once(path: Path, data: bytes, mode: int) -> None:
    """Create `path` atomically with `mode`, unless another process got there first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if it exists: the first writer wins, no torn file
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def ensure_dev_keypair(directory: Path) -> tuple[Path, Path]:
    """The (private, public) PEM paths in `directory`, generating an RSA-2048 pair once.

    The directory is made 0700 and the private key 0600. Safe when `attrition serve` and
    `attrition token` race to create it: both end up with the same pair.
    """
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_once(private_path, pem, 0o600)
    if not public_path.exists():
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), None)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_once(public_path, public_pem, 0o644)
    return private_path, public_path


def key_id(public_pem: bytes) -> str:
    """RFC 7638 JWK thumbprint of an RSA public key: a stable kid that names the key itself."""
    public_key = serialization.load_pem_public_key(public_pem)
    numbers = public_key.public_numbers()  # type: ignore[union-attr]

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_dev_token(
    directory: Path,
    scopes: Sequence[str],
    subject: str = "dev-user",
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    ttl_seconds: int = 3600,
) -> str:
    """A short-lived RS256 token signed with the development key (kid = key thumbprint)."""
    _refuse_in_production("attrition token")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {' '.join(unknown)}; known: {' '.join(SCOPES)}")
    if not subject:
        raise ValueError("subject must not be empty")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
    private_path, public_path = ensure_dev_keypair(directory)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(dict.fromkeys(scopes)),
    }
    private_key = serialization.load_pem_private_key(private_path.read_bytes(), None)
    return jwt.encode(
        claims,
        private_key,  # type: ignore[arg-type]
        algorithm="RS256",
        headers={"kid": key_id(public_path.read_bytes())},
    )


def dev_auth_settings(directory: Path) -> AuthSettings:
    """Settings that trust exactly the development key (RS256 only, no HS256, no JWKS)."""
    _refuse_in_production("a service trusting development tokens")
    _, public_path = ensure_dev_keypair(directory)
    return AuthSettings(
        issuer=DEV_ISSUER, audience=DEV_AUDIENCE, public_key_pem=public_path.read_text()
    )
