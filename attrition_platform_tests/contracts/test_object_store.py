"""The s3:// published location against a real S3 API (moto server on loopback)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.contracts.fallback_export import encode_export
from attrition_platform.contracts.object_store import S3Store, parse_s3_uri, s3_client_from_env
from attrition_platform.contracts.published import (
    MANIFEST_FILE,
    PublicationError,
    fetch_bundle,
    point_scores,
    publish_bundle,
    publish_scores,
    read_pointer,
    store_from_uri,
)
from attrition_platform.contracts.storage_options import storage_options_from_env
from attrition_platform.model.bundle import BOOSTER_FILE
from attrition_platform_tests.s3_server import (  # noqa: F401 - fixtures
    enforced_credentials,
    new_bucket,
    s3_env,
    s3_options,
    s3_server,
)

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return new_bucket(s3_env)


def _export() -> bytes:
    return encode_export(
        np.array([1, 2]), "1", np.array([0.1, 0.8]), np.array(["low", "high"]),
        [[("OverTime", "Works overtime", 0.4)], []], NOW,
    )


def test_s3_store_round_trips_bytes_and_a_missing_key_reads_as_none(bucket: str) -> None:
    store = store_from_uri(f"s3://{bucket}/published")
    assert isinstance(store, S3Store) and store.describe() == f"s3://{bucket}/published/"
    assert store.read_bytes("CURRENT") is None and not store.exists("CURRENT")
    store.write_bytes("bundles/1/booster.ubj", b"\x00\x01binary")
    store.write_bytes("bundles/1/booster.ubj", b"replaced")  # one PUT replaces the object
    assert store.read_bytes("bundles/1/booster.ubj") == b"replaced"
    assert store.exists("bundles/1/booster.ubj")
    # The prefix is the store's root: the raw key carries it, the store's keys do not.
    raw = s3_client_from_env().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in raw] == ["published/bundles/1/booster.ubj"]


def test_listing_follows_every_page_and_stays_under_the_prefix(bucket: str) -> None:
    client = s3_client_from_env()
    store = S3Store(client, bucket, "pub", page_size=2)
    keys = [f"bundles/7/f{i}" for i in range(5)]
    for key in keys:
        store.write_bytes(key, b"x")
    store.write_bytes("bundles/70/other", b"x")
    S3Store(client, bucket, "elsewhere").write_bytes("bundles/7/f9", b"x")
    assert store.list("bundles/7/") == keys  # 5 keys over 3 pages of 2
    assert store.list("") == sorted([*keys, "bundles/70/other"])


def test_an_unknown_bucket_is_a_publication_error_naming_it(s3_env: dict[str, str]) -> None:
    store = store_from_uri("s3://no-such-bucket-here/pub")
    for call in (lambda: store.read_bytes("CURRENT"), lambda: store.list("bundles/"),
                 lambda: store.write_bytes("CURRENT", b"{}"), lambda: store.exists("CURRENT")):
        with pytest.raises(PublicationError, match="bucket no-such-bucket-here does not exist") as info:
            call()
        assert "s3://no-such-bucket-here/pub/" in str(info.value)
        assert "Traceback" not in str(info.value)


def test_an_unreachable_endpoint_names_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from attrition_platform_tests.serving.harness import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = S3Store(s3_client_from_env(s3_options(endpoint)), "attrition", "pub")
    with pytest.raises(PublicationError, match=f"endpoint {endpoint} cannot be reached"):
        store.read_bytes("CURRENT")


def test_wrong_credentials_are_access_denied_and_never_echoed(s3_server: str) -> None:
    bucket = new_bucket(s3_options(s3_server))
    with enforced_credentials(s3_server) as (key_id, secret):
        wrong = S3Store(s3_client_from_env(s3_options(s3_server, key_id, "wrong-secret-value")), bucket, "")
        with pytest.raises(PublicationError, match="access denied") as info:
            wrong.read_bytes("CURRENT")
        assert "wrong-secret-value" not in str(info.value) and key_id not in str(info.value)
        right = S3Store(s3_client_from_env(s3_options(s3_server, key_id, secret)), bucket, "")
        assert right.read_bytes("CURRENT") is None


def test_a_plain_http_endpoint_needs_aws_allow_http(s3_server: str) -> None:
    options = s3_options(s3_server)
    del options["AWS_ALLOW_HTTP"]
    with pytest.raises(PublicationError, match="AWS_ALLOW_HTTP=true"):
        store_from_uri("s3://attrition/pub", options)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [("s3://", "names no bucket"), ("s3:///pub", "names no bucket"),
     ("s3://Bad_Bucket/pub", "not a valid S3 bucket name"), ("s3://attrition/../x", "'..'")],
)
def test_a_malformed_s3_uri_is_refused_naming_it(uri: str, problem: str) -> None:
    with pytest.raises(PublicationError, match=problem):
        parse_s3_uri(uri)


def test_s3_keys_cannot_escape_the_prefix(bucket: str) -> None:
    store = store_from_uri(f"s3://{bucket}/pub")
    with pytest.raises(PublicationError, match="without '..'"):
        store.write_bytes("../CURRENT", b"{}")


def test_a_bundle_published_to_s3_fetches_and_scores_like_the_source(
    bucket: str, bundle_dir: Path, small_bundle, tmp_path: Path
) -> None:
    store = store_from_uri(f"s3://{bucket}/pub")
    pointer = publish_bundle(store, bundle_dir, "4", promoted_by="alice", reason="gate", now=NOW)
    assert read_pointer(store_from_uri(f"s3://{bucket}/pub")) == pointer
    assert MANIFEST_FILE in {k.rsplit("/", 1)[-1] for k in store.list("bundles/4/")}
    got = fetch_bundle(store, pointer, tmp_path / "dl")
    x = np.zeros((3, len(small_bundle.spec.feature_names)))
    assert np.array_equal(got.booster.inplace_predict(x), small_bundle.booster.inplace_predict(x))
    assert got.metadata["model_version"] == "4"


def test_a_tampered_object_on_s3_is_refused_by_the_manifest(
    bucket: str, bundle_dir: Path, tmp_path: Path
) -> None:
    store = store_from_uri(f"s3://{bucket}/pub")
    pointer = publish_bundle(store, bundle_dir, "1", promoted_by="alice", reason="gate", now=NOW)
    key = f"bundles/1/{BOOSTER_FILE}"
    original = store.read_bytes(key)
    store.write_bytes(key, original[:-4] + b"XXXX")  # same size, other bytes
    with pytest.raises(PublicationError, match=f"bundles/1/{BOOSTER_FILE}: sha256/size differs"):
        fetch_bundle(store, pointer, tmp_path / "dl")


def test_scores_published_to_s3_are_pointed_at_atomically(bucket: str, bundle_dir: Path) -> None:
    store = store_from_uri(f"s3://{bucket}/pub")
    first = publish_bundle(store, bundle_dir, "1", promoted_by="alice", reason="gate", now=NOW)
    key = publish_scores(store, date(2026, 11, 30), _export())
    assert store.read_bytes(key) == _export()
    moved = point_scores(store, key)
    assert (moved.scores_path, moved.model_version, moved.published_at) == (key, "1", first.published_at)
    assert read_pointer(store) == moved


def test_the_lake_resource_and_serving_read_the_same_storage_options(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from attrition_platform.resources.lake import DeltaLake
    from serving.config import ServingSettings

    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path))
    monkeypatch.setenv("ATTRITION_LAKE_URI", "s3://attrition-lake/lake")
    assert storage_options_from_env() == s3_env
    assert DeltaLake(root="s3://attrition-lake/lake").storage_options() == s3_env
    assert DeltaLake(root=str(tmp_path / "lake")).storage_options() is None
    settings = ServingSettings.from_env()
    assert settings.storage_options == s3_env
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in repr(settings)
