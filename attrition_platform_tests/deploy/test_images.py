"""The two images' recipes, held to what the repository can prove without a Docker engine.

The serving image's install is run for real by test_serving_install.py (a fresh virtualenv, the
service started from it, a prediction); the Dagster user-code image's closure is the platform
extra the whole test suite runs on. Here: each image's lock pins exactly its extra's closure at
requirements.lock's versions, and each Dockerfile installs that lock without resolving, builds
in a separate stage, starts from a pinned base and runs as a numeric non-root user."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMAGES = {
    "serving": ("deploy/docker/serving.Dockerfile", "requirements-serving.lock", 'ENTRYPOINT ["python", "-m", "serving"]'),
    "platform": (
        "deploy/docker/dagster.Dockerfile",
        "requirements-dagster.lock",
        'CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "attrition_platform.definitions"]',
    ),
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())  # PEP 503


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==")
            out[_norm(name)] = version.strip()
    return out


@pytest.mark.parametrize("extra", sorted(IMAGES))
def test_each_image_lock_pins_its_extra_at_the_main_locks_versions(extra: str) -> None:
    lock, main = pins(ROOT / IMAGES[extra][1]), pins(ROOT / "requirements.lock")
    for req in PROJECT["dependencies"] + PROJECT["optional-dependencies"][extra]:
        name, version = re.sub(r"\[.*\]", "", req).split("==")
        assert lock.get(_norm(name)) == version, f"{name}: pyproject {version}, {IMAGES[extra][1]} {lock.get(_norm(name))}"
    drifted = {n: (v, main.get(n)) for n, v in lock.items() if main.get(n) != v}
    assert not drifted, f"{IMAGES[extra][1]} disagrees with requirements.lock: {drifted}"
    if extra == "serving":
        assert not [n for n in lock if n.startswith(("dagster", "mlflow", "pandas", "scikit-learn"))]


@pytest.mark.parametrize("extra", sorted(IMAGES))
def test_each_dockerfile_installs_its_lock_in_a_build_stage_and_runs_as_a_non_root_user(extra: str) -> None:
    dockerfile, lock, command = IMAGES[extra]
    text = (ROOT / dockerfile).read_text()
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) >= 2 and " AS build" in froms[0], froms  # build stage, then a clean runtime
    base = next(ln for ln in lines if ln.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert f"pip install --no-deps -r {lock}" in text and "pip install --no-deps ." in text
    assert "compileall" in text  # bytecode at build time: read-only root filesystem, faster start
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and re.fullmatch(r"USER [1-9]\d{3,}:[1-9]\d{3,}", users[-1]), users
    assert lines[-1] == command
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[0].startswith("#") and "*" in ignored  # everything out, then what is copied
    for needed in ("!attrition_platform/", "!serving/", "!requirements*.lock", "!pyproject.toml", "!README.md"):
        assert needed in ignored, needed
