"""The install promises of pyproject.toml: everything pinned, a serving install without the
platform's heavy parts, and the lock agreeing with the pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK = {
    line.split("==")[0].lower(): line.split("==")[1]
    for line in (ROOT / "requirements.lock").read_text().splitlines()
    if "==" in line
}


def _name(req: str) -> str:
    return re.split(r"[=<>\[ ]", req, maxsplit=1)[0].lower()


def test_every_direct_dependency_is_pinned_exactly() -> None:
    reqs = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values() for r in extra]
    assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+]*", r) for r in reqs), reqs


def test_serving_install_pulls_no_dagster_and_no_mlflow() -> None:
    serving = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["serving"]
    assert not [r for r in serving if _name(r).startswith(("dagster", "mlflow"))]


def test_lock_file_agrees_with_the_pins_it_installs() -> None:
    for req in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["platform"] + PROJECT["optional-dependencies"]["test"]:
        name, version = re.sub(r"\[.*\]", "", req).split("==")  # moto[server] is locked as moto
        assert LOCK.get(name.lower()) == version, f"{name}: pyproject {version}, lock {LOCK.get(name.lower())}"


def test_serving_extra_is_in_the_lock_file() -> None:
    for req in PROJECT["optional-dependencies"]["serving"]:
        name, version = re.sub(r"\[.*\]", "", req).split("==")
        assert LOCK.get(name.lower()) == version, f"{name}: pyproject {version}, lock {LOCK.get(name.lower())}"


def test_the_serving_service_starts_without_dagster_mlflow_pandas_pyarrow_or_sklearn() -> None:
    """The container holds the serving extra only: with those packages made unimportable (as
    they are there), the service's modules still import and build the app. (xgboost imports
    sklearn and pandas only when they are installed, so merely listing sys.modules would blame
    it; blocking them tests our own imports.)"""
    import subprocess
    import sys

    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in ("dagster", "mlflow", "pandas", "pyarrow", "sklearn"))
    code = (
        f"import sys; {blocked}\n"
        "import serving.app, serving.server, serving.__main__, serving.auth, serving.secrets\n"
        "from serving.server import app_from_env\n"
        "app_from_env()\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ATTRITION_")}
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        env["ATTRITION_HOME"] = home
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                             timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
