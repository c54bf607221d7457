"""`attrition serve` and `attrition token` as a user runs them: real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from attrition_platform.contracts.audit_logs import PREDICTION_LOG, read_log
from attrition_platform.publication import publish
from attrition_platform_tests.serving.harness import free_port, make_bundle, wait_ready, write_snapshot

ATTRITION = str(Path(sys.executable).with_name("attrition"))


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    write_snapshot(home / "lake")
    publish(make_bundle(rounds=30), "1", str(home / "serving"), str(home / "lake"), promoted_by="test", reason="cli")
    return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_"))}
    env.update(ATTRITION_HOME=str(home), **extra)
    return env


def _token(home: Path, scopes: str) -> str:
    out = subprocess.run([ATTRITION, "token", "--scopes", scopes], env=_env(home), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_serve_answers_with_a_cli_token_and_flushes_its_audit_on_sigterm(home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([ATTRITION, "serve", "--port", str(port)], env=_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, "attrition serve")
        token = _token(home, "attrition:predict attrition:actions")
        ids = []
        for eid in (2, 3, 4):
            r = httpx.get(f"{base}/v1/employees/{eid}/risk", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            ids.append(r.json()["prediction_id"])
        assert httpx.get(f"{base}/v1/employees/1/risk").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    # uvicorn re-raises SIGTERM after its graceful shutdown: killed-by-SIGTERM is the clean exit
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "shutdown: audit queue flushed" in err
    assert "curl" in err and "/v1/employees/" in err  # the example it prints
    assert "Traceback" not in err
    assert "/v1/employees/2/risk" not in err  # no access log: a path can carry an employee id
    assert sorted(read_log(str(home / "lake"), PREDICTION_LOG)["prediction_id"]) == sorted(ids)


def test_token_is_refused_in_production_mode(home: Path) -> None:
    out = subprocess.run([ATTRITION, "token"], env=_env(home, ATTRITION_ENV="prod"), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "prod" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_token_rejects_an_unknown_scope(home: Path) -> None:
    out = subprocess.run([ATTRITION, "token", "--scopes", "attrition:everything"], env=_env(home),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "attrition:everything" in out.stderr


def test_serve_in_production_mode_without_an_issuer_stops_with_a_clear_error(home: Path) -> None:
    out = subprocess.run([ATTRITION, "serve", "--port", str(free_port())], env=_env(home, ATTRITION_ENV="prod"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "ATTRITION_AUTH_ISSUER" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("ATTRITION_GIL_SWITCH_MS", "fast", "ATTRITION_GIL_SWITCH_MS must be a number of milliseconds, not 'fast'"),
    ("ATTRITION_SERVING_LOOP", "tokio", "ATTRITION_SERVING_LOOP must be one of asyncio, uvloop, auto, not 'tokio'"),
])
def test_serve_with_a_malformed_setting_stops_naming_the_variable_and_what_it_takes(
    home: Path, variable: str, value: str, message: str
) -> None:
    out = subprocess.run([ATTRITION, "serve", "--port", str(free_port())], env=_env(home, **{variable: value}),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
