from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.contracts.fallback_export import encode_export
from attrition_platform.contracts.published import (
    ENV_VAR,
    MANIFEST_FILE,
    POINTER_KEY,
    LocalStore,
    PublicationError,
    default_serving_uri,
    fetch_bundle,
    point_scores,
    publish_bundle,
    publish_scores,
    read_pointer,
    store_from_uri,
)
from attrition_platform.model.bundle import BOOSTER_FILE, METADATA_FILE

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _publish(store: LocalStore, src: Path, version: str, **kw: object) -> object:
    return publish_bundle(
        store, src, version, promoted_by="alice", reason="passed the gate", now=NOW, **kw
    )


def _export() -> bytes:
    return encode_export(
        np.array([1, 2]),
        "1",
        np.array([0.1, 0.8]),
        np.array(["low", "high"]),
        [[("OverTime", "Works overtime", 0.4)], []],
        NOW,
    )


def test_published_bundle_reads_back_with_same_scores(tmp_path, bundle_dir, small_bundle):
    store = LocalStore(tmp_path / "serving")
    assert read_pointer(store) is None
    pointer = _publish(store, bundle_dir, "3")
    assert read_pointer(store) == pointer
    assert (pointer.model_version, pointer.bundle_path, pointer.promoted_by) == (
        "3",
        "bundles/3/",
        "alice",
    )
    assert pointer.published_at == "2026-11-30T06:00:00+00:00"
    got = fetch_bundle(store, pointer, tmp_path / "dl")
    assert got.metadata["model_version"] == "3"
    x = np.asarray(
        small_bundle.booster.inplace_predict(np.zeros((1, len(small_bundle.spec.feature_names))))
    )
    assert np.array_equal(
        np.asarray(got.booster.inplace_predict(np.zeros((1, len(got.spec.feature_names))))), x
    )
    assert got.threshold == small_bundle.threshold
    assert set(store.list("bundles/3/")) == {
        f"bundles/3/{n}" for n in (*(p.name for p in bundle_dir.iterdir()), MANIFEST_FILE)
    }


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("flip", BOOSTER_FILE),
        ("missing", METADATA_FILE),
        ("extra", "notes.txt"),
    ],
)
def test_fetch_refuses_a_bundle_that_differs_from_its_manifest_naming_the_file(
    tmp_path, bundle_dir, damage, named
):
    store = LocalStore(tmp_path / "serving")
    pointer = _publish(store, bundle_dir, "1")
    folder = tmp_path / "serving" / "bundles" / "1"
    if damage == "flip":
        raw = bytearray((folder / named).read_bytes())
        raw[len(raw) // 2] ^= 0x01
        (folder / named).write_bytes(bytes(raw))
    elif damage == "missing":
        (folder / named).unlink()
    else:
        (folder / named).write_text("hello")
    with pytest.raises(PublicationError, match=named):
        fetch_bundle(store, pointer, tmp_path / "dl")


def test_a_different_bundle_at_a_published_version_is_refused_and_current_kept(
    tmp_path, bundle_dir, other_bundle_dir
):
    store = LocalStore(tmp_path / "serving")
    first = _publish(store, bundle_dir, "1")
    before = (tmp_path / "serving" / "bundles" / "1" / BOOSTER_FILE).read_bytes()
    with pytest.raises(PublicationError, match="immutable"):
        _publish(store, other_bundle_dir, "1")
    assert read_pointer(store) == first
    assert (tmp_path / "serving" / "bundles" / "1" / BOOSTER_FILE).read_bytes() == before


def test_republishing_the_same_bytes_only_rewrites_the_pointer(
    tmp_path, bundle_dir, other_bundle_dir
):
    store = LocalStore(tmp_path / "serving")
    _publish(store, bundle_dir, "1")
    _publish(store, other_bundle_dir, "2")
    files_before = {k: store.read_bytes(k) for k in store.list("bundles/")}
    again = publish_bundle(
        store,
        bundle_dir,
        "1",
        promoted_by="bob",
        reason="rollback",
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert {k: store.read_bytes(k) for k in store.list("bundles/")} == files_before
    assert read_pointer(store) == again
    assert (again.model_version, again.promoted_by, again.reason) == ("1", "bob", "rollback")


def test_a_bundle_that_does_not_load_is_never_pointed_at(tmp_path, bundle_dir, other_bundle_dir):
    store = LocalStore(tmp_path / "serving")
    first = _publish(store, bundle_dir, "1")
    (other_bundle_dir / METADATA_FILE).write_text("{not json")
    with pytest.raises(PublicationError, match="not a loadable bundle"):
        _publish(store, other_bundle_dir, "2")
    assert read_pointer(store) == first
    assert store.list("bundles/2/") == []  # refused before anything was written


def test_republishing_over_an_altered_stored_bundle_is_refused(tmp_path, bundle_dir):
    store = LocalStore(tmp_path / "serving")
    first = _publish(store, bundle_dir, "1")
    bad = b"{not json"
    (tmp_path / "serving" / "bundles" / "1" / METADATA_FILE).write_bytes(bad)
    with pytest.raises(PublicationError, match=METADATA_FILE):
        _publish(store, bundle_dir, "1")
    assert read_pointer(store) == first


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"{not json",
        b'{"model_version": "1"}',
        (
            b'{"model_version": "1", "bundle_path": "../etc/", "scores_path": null, '
            b'"published_at": "x", "promoted_by": "a", "reason": "b"}'
        ),
    ],
)
def test_garbage_current_is_a_publication_error(tmp_path, garbage):
    store = LocalStore(tmp_path / "serving")
    store.write_bytes(POINTER_KEY, garbage)
    with pytest.raises(PublicationError, match=POINTER_KEY):
        read_pointer(store)


def test_a_reader_polling_during_publications_only_sees_complete_bundles(
    tmp_path, small_bundle, other_bundle
):
    store = LocalStore(tmp_path / "serving")
    sources = [small_bundle.save(tmp_path / "a"), other_bundle.save(tmp_path / "b")]
    expected = {
        name: (p / BOOSTER_FILE).read_bytes() for name, p in zip("ab", sources, strict=True)
    }
    _publish(store, sources[0], "v0")
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[str] = []

    def reader() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                pointer = read_pointer(store)
                assert pointer is not None
                dest = tmp_path / f"r{i}"
                fetch_bundle(store, pointer, dest)
                version = int(pointer.model_version[1:])
                assert (dest / BOOSTER_FILE).read_bytes() == expected["ab"[version % 2]]
                seen.append(pointer.model_version)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for v in range(1, 21):
            _publish(store, sources[v % 2], f"v{v}")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(seen) > 0
    assert read_pointer(store).model_version == "v20"


def test_scores_are_published_then_pointed_at_without_changing_the_model(tmp_path, bundle_dir):
    store = LocalStore(tmp_path / "serving")
    pointer = _publish(store, bundle_dir, "1")
    key = publish_scores(store, date(2026, 11, 30), _export())
    assert key == "scores/2026-11-30/scores.arrow"
    assert store.read_bytes(key) == _export()
    moved = point_scores(store, key)
    assert moved.scores_path == key
    assert (moved.model_version, moved.bundle_path, moved.published_at) == (
        pointer.model_version,
        pointer.bundle_path,
        pointer.published_at,
    )
    assert read_pointer(store) == moved


def test_a_new_bundle_keeps_the_current_scores_unless_given(tmp_path, bundle_dir, other_bundle_dir):
    store = LocalStore(tmp_path / "serving")
    _publish(store, bundle_dir, "1")
    key = publish_scores(store, date(2026, 11, 30), _export())
    point_scores(store, key)
    assert _publish(store, other_bundle_dir, "2").scores_path == key


def test_scores_that_are_not_an_export_are_refused(tmp_path):
    store = LocalStore(tmp_path / "serving")
    with pytest.raises(PublicationError, match="scores/2026-11-30"):
        publish_scores(store, date(2026, 11, 30), b"not arrow")
    assert store.list("scores/") == []


def test_pointing_at_scores_before_any_bundle_or_at_a_missing_file_is_refused(tmp_path, bundle_dir):
    store = LocalStore(tmp_path / "serving")
    with pytest.raises(PublicationError, match="nothing published"):
        point_scores(store, "scores/2026-11-30/scores.arrow")
    _publish(store, bundle_dir, "1")
    with pytest.raises(PublicationError, match="scores/2026-11-29/scores.arrow"):
        point_scores(store, "scores/2026-11-29/scores.arrow")


def test_serving_uri_comes_from_the_environment_at_call_time(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("ATTRITION_HOME", str(tmp_path / "home"))
    assert default_serving_uri() == str(tmp_path / "home" / "serving")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert default_serving_uri() == str(tmp_path / "elsewhere")
    assert isinstance(store_from_uri(f"file://{tmp_path}/x"), LocalStore)
    with pytest.raises(PublicationError, match="expected a directory, file:// or s3:// URI"):
        store_from_uri("gs://bucket/prefix")  # s3:// is tested in test_object_store.py


def test_keys_cannot_escape_the_store(tmp_path):
    store = LocalStore(tmp_path / "serving")
    with pytest.raises(PublicationError, match="relative path"):
        store.write_bytes("../outside", b"x")
    assert not (tmp_path / "outside").exists()


def test_an_interrupted_publication_is_completed_by_publishing_again(tmp_path, bundle_dir):
    store = LocalStore(tmp_path / "serving")
    # A crash after the first file and before the manifest: no bundle, no pointer.
    store.write_bytes(f"bundles/5/{BOOSTER_FILE}", (bundle_dir / BOOSTER_FILE).read_bytes()[:10])
    assert read_pointer(store) is None
    pointer = _publish(store, bundle_dir, "5")
    fetch_bundle(store, pointer, tmp_path / "dl")
    assert (tmp_path / "dl" / BOOSTER_FILE).read_bytes() == (bundle_dir / BOOSTER_FILE).read_bytes()


def test_publishing_repairs_a_damaged_current(tmp_path, bundle_dir):
    store = LocalStore(tmp_path / "serving")
    store.write_bytes(POINTER_KEY, b"{torn")
    pointer = _publish(store, bundle_dir, "1")
    assert read_pointer(store) == pointer
