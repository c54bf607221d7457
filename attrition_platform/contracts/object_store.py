"""The published location on S3 (or any S3-compatible store): `s3://bucket/prefix`.

`S3Store` gives published.py the same five operations a directory gives it, over a boto3 S3
client — the client dagster-aws's `S3Resource.get_client()` returns on the graph's side, or the
one `s3_client_from_env` builds from the lake's storage options on serving's side. S3 makes
each PUT atomic (a reader sees the old object or the new one, never a mix), which is all the
publication protocol asks of a store: CURRENT is replaced by one PUT.

Every failure of the store becomes a `PublicationError` that names the `s3://` location, the
key and the problem (no such bucket, access denied, endpoint unreachable), never a traceback
and never a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from attrition_platform.contracts.published import PublicationError, check_key
from attrition_platform.contracts.storage_options import (
    ACCESS_KEY_ID,
    ALLOW_HTTP,
    DEFAULT_REGION,
    ENDPOINT,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    allows_http,
    storage_options_from_env,
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's naming rule
LIST_PAGE_SIZE = 1000  # S3's own maximum per ListObjectsV2 page
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; the prefix is "" or ends with "/"."""
    if not uri.startswith("s3://"):
        raise PublicationError(f"{uri}: not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise PublicationError(f"{uri}: names no bucket (expected s3://bucket/prefix)")
    if not _BUCKET_RE.match(bucket):
        raise PublicationError(f"{uri}: bucket {bucket!r} is not a valid S3 bucket name")
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix)
    return bucket, f"{prefix}/" if prefix else ""


class S3Store:
    """A bucket prefix as the `Store` of published.py; `client` is any boto3-compatible S3
    client (get_object, put_object, list_objects_v2 and its paginator)."""

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, page_size: int = LIST_PAGE_SIZE
    ) -> None:
        self.client = client
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.page_size = page_size

    @classmethod
    def from_uri(cls, uri: str, client: Any) -> S3Store:
        bucket, prefix = parse_s3_uri(uri)
        return cls(client, bucket, prefix)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def read_bytes(self, key: str) -> bytes | None:
        full = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            return bytes(response["Body"].read())
        except Exception as exc:  # noqa: BLE001 - botocore's errors, told apart by _error_code
            if _error_code(exc) in _MISSING:
                return None
            raise self._error("reading", key, exc) from None

    def write_bytes(self, key: str, data: bytes) -> None:
        """One PUT: S3 never shows a reader part of an object."""
        full = self._key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
        except Exception as exc:  # noqa: BLE001
            raise self._error("writing", key, exc) from None

    def exists(self, key: str) -> bool:
        """A one-key listing rather than HEAD: a HEAD's 404 has no body, so it cannot tell a
        missing key from a missing bucket; a listing names the bucket."""
        full = self._key(key)
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full, MaxKeys=1)
        except Exception as exc:  # noqa: BLE001
            raise self._error("checking", key, exc) from None
        return any(item["Key"] == full for item in page.get("Contents", ()))

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix` (relative to the store), over as many pages as it takes."""
        full = self.prefix + prefix
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                found.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        except Exception as exc:  # noqa: BLE001
            raise self._error("listing", prefix, exc) from None
        return sorted(found)

    def _error(self, action: str, key: str, exc: Exception) -> PublicationError:
        """The location, the key and the problem; botocore's own text is left out (it can
        carry request details), and so is every credential."""
        return PublicationError(f"{self.describe()}{key}: {action} failed: {self._problem(exc)}")

    def _problem(self, exc: Exception) -> str:
        code = _error_code(exc)
        kind = type(exc).__name__
        if code == "NoSuchBucket":
            return f"bucket {self.bucket} does not exist"
        if code in _DENIED:
            return (f"access denied ({code}): check the credentials ({ACCESS_KEY_ID}/"
                    f"{SECRET_ACCESS_KEY}, or the Vault secrets aws_access_key_id/"
                    f"aws_secret_access_key) and the bucket policy")
        if code is not None:
            return f"S3 answered {code}"
        if kind == "NoCredentialsError":
            return (f"no credentials found ({ACCESS_KEY_ID}/{SECRET_ACCESS_KEY}, Vault or an "
                    "instance role)")
        if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
                    "ReadTimeoutError", "ProxyConnectionError", "SSLError"):
            endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", "?")
            return f"endpoint {endpoint} cannot be reached ({kind})"
        return kind


def _error_code(exc: Exception) -> str | None:
    """The S3 error code of a botocore ClientError (duck-typed: no botocore import needed)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def s3_client_from_env(options: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client from the storage options (`storage_options_from_env()` when None).

    Missing keys fall back to boto3's own credential chain, as they do for deltalake. A custom
    endpoint is addressed path-style (bucket in the path), as deltalake does by default, and a
    plain-http endpoint is refused unless AWS_ALLOW_HTTP=true — the rule deltalake applies, so
    the lake and the published location fail or work together.
    """
    opts = dict(storage_options_from_env() if options is None else options)
    endpoint = opts.get(ENDPOINT) or None
    if endpoint and endpoint.startswith("http://") and not allows_http(opts):
        raise PublicationError(f"{ENDPOINT}={endpoint}: plain http needs {ALLOW_HTTP}=true")
    import boto3  # the serving extra has it; imported here so the bundle reader does not pay for it
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=opts.get(REGION) or DEFAULT_REGION,
        aws_access_key_id=opts.get(ACCESS_KEY_ID) or None,
        aws_secret_access_key=opts.get(SECRET_ACCESS_KEY) or None,
        aws_session_token=opts.get(SESSION_TOKEN) or None,
        config=config,
    )
