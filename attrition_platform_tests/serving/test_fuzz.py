"""An OpenAPI-driven fuzz run (schemathesis) against the running service: no input the schema
allows or forbids may produce a 5xx, and every response must match the documented schema."""

from __future__ import annotations


import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from attrition_platform_tests.serving.harness import make_bundle, running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with running(tmp_path_factory.mktemp("fuzz") / "home", publish_model=make_bundle(rounds=30)) as s:
        yield s


def test_the_api_answers_no_fuzzed_request_with_a_server_error(stack) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.base}/schema/openapi.json")
    token = stack.token("attrition:admin")
    assert schema["/v1/predict"]["POST"] is not None  # the document really describes the API
    doc = schema.raw_schema
    assert doc["components"]["schemas"]["EmployeeInput"]["additionalProperties"] is False
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v1/predict/batch", "/v1/actions",
                                              "/v1/employees/{employee_id}/risk", "/v1/model"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        fuzz()
