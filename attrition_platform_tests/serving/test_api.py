"""The service over a real uvicorn server on loopback: each endpoint, strict input, audit,
metrics, parity with the nightly batch scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.contracts.audit_logs import ACTION_LOG, PREDICTION_LOG, read_log
from attrition_platform.contracts.fallback_export import FallbackIndex
from attrition_platform.contracts.published import read_pointer, store_from_uri
from attrition_platform_tests.serving.harness import OPTED_OUT_EVERY, Stack, make_bundle, running, wait_until


@pytest.fixture(scope="module")
def bundle():
    return make_bundle()


@pytest.fixture()
def stack(tmp_path: Path, bundle) -> Stack:
    with running(tmp_path / "home", publish_model=bundle) as s:
        yield s


def _export(stack: Stack) -> FallbackIndex:
    store = store_from_uri(stack.settings.serving_uri)
    pointer = read_pointer(store)
    return FallbackIndex.from_bytes(store.read_bytes(pointer.scores_path))


def test_predict_scores_a_record_like_the_bundle_and_explains_it(stack: Stack, bundle) -> None:
    record = stack.record(7)
    with stack.client() as c:
        r = c.post("/v1/predict", json=record)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = float(bundle.score([record]).probabilities[0])
    assert abs(body["probability"] - expected) < 1e-6
    assert body["source"] == "live" and body["model_version"] == "1"
    assert body["risk_band"] == str(bundle.band(np.array([expected]))[0])
    assert body["employee_id"] is None and len(body["prediction_id"]) >= 16
    assert len(body["top_factors"]) == stack.settings.top_factors
    for f in body["top_factors"]:
        assert f["label"]
        assert f["direction"] == ("raises" if f["contribution"] >= 0 else "lowers")


def test_risk_by_id_equals_the_nightly_batch_score_of_the_same_employee(stack: Stack) -> None:
    export = _export(stack)
    ids = [i for i in range(1, 60) if i % OPTED_OUT_EVERY]
    with stack.client() as c:
        for eid in ids:
            r = c.get(f"/v1/employees/{eid}/risk")
            assert r.status_code == 200, r.text
            body = r.json()
            cached = export.get(eid)
            assert cached is not None
            assert abs(body["probability"] - cached.probability) < 1e-6, eid
            assert body["employee_id"] == eid and body["source"] == "live"
            assert [f["feature"] for f in body["top_factors"]] == [f[0] for f in cached.top_factors]


def test_opted_out_employee_is_neither_scored_nor_logged(stack: Stack) -> None:
    eid = OPTED_OUT_EVERY
    with stack.client() as c:
        by_id = c.get(f"/v1/employees/{eid}/risk")
        given = c.post("/v1/predict", json={**stack.record(1), "EmployeeNumber": eid})
        cached = c.get(f"/v1/scores/{eid}")
        batch = c.post("/v1/predict/batch", json={"employees": [stack.record(1), {**stack.record(2), "EmployeeNumber": eid}]})
    assert by_id.status_code == 403 and "opted out" in by_id.json()["detail"]
    assert given.status_code == 403
    assert cached.status_code == 403
    assert batch.status_code == 200
    assert batch.json()["results"][1]["errors"][0]["field"] == "EmployeeNumber"
    assert _export(stack).get(eid) is None  # the nightly export never held them
    stack.stop()
    log = read_log(stack.settings.lake_root, PREDICTION_LOG)
    assert eid not in [e for e in log["employee_id"] if e is not None]
    assert len(log["prediction_id"]) == 1  # only the batch's valid row


def test_unknown_employee_is_404_and_cached_score_endpoint_answers(stack: Stack) -> None:
    with stack.client() as c:
        assert c.get("/v1/employees/999999/risk").status_code == 404
        r = c.get("/v1/scores/3")
        assert r.status_code == 200 and r.json()["source"] == "cached"
        assert abs(r.json()["probability"] - _export(stack).get(3).probability) < 1e-6
        assert c.get("/v1/scores/999999").status_code == 404
    stack.stop()  # reading someone's cached score is logged like a prediction
    log = read_log(stack.settings.lake_root, PREDICTION_LOG)
    row = log["prediction_id"].index(r.json()["prediction_id"])
    assert (log["employee_id"][row], log["source"][row], log["inputs"][row]) == (3, "cached", None)


def test_batch_answers_row_by_row_and_enforces_its_maximum(tmp_path: Path, bundle) -> None:
    with running(tmp_path / "home", publish_model=bundle, batch_max=3) as stack:
        good = stack.record(1)
        unseen = {**stack.record(2), "JobRole": "Chief Happiness Officer"}
        with stack.client() as c:
            r = c.post("/v1/predict/batch", json={"employees": [good, unseen, stack.record(3)]})
            too_many = c.post("/v1/predict/batch", json={"employees": [good] * 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["scored"], body["rejected"]) == (2, 1)
    assert body["results"][0]["prediction"]["probability"] > 0
    assert body["results"][1]["errors"][0]["field"] == "JobRole"
    assert "Chief Happiness Officer" not in r.text
    assert too_many.status_code == 413 and "maximum is 3" in too_many.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"Shoesize": 44}, "Shoesize", 400),  # unknown field
        ({"Age": "thirty"}, "Age", 400),  # wrong type
        ({"Age": 987654}, "Age", 400),  # outside the contract's domain
        ({"OverTime": "yes"}, "OverTime", 400),  # not one of the contract's values
        ({"JobRole": "Chief Happiness Officer"}, "JobRole", 422),  # a category the model never saw
    ],
)
def test_bad_input_is_refused_naming_the_field_and_not_the_value(stack: Stack, change, field, status) -> None:
    record = {**stack.record(1), **change}
    with stack.client() as c:
        r = c.post("/v1/predict", json=record)
    assert r.status_code == status, r.text
    assert field in r.text
    for value in change.values():
        assert str(value) not in r.text


def test_missing_field_and_oversized_body_are_refused(stack: Stack) -> None:
    record = stack.record(1)
    del record["MonthlyIncome"]
    with stack.client() as c:
        r = c.post("/v1/predict", json=record)
        big = c.post("/v1/predict", content=b'{"Age": 30, "pad": "' + b"x" * 2_000_000 + b'"}',
                     headers={"content-type": "application/json"})
    assert r.status_code == 400 and "MonthlyIncome" in r.text
    assert big.status_code == 413


def test_action_needs_a_reason_and_is_written_to_the_action_log(stack: Stack) -> None:
    with stack.client() as c:
        pred = c.get("/v1/employees/4/risk").json()
        action = {"employee_id": 4, "prediction_id": pred["prediction_id"], "action": "stay_interview"}
        missing = c.post("/v1/actions", json=action)
        blank = c.post("/v1/actions", json={**action, "reason": "   "})
        ok = c.post("/v1/actions", json={**action, "reason": "workload discussed in 1:1"})
    assert missing.status_code == 400 and "reason" in missing.text
    assert blank.status_code == 400 and "reason" in blank.text
    assert ok.status_code == 201, ok.text
    log = read_log(stack.settings.lake_root, ACTION_LOG)  # written before the 201
    assert log["action_id"] == [ok.json()["action_id"]]
    assert log["prediction_id"] == [pred["prediction_id"]]
    assert log["reason"] == ["workload discussed in 1:1"]
    assert log["caller"] == ["hr-manager-7"]


def test_every_prediction_is_in_the_prediction_log_after_a_graceful_shutdown(stack: Stack) -> None:
    ids = []
    with stack.client() as c:
        for eid in range(1, 41):
            if eid % OPTED_OUT_EVERY:
                ids.append(c.get(f"/v1/employees/{eid}/risk").json()["prediction_id"])
        ids.append(c.post("/v1/predict", json=stack.record(2)).json()["prediction_id"])
    stack.stop()
    log = read_log(stack.settings.lake_root, PREDICTION_LOG)
    assert sorted(log["prediction_id"]) == sorted(ids)
    row = log["prediction_id"].index(ids[0])
    assert log["caller"][row] == "hr-manager-7" and log["source"][row] == "live"
    assert json.loads(log["inputs"][row]) == stack.record(1)


def test_model_health_readiness_and_metrics(stack: Stack) -> None:
    with stack.client() as c:
        model = c.get("/v1/model").json()
        c.get("/v1/employees/1/risk")
        metrics = c.get("/metrics").text
        health = c.get("/healthz")
        ready = c.get("/readyz")
    assert model["model_version"] == "1" and model["source"] == "live"
    assert model["promoted_by"] == "test" and model["published_at"]
    assert model["threshold"] > 0 and set(model["risk_bands"]) == {"low", "medium", "high"}
    assert model["metrics"]["validation"]["pr_auc"] > 0  # the numbers the model was chosen on
    assert model["training_data_versions"]  # which Delta versions it learned from (time travel)
    assert model["fallback_scores"] > 0 and model["feature_snapshot"].startswith("2026-10-01")
    assert health.status_code == 200 and ready.status_code == 200 and ready.json()["mode"] == "live"
    for name in ('attrition_predictions_total{risk_band=', 'source="live"', "attrition_model_info{",
                 "attrition_fallback_active", "attrition_audit_queue_depth", "attrition_model_reloads_total",
                 'path="/v1/employees/{employee_id}/risk"', "attrition_audit_records_dropped_total"):
        assert name in metrics, name


def test_not_ready_without_a_model_or_cached_scores(tmp_path: Path) -> None:
    with running(tmp_path / "home") as stack:
        with stack.client() as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/readyz").status_code == 503
            r = c.get("/v1/employees/1/risk")
    assert r.status_code == 503 and "Retry-After" in r.headers


@pytest.mark.parametrize(
    ("path", "method", "scopes", "status"),
    [
        ("/v1/employees/1/risk", "GET", None, 401),
        ("/v1/employees/1/risk", "GET", "attrition:actions", 403),
        ("/v1/actions", "POST", "attrition:predict", 403),
        ("/v1/model", "GET", "attrition:admin", 200),
    ],
)
def test_endpoints_require_their_scope(stack: Stack, path, method, scopes, status) -> None:
    headers = {"Authorization": f"Bearer {stack.token(scopes)}"} if scopes else {}
    body = {"employee_id": 1, "prediction_id": "abcdefgh1234", "action": "no_action", "reason": "x"}
    import httpx

    r = httpx.request(method, stack.base + path, headers=headers, json=body if method == "POST" else None)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_an_action_must_cite_a_prediction_about_the_same_employee(tmp_path: Path, bundle) -> None:
    home = tmp_path / "home"
    with running(home, publish_model=bundle) as stack:
        with stack.client() as c:
            pred = c.get("/v1/employees/4/risk").json()["prediction_id"]
            action = {"action": "stay_interview", "reason": "discussed workload"}
            unknown = c.post("/v1/actions", json={**action, "employee_id": 4, "prediction_id": "f" * 32})
            other = c.post("/v1/actions", json={**action, "employee_id": 5, "prediction_id": pred})
    assert unknown.status_code == 422 and unknown.json()["extra"][0]["key"] == "prediction_id"
    assert other.status_code == 422 and "another employee" in other.text
    # After a restart the prediction is known from prediction_log, not from memory.
    with running(home, features=stack.features) as again:
        with again.client() as c:
            ok = c.post("/v1/actions", json={**action, "employee_id": 4, "prediction_id": pred})
    assert ok.status_code == 201, ok.text
    assert read_log(again.settings.lake_root, ACTION_LOG)["prediction_id"] == [pred]


def test_an_action_cites_a_prediction_the_service_no_longer_holds_in_memory(tmp_path: Path, bundle) -> None:
    # The service remembers 2 x audit_queue_size recent predictions (here 6); the first of 12
    # has left memory and is found in prediction_log, where the writer put it.
    with running(tmp_path / "home", publish_model=bundle, audit_queue_size=3, audit_flush_seconds=0.02) as stack:
        with stack.client() as c:
            ids = []
            for employee in range(1, 13):
                if employee % OPTED_OUT_EVERY:
                    ids.append(c.get(f"/v1/employees/{employee}/risk").json()["prediction_id"])
            wait_until(lambda: ids[0] in read_log(stack.settings.lake_root, PREDICTION_LOG)["prediction_id"],
                       what="the first prediction in prediction_log")
            assert ids[0] not in stack.service._recent  # the window is bounded
            ok = c.post("/v1/actions", json={"employee_id": 1, "prediction_id": ids[0],
                                             "action": "stay_interview", "reason": "discussed workload"})
    assert ok.status_code == 201, ok.text
    assert len(stack.service._recent) <= 6


@pytest.mark.parametrize("path", ["/v1/employees/0/risk", "/v1/employees/-5/risk", "/v1/scores/0"])
def test_an_employee_id_below_one_is_a_400_naming_the_parameter(stack: Stack, path: str) -> None:
    with stack.client() as c:
        r = c.get(path)
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "employee_id"
