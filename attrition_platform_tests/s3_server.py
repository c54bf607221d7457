"""A real S3 API on loopback for the s3:// tests: moto in server mode (test extra), one process
per test session (per xdist worker).

Real HTTP, real SigV4 signing, real S3 error codes — the store and deltalake talk to it exactly
as they would to AWS or MinIO. Two things to know:
- the server lives for the whole session: every test makes its own bucket (`new_bucket`), so
  tests never see each other's objects.
- moto accepts any credentials until told otherwise; `enforced_credentials()` creates an IAM
  user allowed s3:*, switches credential checking on for the block and off again after it, so
  a test can prove which credentials a client used.

Use the fixtures by importing them into the test module:
`from attrition_platform_tests.s3_server import s3_server, s3_env  # noqa: F401`.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from attrition_platform_tests.processes import stop_process

REGION = "us-east-1"
ANY_KEY_ID = "testing-key-id"  # accepted while moto does not check credentials
ANY_SECRET = "testing-secret"  # noqa: S105 - a throwaway value for the test server
_START_ATTEMPTS = 3
_READY_SECONDS = 30.0


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL (http://127.0.0.1:PORT) of a moto S3 server for this test session.

    A separate process, not moto's in-process ThreadedMotoServer: some deltalake calls
    (DeltaTable.is_deltatable) block while holding the GIL, and a server thread in the same
    interpreter could then never answer them.
    """
    if importlib.util.find_spec("moto") is None:
        pytest.fail("moto[server] (test extra) is not installed: no S3 API to test against")
    last_log = ""
    with tempfile.TemporaryDirectory(prefix="attrition-moto-") as tmp:
        for attempt in range(_START_ATTEMPTS):
            port = _free_port()
            endpoint = f"http://127.0.0.1:{port}"
            log_path = Path(tmp) / f"moto-{attempt}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-c", "from moto.server import main; main()",
                     "-H", "127.0.0.1", "-p", str(port)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                )
            deadline = time.monotonic() + _READY_SECONDS
            while time.monotonic() < deadline and proc.poll() is None:
                if _healthy(endpoint):
                    try:
                        yield endpoint
                    finally:
                        stop_process(proc)
                    return
                time.sleep(0.05)
            stop_process(proc)
            last_log = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"moto server not healthy after {_START_ATTEMPTS} tries:\n{last_log}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_options(endpoint: str, key_id: str = ANY_KEY_ID, secret: str = ANY_SECRET) -> dict[str, str]:
    """The storage options (AWS_* names) for the test server."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
    }


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS_* variables pointing at the test server (what a deployment sets); returns them."""
    options = s3_options(s3_server)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for name, value in options.items():
        monkeypatch.setenv(name, value)
    return options


def new_bucket(options: dict[str, str], stem: str = "attrition") -> str:
    """A fresh, empty bucket (unique name) on the server `options` points at."""
    from attrition_platform.contracts.object_store import s3_client_from_env

    name = f"{stem}-{uuid.uuid4().hex[:12]}"
    s3_client_from_env(options).create_bucket(Bucket=name)
    return name


def _set_auth(endpoint: str, unchecked_requests: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=unchecked_requests.encode(), method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@contextmanager
def enforced_credentials(endpoint: str) -> Iterator[tuple[str, str]]:
    """Inside the block the server refuses any request not signed with the yielded IAM key
    pair (key id, secret), which is allowed everything on S3."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id=ANY_KEY_ID, aws_secret_access_key=ANY_SECRET)
    user = f"serving-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = iam.create_policy(
        PolicyName=f"{user}-s3",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }),
    )
    iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_auth(endpoint, "0")
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        _set_auth(endpoint, "inf")
