"""The service over an s3:// published location (moto S3 server on loopback): it serves the
published model, hot-reloads when a new version lands on S3, and refuses one altered there."""

from __future__ import annotations

from pathlib import Path

import pytest

from attrition_platform.contracts.published import read_pointer, store_from_uri
from attrition_platform.model.bundle import BOOSTER_FILE
from attrition_platform.publication import publish
from attrition_platform_tests.s3_server import new_bucket, s3_env, s3_server  # noqa: F401
from attrition_platform_tests.serving.harness import make_bundle, running, wait_until, write_snapshot


@pytest.fixture(scope="module")
def bundles():
    return make_bundle(seed=1), make_bundle(seed=5), make_bundle(seed=9)


def _refusals() -> float:
    from prometheus_client import REGISTRY

    return float(REGISTRY.get_sample_value("attrition_model_reloads_total", {"outcome": "refused"}) or 0.0)


def test_the_service_serves_the_model_published_to_s3_reloads_a_new_one_and_refuses_a_tampered_one(
    tmp_path: Path, bundles, s3_env: dict[str, str]  # noqa: F811
) -> None:
    first, second, third = bundles
    home = tmp_path / "home"
    uri = f"s3://{new_bucket(s3_env)}/published"
    features = write_snapshot(home / "lake")
    publish(first, "1", uri, str(home / "lake"), promoted_by="test", reason="first on S3")
    with running(home, features=features, serving_uri=uri, storage_options=s3_env) as stack:
        assert stack.service.models.store.describe() == f"{uri}/"
        with stack.client() as c:
            first_answer = c.post("/v1/predict", json=stack.record(3))
            cached = c.get("/v1/scores/3")
            publish(second, "2", uri, str(home / "lake"), promoted_by="test", reason="second on S3")
            wait_until(lambda: c.get("/v1/model").json()["model_version"] == "2", what="the reload from S3")
            second_answer = c.post("/v1/predict", json=stack.record(3))
            # Version 3 lands, then its booster is altered on S3 before the service fetches it
            # (the poll is paused by holding the loader's lock): the manifest check refuses it.
            refused_before = _refusals()
            with stack.service.models._lock:
                publish(third, "3", uri, str(home / "lake"), promoted_by="test", reason="third")
                store = store_from_uri(uri)
                key = f"{read_pointer(store).bundle_path}{BOOSTER_FILE}"
                store.write_bytes(key, store.read_bytes(key)[:-4] + b"XXXX")
            wait_until(lambda: _refusals() > refused_before, what="the refusal of version 3")
            after_refusal = c.post("/v1/predict", json=stack.record(3))
    assert first_answer.status_code == 200 and first_answer.json()["model_version"] == "1"
    assert cached.status_code == 200  # the nightly export came from S3 too
    assert second_answer.status_code == 200 and second_answer.json()["model_version"] == "2"
    assert second_answer.json()["probability"] != first_answer.json()["probability"]
    assert after_refusal.status_code == 200 and after_refusal.json()["model_version"] == "2"
    assert BOOSTER_FILE in (stack.service.models.last_refusal or "")
    assert not (home / "serving").exists()  # nothing was read from or written to a directory
