"""The service's in-memory fallback follows CURRENT: a new export, and an export rewritten in
place (an erasure), are both reloaded at the next poll."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from attrition_platform.contracts.fallback_export import encode_export
from attrition_platform.contracts.published import LocalStore, point_scores, publish_scores, read_pointer
from attrition_platform.publication import publish
from serving.cached_scores import CachedScores
from attrition_platform_tests.serving.harness import make_bundle

DAY = dt.date(2026, 11, 1)


def _export(ids: list[int]) -> bytes:
    n = len(ids)
    return encode_export(np.array(ids, dtype=np.int64), "1", np.full(n, 0.2), np.array(["medium"] * n),
                         [[("OverTime", "works overtime", 0.3)]] * n, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))


def test_an_export_rewritten_in_place_is_reloaded_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "serving")
    publish(make_bundle(rounds=10), "1", store, str(tmp_path / "lake"), promoted_by="t", reason="t")
    key = publish_scores(store, DAY, _export([1, 2, 3]))
    point_scores(store, key)
    cached = CachedScores(store)
    assert cached.refresh(read_pointer(store)) and 2 in cached.index
    assert not cached.refresh(read_pointer(store))  # nothing changed: no reload

    publish_scores(store, DAY, _export([1, 3]))  # employee 2 erased, same key
    assert not cached.refresh(read_pointer(store))  # same path and revision: still the old one
    point_scores(store, key, now=dt.datetime(2026, 11, 3, tzinfo=dt.UTC))  # what erasure does
    assert cached.refresh(read_pointer(store))
    assert 2 not in cached.index and 1 in cached.index
