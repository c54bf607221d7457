"""HTTPS served by the service itself (`python -m serving`, the container's entry point) with a
certificate from a throwaway CA."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from attrition_platform.publication import publish
from attrition_platform_tests.serving.harness import free_port, make_bundle, wait_ready, write_snapshot
from attrition_platform_tests.serving.pki import make_ca_and_server_cert
from serving.dev_keys import mint_dev_token


def test_python_m_serving_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_snapshot(home / "lake")
    publish(make_bundle(rounds=20), "1", str(home / "serving"), str(home / "lake"), promoted_by="t", reason="tls")
    ca_pem, cert, key = make_ca_and_server_cert(tmp_path / "pki")
    other_ca, _, _ = make_ca_and_server_cert(tmp_path / "other")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_"))}
    env.update(ATTRITION_HOME=str(home), ATTRITION_SERVING_PORT=str(port),
               ATTRITION_TLS_CERT=str(cert), ATTRITION_TLS_KEY=str(key))
    proc = subprocess.Popen([sys.executable, "-m", "serving"], env=env, stderr=subprocess.PIPE, text=True)
    base = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cadata=ca_pem)
    try:
        wait_ready(proc, base, "python -m serving over HTTPS", verify=trusted)
        token = mint_dev_token(home / "secrets", ["attrition:predict"])
        r = httpx.get(f"{base}/v1/employees/2/risk", verify=trusted, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["source"] == "live"
        with pytest.raises(httpx.ConnectError):  # a client that trusts another CA refuses it
            httpx.get(f"{base}/healthz", verify=ssl.create_default_context(cadata=other_ca), timeout=5)
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_tls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_"))}
    env.update(ATTRITION_HOME=str(tmp_path / "home"), ATTRITION_TLS_CERT=str(tmp_path / "cert.pem"))
    out = subprocess.run([sys.executable, "-m", "serving"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "ATTRITION_TLS_KEY" in out.stderr and "Traceback" not in out.stderr
