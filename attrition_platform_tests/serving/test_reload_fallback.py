"""Hot reload, refusal of broken bundles, and the fallback to cached scores, on a live server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from attrition_platform.contracts.published import POINTER_KEY, Store, read_pointer, store_from_uri
from attrition_platform.publication import publish
from attrition_platform_tests.serving.harness import make_bundle, running, wait_until


@pytest.fixture(scope="module")
def bundles():
    return make_bundle(seed=1), make_bundle(seed=5)


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    return float(value or 0.0)


def test_hot_reload_under_concurrent_requests_has_zero_failed_requests(tmp_path: Path, bundles) -> None:
    first, second = bundles
    with running(tmp_path / "home", publish_model=first, version="1") as stack:
        record = stack.record(3)
        statuses: list[int] = []
        versions: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            with stack.client() as c:
                while not stop.is_set():
                    r = c.post("/v1/predict", json=record)
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.append(r.json()["model_version"])

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(statuses) > 50, what="traffic before the swap")
        publish(second, "2", stack.settings.serving_uri, stack.settings.lake_root, promoted_by="test", reason="newer")
        wait_until(lambda: versions and versions[-1] == "2", what="the new model to serve")
        n = len(statuses)
        wait_until(lambda: len(statuses) > n + 50, what="traffic after the swap")
        stop.set()
        for t in threads:
            t.join()
        # Each load's download directory is gone once the bundle is in memory: nothing piles up.
        leftovers = list(stack.settings.cache_dir.iterdir())
    assert leftovers == []
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert versions[0] == "1" and versions[-1] == "2"
    first_two = versions.index("2")
    assert "1" not in versions[first_two + 4 * 2 :]  # after the swap (and in-flight requests) only v2


class _CorruptBeforeSwap:
    """A local store that tampers with the booster it holds just before `CURRENT` is written."""

    def __init__(self, inner: Store, root: Path) -> None:
        self.inner, self.root, self.corrupted = inner, root, False

    def write_bytes(self, key: str, data: bytes) -> None:
        if key == POINTER_KEY:
            bundle_path = msgspec.json.decode(data)["bundle_path"]
            booster = self.root / bundle_path / "booster.ubj"
            booster.write_bytes(booster.read_bytes()[:-10] + b"0123456789")
            self.corrupted = True
        self.inner.write_bytes(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_tampered_bundle_is_refused_and_the_old_model_keeps_serving(tmp_path: Path, bundles) -> None:
    first, second = bundles
    with running(tmp_path / "home", publish_model=first, version="1") as stack:
        refused_before = _metric("attrition_model_reloads_total", outcome="refused")
        # Version 2's booster is corrupted after publication verified it but before CURRENT
        # moves, so the service can never see the intact bundle first (no race with its poll).
        store = _CorruptBeforeSwap(store_from_uri(stack.settings.serving_uri), Path(stack.settings.serving_uri))
        publish(second, "2", store, stack.settings.lake_root, promoted_by="test", reason="x")
        assert store.corrupted and read_pointer(store).model_version == "2"
        wait_until(lambda: _metric("attrition_model_reloads_total", outcome="refused") > refused_before,
                   what="the refusal")
        with stack.client() as c:
            r = c.post("/v1/predict", json=stack.record(2))
            model = c.get("/v1/model").json()
    assert r.status_code == 200 and r.json()["model_version"] == "1"
    assert model["model_version"] == "1"
    assert "booster.ubj" in (stack.service.models.last_refusal or "")
    assert list(stack.settings.cache_dir.iterdir()) == []  # the refused download is gone too


def test_fallback_answers_cached_after_the_window_and_recovers(tmp_path: Path, bundles) -> None:
    first, _ = bundles
    with running(tmp_path / "home", publish_model=first, fallback_after_seconds=1.0, error_streak=2) as stack:
        live = stack.service.models.current
        real_score = live.bundle.score

        def broken(*args, **kwargs):
            raise RuntimeError("simulated scoring failure")

        with stack.client() as c:
            live.bundle.score = broken  # fault injection: the only simulated part
            first_errors = [c.get("/v1/employees/3/risk") for _ in range(2)]
            assert [r.status_code for r in first_errors] == [503, 503]
            assert int(first_errors[-1].headers["Retry-After"]) >= 1
            wait_until(lambda: c.get("/v1/employees/3/risk").status_code == 200, timeout=20, what="fallback")
            cached = c.get("/v1/employees/3/risk").json()
            assert cached["source"] == "cached" and cached["model_version"] == "1"
            assert _metric("attrition_fallback_active") == 1.0
            assert c.get("/readyz").json()["mode"] == "cached"
            # An employee without a cached score and a record without an id cannot be answered.
            assert c.post("/v1/predict", json=stack.record(4)).status_code == 503
            live.bundle.score = real_score  # live scoring works again: recovery needs no operator
            recovered = c.get("/v1/employees/3/risk").json()
    assert recovered["source"] == "live"
    assert _metric("attrition_fallback_active") == 0.0


def test_no_model_ever_loaded_answers_cached_at_once_then_goes_live_when_one_is_published(
    tmp_path: Path, bundles
) -> None:
    first, second = bundles
    home = tmp_path / "home"
    with running(home, publish_model=first, version="1") as stack:
        pass  # publishes model 1 and its export
    # Point CURRENT at a bundle that cannot be verified: the service starts with no live model.
    store = store_from_uri(str(home / "serving"))
    pointer = read_pointer(store)
    booster = home / "serving" / pointer.bundle_path / "booster.ubj"
    booster.write_bytes(b"not a booster")
    with running(home) as stack:
        assert stack.service.models.current is None
        with stack.client() as c:
            r = c.get("/v1/employees/3/risk")
            assert r.status_code == 200 and r.json()["source"] == "cached"
            assert c.get("/readyz").status_code == 200
            publish(second, "2", stack.settings.serving_uri, stack.settings.lake_root, promoted_by="test", reason="fix")
            wait_until(lambda: c.get("/v1/employees/3/risk").json()["source"] == "live", what="recovery")
            assert c.get("/v1/model").json()["model_version"] == "2"


def test_the_employee_index_follows_a_new_feature_snapshot(tmp_path: Path, bundles) -> None:
    import datetime as dt

    from attrition_platform_tests.serving.harness import EMPLOYEES, write_snapshot

    first, _ = bundles
    with running(tmp_path / "home", publish_model=first) as stack:
        newcomer = EMPLOYEES + 1
        with stack.client() as c:
            assert c.get(f"/v1/employees/{newcomer}/risk").status_code == 404
            write_snapshot(Path(stack.settings.lake_root), dt.date(2026, 11, 1), n=EMPLOYEES + 1, seed=12)
            wait_until(lambda: c.get("/v1/model").json()["feature_snapshot"].startswith("2026-11-01"),
                       what="the new snapshot")
            r = c.get(f"/v1/employees/{newcomer}/risk")
    assert r.status_code == 200 and r.json()["employee_id"] == newcomer


def test_a_start_sweeps_downloads_a_killed_process_left_but_not_a_siblings_fresh_one(
    tmp_path: Path, bundles
) -> None:
    first, _ = bundles
    cache = tmp_path / "home" / "cache" / "serving"
    stale = cache / "1-deadbeef"  # what kill -9 in the middle of a load leaves behind
    fresh = cache / "1-cafebabe"  # another process's load in progress
    for d in (stale, fresh):
        (d / "bundle").mkdir(parents=True)
        (d / "bundle" / "booster.ubj").write_bytes(b"x" * 100)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    with running(tmp_path / "home", publish_model=first, version="1") as stack:
        with stack.client() as c:
            assert c.post("/v1/predict", json=stack.record(2)).status_code == 200
        left = sorted(p.name for p in cache.iterdir())
    assert left == ["1-cafebabe"]
