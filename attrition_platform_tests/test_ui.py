"""`attrition ui` starts `dagster dev` with this code location on the platform's data directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ATTRITION = str(Path(sys.executable).with_name("attrition"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _location_status(port: int) -> str:
    """The workspace's load status and any load error, so a failure says why the graph is empty."""
    try:
        return json.dumps(_graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                         "loadStatus locationOrLoadError { ... on PythonError { message } } } } } }"))
    except OSError as exc:
        return f"webserver unreachable: {exc}"


def test_ui_serves_the_asset_graph_from_the_data_directory_without_the_first_visit_popup(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "DAGSTER_"))}
    env["ATTRITION_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [ATTRITION, "ui", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        keys: set[str] = set()
        # Generous: under a parallel test run on two cores the code location can take minutes.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not keys:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                keys = {"/".join(n["assetKey"]["path"]) for n in data["data"]["assetNodes"]}
            except (OSError, KeyError, TypeError):
                pass
            if not keys:
                time.sleep(1)  # the location may still be loading (an empty graph), or the server starting
        assert {"hris_employees", "employee_features", "training_set", "candidate_model"} <= keys, _location_status(port)
        # dagster.yaml turns the first-visit pop-up off on the embedded instance
        assert _graphql(port, "{ shouldShowNux }")["data"]["shouldShowNux"] is False
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").is_file()
        assert any((tmp_path / "home" / "dagster").iterdir())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
