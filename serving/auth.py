"""OAuth2 bearer-token checks for the serving API (PyJWT only, no web framework).

Every request pays for this, so keys are parsed once (a PEM key at construction, JWKS keys
through PyJWKClient's parsed-set cache) and verification is one `jwt.decode` call. The
algorithm is never taken from the token: it follows from the configured key (RSA → RS256,
EC P-256 → ES256), and HS256 is honoured only when explicitly allowed, with its own secret.
That closes `alg: none` and the HS/RS key-confusion attack by construction.

Error messages say what was wrong with the token ("expired", "wrong audience"), never its
content: tokens and their claims are credentials and personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

if TYPE_CHECKING:
    from serving.secrets import SecretSource

SCOPES = ("attrition:predict", "attrition:actions", "attrition:admin")
ADMIN_SCOPE = "attrition:admin"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
REALM = "attrition"
# Asymmetric algorithms a key may be used with; anything else in a JWKS is refused.
_ASYMMETRIC = ("RS256", "ES256")
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
_MIN_HS256_SECRET_BYTES = 32
# Three base64url segments (signature may be empty only to be refused later as alg none).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Far above any real access token; bounds the work an unauthenticated caller can cause.
_MAX_TOKEN_CHARS = 16_384
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class AuthError(Exception):
    """A request that may not proceed: 401 (no valid token) or 403 (valid, scope missing).

    `message` is safe to return to the caller and to log: it never holds token text or claim
    values. `www_authenticate` is the RFC 6750 header value the response must carry.
    """

    def __init__(
        self,
        status: Literal[401, 403],
        message: str,
        error: str | None = "invalid_token",
        scope: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        parts = [f'Bearer realm="{REALM}"']
        if error is not None:  # RFC 6750 §3.1: no error code when no credentials were sent
            parts.append(f'error="{error}"')
            parts.append(f'error_description="{message}"')
        if scope is not None:
            parts.append(f'scope="{scope}"')
        self.www_authenticate = ", ".join(parts)


class AuthConfigError(ValueError):
    """Authentication settings that cannot work; the message names the setting."""


@dataclass(frozen=True)
class Principal:
    """Who called, and what the token lets them do (admin already expanded to every scope)."""

    subject: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class AuthSettings:
    issuer: str
    audience: str
    jwks_url: str | None = None
    public_key_pem: str | None = None
    hs256_secret: str | None = None
    allow_hs256: bool = False
    leeway_seconds: int = 30
    jwks_cooldown_seconds: float = 30.0
    # How long a fetched key set is trusted; a key removed from the JWKS stops verifying
    # after this (PyJWKClient's per-kid LRU cache would trust it until evicted).
    jwks_lifespan_seconds: float = 300.0
    jwks_timeout_seconds: float = 5.0
    # A token verified once is trusted (expiry still checked) for this long without another
    # signature check: callers reuse one token for many requests. 0 disables the cache.
    token_cache_seconds: float = 60.0
    token_cache_size: int = 4096

    def __post_init__(self) -> None:
        if not self.issuer:
            raise AuthConfigError("ATTRITION_AUTH_ISSUER is empty: tokens must name their issuer")
        if not self.audience:
            raise AuthConfigError("ATTRITION_AUTH_AUDIENCE is empty: tokens must name this API")
        if self.leeway_seconds < 0:
            raise AuthConfigError("ATTRITION_AUTH_LEEWAY_SECONDS must be 0 or more")
        if self.jwks_cooldown_seconds < 0:
            raise AuthConfigError("ATTRITION_AUTH_JWKS_COOLDOWN_SECONDS must be 0 or more")
        if self.jwks_lifespan_seconds <= 0:
            raise AuthConfigError("ATTRITION_AUTH_JWKS_LIFESPAN_SECONDS must be more than 0")
        if self.token_cache_seconds < 0 or self.token_cache_size < 0:
            raise AuthConfigError("ATTRITION_AUTH_TOKEN_CACHE_SECONDS/_SIZE must be 0 or more")
        if self.jwks_url is not None and not re.match(r"^https?://", self.jwks_url):
            raise AuthConfigError("ATTRITION_AUTH_JWKS_URL must be an http(s) URL")
        if self.allow_hs256 and self.hs256_secret is not None:
            if len(self.hs256_secret.encode()) < _MIN_HS256_SECRET_BYTES:
                raise AuthConfigError(
                    f"secret jwt_hs256_secret is shorter than {_MIN_HS256_SECRET_BYTES} bytes"
                )
        hs_usable = self.allow_hs256 and bool(self.hs256_secret)
        if not (self.jwks_url or self.public_key_pem or hs_usable):
            raise AuthConfigError(
                "no token verification key: set ATTRITION_AUTH_JWKS_URL, or the secret "
                "jwt_public_key, or (local use only) ATTRITION_AUTH_ALLOW_HS256=true with the "
                "secret jwt_hs256_secret"
            )

    @classmethod
    def from_env(cls, secrets: SecretSource) -> AuthSettings:
        """Settings from ATTRITION_AUTH_* variables, keys from the secret source (Vault or env).

        HS256 is refused outright when ATTRITION_ENV=prod: a shared secret is a development
        convenience, not a production trust model.
        """
        env = os.environ
        issuer = env.get("ATTRITION_AUTH_ISSUER", "").strip()
        audience = env.get("ATTRITION_AUTH_AUDIENCE", "").strip()
        if not issuer:
            raise AuthConfigError("ATTRITION_AUTH_ISSUER is not set")
        if not audience:
            raise AuthConfigError("ATTRITION_AUTH_AUDIENCE is not set")
        allow_hs256 = _env_bool("ATTRITION_AUTH_ALLOW_HS256", False)
        if allow_hs256 and env.get("ATTRITION_ENV", "local").strip().lower() == "prod":
            raise AuthConfigError(
                "ATTRITION_AUTH_ALLOW_HS256 must not be true when ATTRITION_ENV=prod"
            )
        return cls(
            issuer=issuer,
            audience=audience,
            jwks_url=env.get("ATTRITION_AUTH_JWKS_URL", "").strip() or None,
            public_key_pem=secrets.get("jwt_public_key") or None,
            hs256_secret=(secrets.get("jwt_hs256_secret") or None) if allow_hs256 else None,
            allow_hs256=allow_hs256,
            leeway_seconds=int(_env_number("ATTRITION_AUTH_LEEWAY_SECONDS", 30)),
            jwks_cooldown_seconds=_env_number("ATTRITION_AUTH_JWKS_COOLDOWN_SECONDS", 30.0),
            jwks_lifespan_seconds=_env_number("ATTRITION_AUTH_JWKS_LIFESPAN_SECONDS", 300.0),
            jwks_timeout_seconds=_env_number("ATTRITION_AUTH_JWKS_TIMEOUT_SECONDS", 5.0),
            token_cache_seconds=_env_number("ATTRITION_AUTH_TOKEN_CACHE_SECONDS", 60.0),
            token_cache_size=int(_env_number("ATTRITION_AUTH_TOKEN_CACHE_SIZE", 4096)),
        )


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise AuthConfigError(f"{name} must be true or false, not {raw!r}")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise AuthConfigError(f"{name} must be a number, not {raw!r}") from None


def _algorithm_for(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise AuthConfigError("jwt_public_key: RSA keys must be at least 2048 bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise AuthConfigError("jwt_public_key must be an RSA (2048+ bits) or EC P-256 public key")


class Authenticator:
    """Verifies `Authorization: Bearer <jwt>` headers against one AuthSettings; thread-safe."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._pem_key: Any = None
        self._pem_algorithm: str | None = None
        if settings.public_key_pem:
            try:
                self._pem_key = load_pem_public_key(settings.public_key_pem.encode())
            except (ValueError, TypeError):
                raise AuthConfigError("jwt_public_key is not a PEM public key") from None
            self._pem_algorithm = _algorithm_for(self._pem_key)
        self._hs_secret = settings.hs256_secret if settings.allow_hs256 else None
        self._jwks: jwt.PyJWKClient | None = None
        if settings.jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.jwks_url,
                cache_keys=False,  # the parsed-set cache below expires; the per-kid LRU never does
                cache_jwk_set=True,
                lifespan=settings.jwks_lifespan_seconds,
                cooldown_duration=settings.jwks_cooldown_seconds,
                timeout=settings.jwks_timeout_seconds,
            )
        self._decoder = jwt.PyJWT()
        # token -> (principal, exp, trusted-until on the monotonic clock); bounded, FIFO-evicted
        self._verified: dict[str, tuple[Principal, float, float]] = {}
        self._cache_lock = threading.Lock()

    def warm(self) -> None:
        """Fetch the JWKS now (at startup) so the first request does not pay for it."""
        if self._jwks is not None:
            try:
                self._jwks.get_signing_keys()
            except jwt.PyJWTError:
                raise AuthConfigError(
                    "ATTRITION_AUTH_JWKS_URL did not serve a usable key set"
                ) from None

    def authenticate(self, authorization: str | None, scope: str) -> Principal:
        """The caller behind an Authorization header, if it may use `scope`; else AuthError."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
        token = _bearer_token(authorization)
        principal = self._cached(token)
        if principal is None:
            claims = self._verified_claims(token)
            principal = _principal(claims)
            self._remember(token, principal, float(claims["exp"]))
        if not principal.has(scope):
            raise AuthError(403, f"token lacks scope {scope}", "insufficient_scope", scope=scope)
        return principal

    def _cached(self, token: str) -> Principal | None:
        entry = self._verified.get(token)
        if entry is None:
            return None
        principal, exp, trusted_until = entry
        fresh = time.monotonic() < trusted_until
        if fresh and time.time() <= exp + self.settings.leeway_seconds:
            return principal
        with self._cache_lock:
            self._verified.pop(token, None)
        return None  # verify again: an expired token gets its proper 401 from PyJWT

    def _remember(self, token: str, principal: Principal, exp: float) -> None:
        if self.settings.token_cache_seconds <= 0 or self.settings.token_cache_size <= 0:
            return
        with self._cache_lock:
            while len(self._verified) >= self.settings.token_cache_size:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (
                principal, exp, time.monotonic() + self.settings.token_cache_seconds
            )

    def _verified_claims(self, token: str) -> dict[str, Any]:
        header = _unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256":
            if self._hs_secret is None:
                raise AuthError(401, "token algorithm not accepted")
            key: Any = self._hs_secret
        elif alg in _ASYMMETRIC:
            key, expected = self._asymmetric_key(header)
            if alg != expected:  # e.g. an ES256 header against an RSA key
                raise AuthError(401, "token algorithm does not match its key")
        else:  # "none", HS384, PS256, missing...: never negotiated from the token
            raise AuthError(401, "token algorithm not accepted")
        try:
            return self._decoder.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, "token audience is not this API") from None
        except jwt.InvalidIssuerError:
            raise AuthError(401, "token issuer not trusted") from None
        except jwt.InvalidSignatureError:
            raise AuthError(401, "token signature invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            # the claim's NAME is ours (REQUIRED_CLAIMS), not caller data
            name = exc.claim if exc.claim in REQUIRED_CLAIMS else "a required claim"
            raise AuthError(401, f"token lacks claim {name}") from None
        except jwt.ImmatureSignatureError:
            raise AuthError(401, "token not yet valid") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(401, "token algorithm not accepted") from None
        except jwt.DecodeError:
            raise AuthError(401, "malformed token") from None
        except jwt.PyJWTError:  # InvalidKeyError and friends are not InvalidTokenError
            raise AuthError(401, "invalid token") from None
        except (TypeError, ValueError):  # PyJWT's reaction to a key of the wrong kind
            raise AuthError(401, "invalid token") from None

    def _asymmetric_key(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        kid = header.get("kid")
        if self._jwks is not None and isinstance(kid, str) and kid:
            try:
                jwk = self._jwks.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError:
                raise AuthError(401, "signing keys unavailable") from None
            except jwt.PyJWTError:
                raise AuthError(401, "token key id unknown") from None
            if jwk.algorithm_name not in _ASYMMETRIC:
                raise AuthError(401, "token key algorithm not accepted")
            return jwk.key, jwk.algorithm_name
        if self._pem_key is not None and self._pem_algorithm is not None:
            return self._pem_key, self._pem_algorithm
        if self._jwks is not None:
            raise AuthError(401, "token has no key id")
        raise AuthError(401, "token algorithm not accepted")


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise AuthError(401, "bearer token required", error=None)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError(401, "authorization scheme must be Bearer", "invalid_request")
    token = token.strip()
    if len(token) > _MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise AuthError(401, "malformed token")
    return token


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, decoded once here (PyJWT's own parse is per-character Python)."""
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise AuthError(401, "malformed token") from None
    if not isinstance(header, dict):
        raise AuthError(401, "malformed token")
    return header


def _principal(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise AuthError(401, "token subject must be a non-empty string")
    scopes: set[str] = set()
    scope_claim = claims.get("scope")
    if isinstance(scope_claim, str):
        scopes.update(scope_claim.split())
    elif scope_claim is not None:
        raise AuthError(401, "token scope claim must be a space-separated string")
    scp_claim = claims.get("scp")
    if isinstance(scp_claim, str):
        scopes.update(scp_claim.split())
    elif isinstance(scp_claim, list) and all(isinstance(s, str) for s in scp_claim):
        scopes.update(scp_claim)
    elif scp_claim is not None:
        raise AuthError(401, "token scp claim must be a list of strings")
    if ADMIN_SCOPE in scopes:
        scopes.update(SCOPES)
    return Principal(subject=subject, scopes=frozenset(scopes))
