"""The serving image's content, proved without a Docker engine: what
`deploy/docker/serving.Dockerfile` installs (requirements-serving.lock without resolving, then
the project without dependencies) goes into a fresh virtualenv, and the service started from
it alone answers a prediction. A package missing from the lock, or an import of the platform's
heavy parts from `serving/`, fails here instead of in the first pod."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from attrition_platform.publication import publish
from attrition_platform_tests.serving.harness import free_port, make_bundle, wait_ready, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")
ATTRITION = str(Path(sys.executable).with_name("attrition"))
SERVING_LOCK = ROOT / "requirements-serving.lock"
# What the image must never hold (the Dagster user-code image has them).
HEAVY = ("dagster", "mlflow", "pandas", "pyarrow", "scikit-learn", "sqlalchemy", "matplotlib")
# Installed size of the site-packages, measured 452 MB (deltalake's native library alone is
# 134 MB, scipy, which xgboost imports, 113 MB); the budget catches a dependency creeping in.
SIZE_BUDGET_MB = 520


@pytest.fixture(scope="module")
def serving_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding exactly what the serving image installs."""
    venv = tmp_path_factory.mktemp("serving-image") / "venv"
    for cmd in (
        [str(UV), "venv", "-q", "--python", sys.executable, str(venv)],
        [str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--no-deps", "-r", str(SERVING_LOCK)],
        [str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--no-deps", str(ROOT)],
    ):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=venv.parent)
        assert out.returncode == 0, f"{' '.join(cmd[:3])}: {out.stderr[-2000:]}"
    return venv


def _installed(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(UV), "pip", "list", "--format", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return {k: v for k, v in (line.lower().split("==") for line in out.stdout.splitlines() if "==" in line)}


def test_the_serving_install_holds_no_dagster_mlflow_pandas_or_sklearn_and_fits_its_size_budget(
    serving_venv: Path,
) -> None:
    installed = _installed(serving_venv)
    assert "attrition-platform" in installed and "litestar" in installed
    assert not [p for p in HEAVY if p in installed], sorted(installed)
    site = next((serving_venv / "lib").glob("python3*/site-packages"))
    size_mb = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6
    print(f"serving install: {len(installed)} packages, {size_mb:.0f} MB in site-packages")
    assert size_mb < SIZE_BUDGET_MB, f"{size_mb:.0f} MB"


@pytest.fixture()
def home(tmp_path: Path) -> tuple[Path, dict]:
    """A data directory with a feature snapshot and a published model, and one employee's
    inputs as the portal would send them."""
    home = tmp_path / "home"
    features = write_snapshot(home / "lake")
    bundle = make_bundle(rounds=30)
    publish(bundle, "1", str(home / "serving"), str(home / "lake"), promoted_by="test", reason="image")
    row = features.iloc[0]
    record = {name: (row[name].item() if hasattr(row[name], "item") else row[name]) for name in bundle.spec.inputs}
    return home, record


@pytest.fixture()
def service(serving_venv: Path, home: tuple[Path, dict], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m serving` (the image's entry point) from the serving virtualenv, started in
    an empty folder so that nothing can be imported from the repository's source tree."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_", "PYTHON"))}
    env.update(ATTRITION_HOME=str(home[0]), ATTRITION_SERVING_HOST="127.0.0.1", ATTRITION_SERVING_PORT=str(port))
    cwd = tmp_path / "empty"
    cwd.mkdir()
    proc = subprocess.Popen([str(serving_venv / "bin" / "python"), "-m", "serving"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, "the serving install", timeout=90)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_service_started_from_the_serving_install_alone_answers_a_prediction(
    service: tuple[str, subprocess.Popen[str]], serving_venv: Path, home: tuple[Path, dict], tmp_path: Path
) -> None:
    base, proc = service
    where = subprocess.run([str(serving_venv / "bin" / "python"), "-c", "import serving; print(serving.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path / "empty", timeout=60, check=True)
    assert where.stdout.strip().startswith(str(serving_venv)), where.stdout  # not the source tree
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_"))}
    env["ATTRITION_HOME"] = str(home[0])
    minted = subprocess.run([ATTRITION, "token", "--scopes", "attrition:predict"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip().splitlines()[-1]
    record = home[1]
    r = httpx.post(f"{base}/v1/predict", json=record, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "live" and body["model_version"] == "1"
    assert 0.0 < body["probability"] < 1.0 and body["top_factors"]
    proc.send_signal(signal.SIGTERM)
    # uvicorn drains, then re-raises the signal it caught: -SIGTERM is a clean stop too
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
