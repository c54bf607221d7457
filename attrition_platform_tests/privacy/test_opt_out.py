"""Opt-out is honoured in every output: training, nightly scoring and the serving logs.

Each test names the opted-out employees from the data itself and proves, row by row, that none
of them is in the output while they were there to be taken (so the test could fail)."""

from __future__ import annotations

from pathlib import Path


from attrition_platform.contracts.audit_logs import ACTION_LOG, PREDICTION_LOG, read_log
from attrition_platform.contracts.fallback_export import FallbackIndex
from attrition_platform.contracts.published import scores_key_for, store_from_uri
from attrition_platform_tests.privacy.conftest import PlatformHome
from attrition_platform_tests.serving.harness import OPTED_OUT_EVERY, make_bundle, running


def test_training_set_holds_no_row_of_an_employee_who_opted_out(platform_home: PlatformHome) -> None:
    lake = platform_home.resources["lake"]
    features = lake.read("employee_features", columns=["EmployeeNumber", "snapshot_date", "opt_out"])
    opted = set(features.loc[features["opt_out"].astype(bool), "EmployeeNumber"].astype(int))
    training = lake.read("training_set", columns=["EmployeeNumber", "snapshot_date"])
    trained_dates = set(training["snapshot_date"])
    # They had rows on the dates the training set was built from...
    at_those_dates = features[features["snapshot_date"].isin(trained_dates)]
    assert opted & set(at_those_dates["EmployeeNumber"].astype(int))
    # ...and none of those rows (or any other of theirs) is in it.
    leaked = training[training["EmployeeNumber"].astype(int).isin(opted)]
    assert leaked.empty, leaked.head().to_dict("records")


def test_nightly_scores_and_the_fallback_export_hold_no_opted_out_employee(platform_home: PlatformHome) -> None:
    lake = platform_home.resources["lake"]
    store = store_from_uri(str(platform_home.serving))
    for day in platform_home.dates[-2:]:
        features = lake.read("employee_features", snapshot_date=day, columns=["EmployeeNumber", "opt_out"])
        opted = set(features.loc[features["opt_out"].astype(bool), "EmployeeNumber"].astype(int))
        assert opted, f"no opted-out employee active on {day}: the test would prove nothing"
        scores = lake.read("nightly_scores", snapshot_date=day, columns=["employee_id"])
        scored = set(scores["employee_id"].astype(int))
        assert scored and not scored & opted, day
        export = FallbackIndex.from_bytes(store.read_bytes(scores_key_for(day)))
        assert len(export) == len(scored)
        assert [e for e in opted if e in export] == [], day


def test_serving_logs_no_prediction_or_action_of_an_opted_out_employee(tmp_path: Path) -> None:
    opted, other = OPTED_OUT_EVERY, 1
    with running(tmp_path / "home", publish_model=make_bundle(seed=2)) as stack:
        with stack.client() as c:
            ok = c.get(f"/v1/employees/{other}/risk")
            assert ok.status_code == 200
            refused = [
                c.get(f"/v1/employees/{opted}/risk"),
                c.get(f"/v1/scores/{opted}"),
                c.post("/v1/predict", json={**stack.record(other), "EmployeeNumber": opted}),
                c.post("/v1/actions", json={"employee_id": opted, "prediction_id": ok.json()["prediction_id"],
                                            "action": "stay_interview", "reason": "risk is high"}),
            ]
            batch = c.post("/v1/predict/batch", json={"employees": [{**stack.record(2), "EmployeeNumber": opted}]})
        stack.stop()  # flushes the audit queue
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert batch.status_code == 200 and batch.json()["scored"] == 0
    predictions = read_log(str(tmp_path / "home" / "lake"), PREDICTION_LOG)
    assert other in predictions["employee_id"]  # logging works: the one allowed answer is there
    assert opted not in predictions["employee_id"]
    actions = read_log(str(tmp_path / "home" / "lake"), ACTION_LOG)
    assert opted not in actions["employee_id"]
