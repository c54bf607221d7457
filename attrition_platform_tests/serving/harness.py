"""A real serving stack for tests: a published model, a feature snapshot in Delta, the nightly
export, and the Litestar app under uvicorn on a loopback port (in a thread, so a test can also
reach into the running service, e.g. to inject a scoring fault)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import uvicorn

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.feature_assets import FEATURES_TABLE, build_features
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform.publication import publish
from attrition_platform.resources.lake import DeltaLake
from attrition_platform_tests.hris.factories import static_rows
from attrition_platform_tests.model.conftest import learnable
from serving.app import create_app
from serving.auth import Authenticator
from serving.config import ServingSettings
from serving.dev_keys import dev_auth_settings, mint_dev_token
from serving.service import Service

SNAPSHOT = dt.date(2026, 10, 1)
EMPLOYEES = 300
OPTED_OUT_EVERY = 25  # employees 25, 50, ... opted out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_bundle(seed: int = 1, rounds: int = 60) -> ModelBundle:
    train, y_train = learnable(1500, seed)
    val, y_val = learnable(500, seed + 100)
    bundle = train_xgboost(train, y_train, val, y_val, RecipeParams(max_rounds=rounds))
    # What the candidate_model asset adds to every bundle it trains.
    bundle.metadata["delta_versions"] = {"employee_features": 3, "hris_terminations": 3, "training_set": 0}
    bundle.metadata["validation_metrics"] = {"pr_auc": 0.41, "roc_auc": 0.78}
    return bundle


def write_snapshot(lake_root: Path, day: dt.date = SNAPSHOT, n: int = EMPLOYEES, seed: int = 11) -> pd.DataFrame:
    """An employee_features partition written by the platform's own asset code."""
    rows = static_rows(n, seed=seed)
    rows[KEY] = np.arange(1, n + 1)
    rows[SNAPSHOT_DATE] = day
    rows["opt_out"] = rows[KEY] % OPTED_OUT_EVERY == 0
    rows["Attrition"] = "No"  # all still employed: the feature store drops leavers
    features = build_features(rows)
    DeltaLake(root=str(lake_root)).write_partition(FEATURES_TABLE, features, day)
    return features


@dataclass
class Stack:
    home: Path
    settings: ServingSettings
    service: Service
    base: str
    features: pd.DataFrame
    server: uvicorn.Server
    thread: threading.Thread

    def token(self, scopes: str = "attrition:predict attrition:actions", subject: str = "hr-manager-7") -> str:
        return mint_dev_token(self.home / "secrets", scopes.split(), subject=subject)

    def client(self, scopes: str = "attrition:predict attrition:actions", **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token(scopes)}"},
                            timeout=10, **kw)

    def record(self, employee_id: int) -> dict[str, Any]:
        """The model inputs of one employee of the snapshot, as a portal would send them."""
        row = self.features.loc[self.features[KEY] == employee_id].iloc[0]
        spec_inputs = self.service.models.current.bundle.spec.inputs if self.service.models.current else []
        return {name: (row[name].item() if hasattr(row[name], "item") else row[name]) for name in spec_inputs}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def settings_for(home: Path, **overrides: Any) -> ServingSettings:
    base = ServingSettings(
        serving_uri=str(home / "serving"),
        lake_root=str(home / "lake"),
        cache_dir=home / "cache" / "serving",
        poll_seconds=0.2,
        audit_flush_seconds=0.1,
    )
    return replace(base, **overrides)


@contextmanager
def running(home: Path, *, publish_model: ModelBundle | None = None, version: str = "1",
            features: pd.DataFrame | None = None, **overrides: Any) -> Iterator[Stack]:
    """Publish (optionally), start the service on a free port, yield, then stop gracefully."""
    home.mkdir(parents=True, exist_ok=True)
    if features is None:
        features = write_snapshot(home / "lake")
    if publish_model is not None:
        publish(publish_model, version, str(home / "serving"), str(home / "lake"),
                promoted_by="test", reason="test fixture")
    settings = settings_for(home, **overrides)
    service = Service(settings)
    app = create_app(settings, Authenticator(dev_auth_settings(home / "secrets")), service=service)
    with serve_in_thread(app) as (base, server, thread):
        yield Stack(home, settings, service, base, features, server, thread)


@contextmanager
def serve_in_thread(app: Any) -> Iterator[tuple[str, uvicorn.Server, threading.Thread]]:
    """`app` under uvicorn on a free loopback port in a thread; (base URL, server, thread).
    Stops gracefully on exit (the service flushes its audit queue)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None,
                            lifespan="on", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server, thread
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_until(condition: Any, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition`; the generous default absorbs a loaded CI machine (it returns as soon as true)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_ready(proc: subprocess.Popen[str], base: str, what: str, timeout: float = 60.0, verify: Any = True) -> None:
    """Poll `base`/readyz until 200 while `proc` (a service started as a user would) lives;
    its stderr is the failure message if it dies first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/readyz", verify=verify, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"{what} did not become ready"
        time.sleep(0.2)
