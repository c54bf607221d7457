"""The purge and the erasure of the audit logs on an S3 lake (moto's server): the same Delta API
calls, so the old rows leave the bucket, log and data files alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from attrition_platform.contracts.audit_logs import (
    PREDICTION_LOG,
    PredictionRecord,
    append_predictions,
    read_log,
)
from attrition_platform.privacy import suppression
from attrition_platform.privacy.erasure import Locations, erase_employee, find_employee
from attrition_platform.privacy.retention import purge_logs
from attrition_platform_tests.s3_server import new_bucket, s3_env, s3_server  # noqa: F401

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _prediction(pid: str, ts: datetime, employee_id: int) -> PredictionRecord:
    return PredictionRecord(pid, ts, "portal", employee_id, "3", "live", f'{{"m": "{pid}"}}', 0.2, "low", ())


def _bucket_text(options: dict[str, str], bucket: str) -> str:
    """Every object of the bucket, as text (parquet decoded, so ids are searchable)."""
    import io

    import pyarrow.parquet as pq

    client = boto3.client(
        "s3", endpoint_url=options["AWS_ENDPOINT_URL"], region_name=options["AWS_REGION"],
        aws_access_key_id=options["AWS_ACCESS_KEY_ID"], aws_secret_access_key=options["AWS_SECRET_ACCESS_KEY"],
    )
    texts = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            texts.append(repr(pq.read_table(io.BytesIO(body)).to_pylist()) if item["Key"].endswith(".parquet")
                         else body.decode("utf-8", errors="replace"))
    return "\n".join(texts)


def test_purge_and_erase_on_an_s3_lake_leave_no_old_or_erased_row_in_the_bucket(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    bucket = new_bucket(s3_env, "privacy")
    lake = f"s3://{bucket}/lake"
    monkeypatch.setenv(suppression.SALT_ENV, "salt-from-vault")
    append_predictions(lake, [_prediction("old-1", NOW - timedelta(days=200), 5)], s3_env)
    append_predictions(lake, [_prediction("keep-1", NOW - timedelta(days=2), 6)], s3_env)
    append_predictions(lake, [_prediction("erase-1", NOW - timedelta(days=1), 777)], s3_env)
    assert "old-1" in _bucket_text(s3_env, bucket)

    purged = purge_logs(lake, 180, NOW, storage_options=s3_env)
    assert purged[0].rows_deleted == 1
    where = Locations(lake, f"s3://{bucket}/serving", s3_env)
    assert find_employee(777, where).tables[PREDICTION_LOG] == 1
    erase_employee(777, where)

    assert read_log(lake, PREDICTION_LOG, s3_env)["prediction_id"] == ["keep-1"]
    text = _bucket_text(s3_env, bucket)
    assert "old-1" not in text and "erase-1" not in text
    assert "keep-1" in text
    assert suppression.is_suppressed(lake, 777, s3_env)
