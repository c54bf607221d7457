"""`nightly_scores`: the served model's scores of a snapshot, in Delta and as serving's fallback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from attrition_platform.contract import KEY
from attrition_platform.contracts.fallback_export import FallbackIndex
from attrition_platform.contracts.published import read_pointer, store_from_uri
from attrition_platform.defs.partitions import SNAPSHOT_PARTITIONS_NAME
from attrition_platform.defs.scoring_assets import SCORES_TABLE, nightly_scores
from attrition_platform.publication import publish
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform_tests.serving.harness import OPTED_OUT_EVERY, make_bundle, write_snapshot

OLD = dt.date(2026, 9, 1)
NEW = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def bundle():
    return make_bundle(seed=3)


def _run(home: Path, day: dt.date) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SNAPSHOT_PARTITIONS_NAME, [OLD.isoformat(), NEW.isoformat()])
    return dg.materialize(
        [nightly_scores],
        partition_key=day.isoformat(),
        instance=instance,
        resources={
            "lake": DeltaLake(root=str(home / "lake")),
            "published": PublishedLocation(uri=str(home / "serving")),
        },
        raise_on_error=False,
    )


def test_scores_every_active_employee_except_opted_out_with_the_served_model(tmp_path: Path, bundle) -> None:
    features = write_snapshot(tmp_path / "lake", NEW)
    publish(bundle, "4", str(tmp_path / "serving"), str(tmp_path / "lake"), promoted_by="test", reason="fixture")
    result = _run(tmp_path, NEW)
    assert result.success
    rows = DeltaLake(root=str(tmp_path / "lake")).read(SCORES_TABLE, snapshot_date=NEW).sort_values("employee_id")
    # The rows the model should have scored: everyone in the snapshot minus the opted-out.
    expected = features.loc[~features["opt_out"]].sort_values(KEY)
    assert rows["employee_id"].tolist() == expected[KEY].tolist()
    assert not (rows["employee_id"] % OPTED_OUT_EVERY == 0).any()
    reference = bundle.score(expected[bundle.spec.inputs], explain=3)
    np.testing.assert_array_equal(rows["probability"].to_numpy(), reference.probabilities)
    assert set(rows["model_version"].astype(str)) == {"4"}
    first = rows.iloc[0]["top_factors"]
    assert len(first) == 3 and {"feature", "label", "contribution"} <= set(first[0])
    metadata = result.asset_materializations_for_node("nightly_scores")[0].metadata
    assert metadata["rows"].value == len(expected)
    assert metadata["opted_out_skipped"].value == int(features["opt_out"].sum())


def test_the_latest_snapshots_scores_become_servings_fallback_with_the_same_numbers(tmp_path: Path, bundle) -> None:
    write_snapshot(tmp_path / "lake", NEW)
    publish(bundle, "4", str(tmp_path / "serving"), str(tmp_path / "lake"), promoted_by="test", reason="fixture")
    store = store_from_uri(str(tmp_path / "serving"))
    before = read_pointer(store)
    assert _run(tmp_path, NEW).success
    pointer = read_pointer(store)
    assert pointer.scores_path == f"scores/{NEW.isoformat()}/scores.arrow"
    assert pointer.model_version == before.model_version and pointer.published_at == before.published_at
    index = FallbackIndex.from_bytes(store.read_bytes(pointer.scores_path))
    rows = DeltaLake(root=str(tmp_path / "lake")).read(SCORES_TABLE, snapshot_date=NEW)
    for employee_id, probability in zip(rows["employee_id"], rows["probability"], strict=True):
        cached = index.get(int(employee_id))
        assert cached is not None and cached.probability == pytest.approx(probability, abs=0)


def test_rescoring_replaces_the_partition_and_an_older_date_never_moves_the_fallback_back(
    tmp_path: Path, bundle
) -> None:
    write_snapshot(tmp_path / "lake", OLD, seed=5)
    write_snapshot(tmp_path / "lake", NEW)
    publish(bundle, "4", str(tmp_path / "serving"), str(tmp_path / "lake"), promoted_by="test", reason="fixture")
    lake = DeltaLake(root=str(tmp_path / "lake"))
    assert _run(tmp_path, NEW).success
    once = len(lake.read(SCORES_TABLE, snapshot_date=NEW))
    assert _run(tmp_path, NEW).success
    assert len(lake.read(SCORES_TABLE, snapshot_date=NEW)) == once  # replaced, not appended
    assert _run(tmp_path, OLD).success
    assert len(lake.read(SCORES_TABLE, snapshot_date=OLD)) > 0
    pointer = read_pointer(store_from_uri(str(tmp_path / "serving")))
    assert pointer.scores_path == f"scores/{NEW.isoformat()}/scores.arrow"


def test_nothing_published_fails_with_a_message_that_says_what_to_do(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "lake", NEW)
    result = _run(tmp_path, NEW)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "nothing is published" in message and "publish a model first" in message
    assert not DeltaLake(root=str(tmp_path / "lake")).exists(SCORES_TABLE)


def test_a_tampered_published_bundle_fails_naming_the_file_and_writes_nothing(tmp_path: Path, bundle) -> None:
    write_snapshot(tmp_path / "lake", NEW)
    publish(bundle, "4", str(tmp_path / "serving"), str(tmp_path / "lake"), promoted_by="test", reason="fixture")
    booster = tmp_path / "serving" / "bundles" / "4" / "booster.ubj"
    booster.write_bytes(booster.read_bytes()[:-4] + b"evil")
    result = _run(tmp_path, NEW)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "booster.ubj" in failure.step_failure_data.error.message
    assert not DeltaLake(root=str(tmp_path / "lake")).exists(SCORES_TABLE)
