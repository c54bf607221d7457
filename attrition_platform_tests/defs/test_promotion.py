"""The promotion gate end to end: real Delta tables, a real MLflow registry, the real assets.

Labels are replaced by a rule the tests know (overtime and low job satisfaction mean leaving),
so which model is better, worse or less fair is a fact of the construction and not of a
synthetic company's noise:
- `good`: the platform's own candidate_model trained on those labels;
- `worse`: the good model with its ranking inverted (same share of employees flagged);
- `unfair`: a model trained on labels that hide every leaver aged 40 or more (it learns age),
  more accurate than `worse` but with a large recall gap across age bands;
- `narrow`: `unfair` flagging as many employees as `good`: less accurate than `good` (it cannot
  see leavers over 40) and less fair;
- `seen`: the good booster recorded as trained on a training-set version where the
  evaluation window was training data.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dagster_aws.s3 import S3Resource

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.contracts.published import PublicationError, fetch_bundle, read_pointer, store_from_uri
from attrition_platform.definitions import asset_graph
from attrition_platform.defs.governance_assets import CHALLENGER, CHAMPION
from attrition_platform.defs.training_assets import TRAINING_TABLE, split_frames
from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import Calibration, ModelBundle
from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform.resources.hris import HrisSource
from attrition_platform.resources.published import PublishedLocation
from attrition_platform_tests.defs.conftest import SMALL_TRAINING, make_resources, materialize_snapshot
from attrition_platform_tests.s3_server import new_bucket, s3_options, s3_server  # noqa: F401

pytestmark = pytest.mark.xdist_group("promotion")

HRIS = HrisSource(employees=500, months=16, end_date="2026-11-01", seed=11)
GOVERNANCE = ["fairness_report", "promotion_gate", "production_model"]
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
FAST = RecipeParams(max_depths=(2,), max_rounds=150, refit=False)


def _known_label(rows: Any) -> np.ndarray:
    """The rule, with 5 % of labels flipped (stable per row): a perfectly separable world would
    leave calibration nothing to fit."""
    rule = ((rows["OverTime"].astype(str) == "Yes") & (rows["JobSatisfaction"].astype(int) <= 2)).to_numpy()
    noise = pd.util.hash_pandas_object(rows[[KEY, SNAPSHOT_DATE]], index=False).to_numpy() % 20 == 0
    return rule ^ noise


def _register(resources: dict[str, Any], bundle: ModelBundle, metadata: dict[str, Any]) -> str:
    mlflow = resources["mlflow"]
    bundle.metadata.update(metadata)
    with mlflow.start_run("test-variant") as run:
        bundle.metadata.update(mlflow_run_id=run.info.run_id, model_name=mlflow.model_name)
        return mlflow.log_and_register(bundle, run.info.run_id, "variant", {})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("promotion")
    resources = make_resources(home, HRIS)
    lake = resources["lake"]
    with dg.instance_for_test() as instance:
        for day in HRIS.extract_dates():
            assert materialize_snapshot(resources, day.isoformat(), instance).success
        built = dg.materialize(asset_graph(), selection=["training_set"], resources=resources,
                               instance=instance, run_config={"ops": {"training_set": SMALL_TRAINING["ops"]["training_set"]}, **QUIET})
        assert built.success
        real = lake.version(TRAINING_TABLE)
        rows = lake.read(TRAINING_TABLE, version=real)
        rows[td.LABEL] = _known_label(rows).astype("int8")
        lineage = lake.lineage(TRAINING_TABLE, real)
        known = lake.overwrite(TRAINING_TABLE, rows, lineage=lineage)
        trained = dg.materialize(
            asset_graph(), selection=["candidate_model", "model_evaluation"], resources=resources,
            instance=instance, run_config={"ops": {"candidate_model": SMALL_TRAINING["ops"]["candidate_model"]}, **QUIET},
        )
        assert trained.success
    mlflow = resources["mlflow"]
    good_version = str(mlflow.alias_version(CHALLENGER).version)
    good = ModelBundle.from_mlflow(mlflow.model_uri(good_version), mlflow.tracking_uri)
    recorded = {k: good.metadata[k] for k in ("delta_versions", "horizon_days", "known_until")}
    parts = split_frames(rows)
    test = parts["test"]

    # worse: the same booster, ranking inverted, flagging as many employees as the good model.
    worse = dataclasses.replace(good, calibration=Calibration(-good.calibration.slope, good.calibration.intercept),
                                metadata={})
    share = float(np.mean(good.score(test, unseen="allow").require_all() >= good.threshold))
    worse.threshold = float(np.quantile(worse.score(test, unseen="allow").require_all(), 1 - share))

    # unfair: learns from labels that hide every leaver aged 40+ (age is a model input).
    hide = {s: parts[s][td.LABEL].to_numpy() * (parts[s]["Age"].to_numpy() < 40) for s in ("train", "validation")}
    unfair = train_xgboost(parts["train"], hide["train"], parts["validation"], hide["validation"], FAST)
    narrow = dataclasses.replace(unfair, metadata={})
    narrow.threshold = float(np.quantile(narrow.score(test, unseen="allow").require_all(), 1 - share))

    # seen: the training set rewritten with every row in `train`, recorded as the model's source.
    everything = rows.copy()
    everything[td.SPLIT] = "train"
    seen_ts = lake.overwrite(TRAINING_TABLE, everything, lineage=lineage)
    seen = dataclasses.replace(good, metadata={})
    versions = {
        "good": good_version,
        "worse": _register(resources, worse, recorded),
        "unfair": _register(resources, unfair, recorded),
        "narrow": _register(resources, narrow, recorded),
        "seen": _register(resources, seen, {**recorded, "delta_versions": {**recorded["delta_versions"], "training_set": seen_ts}}),
    }
    assert recorded["delta_versions"]["training_set"] == known
    return {"resources": resources, "versions": versions, "home": home}


def _aliases(world: dict[str, Any], champion: str | None, challenger: str) -> None:
    mlflow = world["resources"]["mlflow"]
    client = mlflow.client()
    client.set_registered_model_alias(mlflow.model_name, CHALLENGER, world["versions"][challenger])
    if champion is None:
        if mlflow.alias_version(CHAMPION) is not None:
            client.delete_registered_model_alias(mlflow.model_name, CHAMPION)
    else:
        client.set_registered_model_alias(mlflow.model_name, CHAMPION, world["versions"][champion])


def _govern(world: dict[str, Any], gate: dict[str, Any] | None = None,
            selection: list[str] = GOVERNANCE) -> dg.ExecuteInProcessResult:
    config: dict[str, Any] = {"ops": {"promotion_gate": {"config": gate}}} if gate else {}
    with dg.instance_for_test() as instance:
        return dg.materialize(asset_graph(), selection=selection, resources=world["resources"],
                              instance=instance, run_config={**config, **QUIET}, raise_on_error=False)


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    [event] = result.asset_materializations_for_node(asset)
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def _current(world: dict[str, Any]) -> bytes | None:
    path = Path(world["resources"]["published"].uri) / "CURRENT"
    return path.read_bytes() if path.exists() else None


def _tags(world: dict[str, Any], name: str) -> dict[str, str]:
    mlflow = world["resources"]["mlflow"]
    return mlflow.client().get_model_version(mlflow.model_name, world["versions"][name]).tags


def _served(world: dict[str, Any]) -> str | None:
    pointer = read_pointer(world["resources"]["published"].store())
    return pointer.model_version if pointer else None


def test_the_first_model_promotes_through_the_floors_and_is_published(world: dict[str, Any]) -> None:
    _aliases(world, champion=None, challenger="good")
    result = _govern(world)
    assert result.success
    gate = _meta(result, "promotion_gate")
    assert gate["decision"] == "promoted" and gate["champion_before"] == "none", gate["summary"]
    assert "first-model floors" in gate["summary"]
    good = world["versions"]["good"]
    assert str(world["resources"]["mlflow"].alias_version(CHAMPION).version) == good
    assert _served(world) == good
    published = _meta(result, "production_model")
    assert published["published"] is True and published["cached_scores"] > 0
    tags = _tags(world, "good")
    assert tags["gate.decision"] == "promoted" and tags["previous_champion"] == "none"
    assert tags["promoted_by"].startswith("promotion_gate") and "floors" in tags["promotion_reason"]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "fairness_gap_within_limit"


def test_a_worse_challenger_is_rejected_and_production_is_untouched(world: dict[str, Any]) -> None:
    _aliases(world, champion="good", challenger="worse")
    if _served(world) != world["versions"]["good"]:
        assert _govern(world, selection=["production_model"]).success
    before = _current(world)
    bundles = sorted(p.name for p in (Path(world["resources"]["published"].uri) / "bundles").iterdir())
    result = _govern(world)
    assert result.success
    gate = _meta(result, "promotion_gate")
    assert gate["decision"] == "rejected" and gate["promoted"] is False
    failed = gate["failed_rules"]
    assert set(failed) == {"recall_vs_champion", "precision_vs_champion"}
    assert all(f["short_by"] > 0 for f in failed.values())
    assert "rejected against champion v" in gate["summary"]
    assert str(world["resources"]["mlflow"].alias_version(CHAMPION).version) == world["versions"]["good"]
    assert _current(world) == before  # not one byte of production changed
    assert sorted(p.name for p in (Path(world["resources"]["published"].uri) / "bundles").iterdir()) == bundles
    assert _meta(result, "production_model")["published"] is False
    assert _tags(world, "worse")["gate.decision"] == "rejected"


def test_a_better_challenger_replaces_a_champion_promoted_by_hand(world: dict[str, Any]) -> None:
    _aliases(world, champion=None, challenger="good")
    manual = {"action": "promote", "model_version": world["versions"]["narrow"], "reason": "test: a weak champion",
              "requested_by": "hr-analytics@example.com"}
    by_hand = _govern(world, manual, selection=["promotion_gate", "production_model"])
    assert by_hand.success
    assert _meta(by_hand, "promotion_gate")["decision"] == "manual_promote"
    assert _served(world) == world["versions"]["narrow"]
    tags = _tags(world, "narrow")
    assert tags["promoted_by"] == "hr-analytics@example.com"
    assert tags["promotion_reason"] == "promote: test: a weak champion"

    result = _govern(world)
    assert result.success
    gate = _meta(result, "promotion_gate")
    assert gate["decision"] == "promoted", gate["summary"]
    assert gate["failed_rules"] == {}
    assert gate["champion_before"] == world["versions"]["narrow"]
    assert gate["window_proof"]["unseen"] is True
    assert _served(world) == world["versions"]["good"]
    assert _tags(world, "good")["previous_champion"] == world["versions"]["narrow"]


def test_a_more_accurate_but_less_fair_challenger_is_rejected_on_fairness(world: dict[str, Any]) -> None:
    _aliases(world, champion="worse", challenger="unfair")
    result = _govern(world, selection=["promotion_gate"])
    assert result.success
    gate = _meta(result, "promotion_gate")
    assert gate["decision"] == "rejected"
    assert set(gate["failed_rules"]) == {"fairness_gap_vs_champion"}, gate["summary"]
    assert gate["failed_rules"]["fairness_gap_vs_champion"]["short_by"] > 0.10  # far beyond 2 pp
    assert str(world["resources"]["mlflow"].alias_version(CHAMPION).version) == world["versions"]["worse"]


def test_the_fairness_report_shows_both_models_and_warns_on_a_large_gap(world: dict[str, Any]) -> None:
    _aliases(world, champion="worse", challenger="unfair")
    result = _govern(world, selection=["fairness_report"])
    report = _meta(result, "fairness_report")
    assert report["candidate_version"] == world["versions"]["unfair"]
    assert report["champion_version"] == world["versions"]["worse"]
    assert report["candidate_max_gap_pp"] > 10 and report["largest_gap_attribute"] == "age_band"
    table = report["fairness_table"]
    assert f"candidate v{world['versions']['unfair']} recall" in table and "champion v" in table
    assert "| 50+" in table and "| Female" in table
    assert report["recall_by_group"].startswith("![Recall per protected group")
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_a_window_the_champion_has_trained_on_is_refused(world: dict[str, Any]) -> None:
    _aliases(world, champion="seen", challenger="good")
    result = _govern(world, selection=["promotion_gate"])
    assert result.success
    gate = _meta(result, "promotion_gate")
    assert gate["decision"] == "no_window" and gate["promoted"] is False
    assert gate["window_proof"]["shared_rows"] == gate["evaluation_rows"]
    assert "trained or validated on" in gate["summary"]
    assert str(world["resources"]["mlflow"].alias_version(CHAMPION).version) == world["versions"]["seen"]


def test_a_rollback_needs_a_reason_and_is_recorded(world: dict[str, Any]) -> None:
    _aliases(world, champion="good", challenger="good")
    refused = _govern(world, {"action": "rollback", "model_version": world["versions"]["worse"], "reason": "  "},
                      selection=["promotion_gate"])
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    assert "reason is required" in failure.step_failure_data.error.message
    assert str(world["resources"]["mlflow"].alias_version(CHAMPION).version) == world["versions"]["good"]
    missing = _govern(world, {"action": "rollback", "model_version": "999", "reason": "x"}, selection=["promotion_gate"])
    assert not missing.success
    done = _govern(world, {"action": "rollback", "model_version": world["versions"]["worse"], "reason": "incident 42"},
                   selection=["promotion_gate"])
    assert done.success and _meta(done, "promotion_gate")["decision"] == "manual_rollback"
    assert _tags(world, "worse")["promotion_reason"] == "rollback: incident 42"
    assert _tags(world, "worse")["previous_champion"] == world["versions"]["good"]


def test_a_reader_polling_during_publication_only_sees_the_old_or_the_new_model(world: dict[str, Any],
                                                                               tmp_path: Path) -> None:
    _aliases(world, champion="worse", challenger="good")
    store = world["resources"]["published"].store()
    assert _govern(world, selection=["production_model"]).success
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        i = 0
        while not stop.is_set():
            pointer = read_pointer(store)
            try:
                bundle = fetch_bundle(store, pointer, tmp_path / f"r{i}")
                seen.append(str(bundle.metadata["model_version"]) if "model_version" in bundle.metadata
                            else pointer.model_version)
            except PublicationError as exc:
                errors.append(str(exc))
            i += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        _aliases(world, champion="good", challenger="good")
        assert _govern(world, selection=["production_model"]).success
    finally:
        stop.set()
        reader.join()
    assert not errors
    assert set(seen) <= {world["versions"]["worse"], world["versions"]["good"]}
    assert _served(world) == world["versions"]["good"]


def test_the_champion_is_published_to_s3_through_dagster_aws(world: dict[str, Any], s3_server: str) -> None:
    """No AWS_* variable is set: only the nested S3Resource knows the endpoint and keys, and a
    reader with serving's own client (built from the AWS_* options) finds the champion there."""
    options = s3_options(s3_server)
    bucket = new_bucket(options)
    uri = f"s3://{bucket}/attrition/serving"
    on_s3 = PublishedLocation(uri=uri, s3=S3Resource(
        endpoint_url=s3_server, region_name=options["AWS_REGION"],
        aws_access_key_id=options["AWS_ACCESS_KEY_ID"], aws_secret_access_key=options["AWS_SECRET_ACCESS_KEY"]))
    _aliases(world, champion="good", challenger="good")
    with dg.instance_for_test() as instance:
        result = dg.materialize(asset_graph(), selection=["production_model"],
                                resources={**world["resources"], "published": on_s3}, instance=instance,
                                run_config=QUIET)
    assert result.success
    assert _meta(result, "production_model")["published"] is True
    store = store_from_uri(uri, options)
    pointer = read_pointer(store)
    assert pointer is not None and pointer.model_version == world["versions"]["good"]
    bundle = fetch_bundle(store, pointer, world["home"] / "from-s3")
    local = ModelBundle.from_mlflow(world["resources"]["mlflow"].model_uri(world["versions"]["good"]),
                                    world["resources"]["mlflow"].tracking_uri)
    assert bundle.booster.save_raw() == local.booster.save_raw()
    assert pointer.scores_path and store.exists(pointer.scores_path)
