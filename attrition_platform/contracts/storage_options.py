"""Object-store settings in one place: the AWS_* variables both Delta Lake and the published
location read.

One dict feeds deltalake's `storage_options` (the lake: employee_features, prediction_log,
action_log) and the boto3 client of the published location (`s3://` bundles and scores), so
the two can never disagree about the endpoint or the credentials. The keys are the variable
names, which is what deltalake (object_store) expects.

Variables (read at call time; none is needed for a local directory):
    AWS_ENDPOINT_URL       S3-compatible endpoint (MinIO, Ceph, moto); unset = AWS itself
    AWS_REGION             region; us-east-1 when unset
    AWS_ACCESS_KEY_ID      credentials; unset = the default AWS chain (instance role, IRSA,
    AWS_SECRET_ACCESS_KEY    ~/.aws) for boto3 and deltalake alike. Serving can take these
    AWS_SESSION_TOKEN        three from Vault instead (docs/security.md).
    AWS_ALLOW_HTTP         "true" to allow a plain-http endpoint (local test servers only)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENDPOINT = "AWS_ENDPOINT_URL"
REGION = "AWS_REGION"
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name, not a secret
SESSION_TOKEN = "AWS_SESSION_TOKEN"  # noqa: S105
ALLOW_HTTP = "AWS_ALLOW_HTTP"
S3_ENV = (ENDPOINT, ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION, ALLOW_HTTP, SESSION_TOKEN)
CREDENTIALS = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
DEFAULT_REGION = "us-east-1"


def storage_options_from_env() -> dict[str, str]:
    """The AWS_* variables that are set (and non-empty), by name."""
    return {k: os.environ[k] for k in S3_ENV if os.environ.get(k)}


def is_remote(uri: str) -> bool:
    """True for an object-store URI (s3://...); False for a directory or file:// URI."""
    return "://" in uri and not uri.startswith("file://")


def allows_http(options: Mapping[str, str]) -> bool:
    return options.get(ALLOW_HTTP, "").strip().lower() in ("1", "true", "yes")


def redacted(options: Mapping[str, str] | None) -> dict[str, str]:
    """The options with credential values replaced, for log lines and error messages."""
    return {k: ("***" if k in CREDENTIALS else v) for k, v in (options or {}).items()}
