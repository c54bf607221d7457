"""Publishing a bundle to a real MLflow store (sqlite + file artifacts): the pyfunc model, the
order of registration and aliasing, and the checks a rerun uses to trust what is there."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest

from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.feature_spec import FeatureSpec
from attrition_platform.model.recipe import RecipeParams, train_xgboost
from attrition_platform.resources.mlflow_registry import (
    STALE_REASON_TAG,
    MlflowRegistry,
    RegistrationError,
)
from attrition_platform_tests.hris.factories import static_rows


@pytest.fixture(scope="module")
def small_bundle() -> tuple[ModelBundle, pd.DataFrame]:
    train, val, test = static_rows(600, seed=1), static_rows(300, seed=2), static_rows(200, seed=3)
    y = lambda df: (df["OverTime"] == "Yes").to_numpy(int)  # noqa: E731
    bundle = train_xgboost(train, y(train), val, y(val), RecipeParams(max_rounds=20, max_depths=(2,)))
    return bundle, test


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sqlite store per module (creating its schema is the slow part); tests keep apart by
    using their own registered model and experiment in it."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def registry(store: Path, request: pytest.FixtureRequest) -> MlflowRegistry:
    name = request.node.name.removeprefix("test_")[:60]
    return MlflowRegistry(
        tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
        artifact_location=(store / "artifacts" / name).as_uri(),
        experiment_name=name,
        model_name=name,
    )


def publish(registry: MlflowRegistry, bundle: ModelBundle, alias: str = "challenger") -> str:
    with registry.start_run("t", {"dagster_run_id": "test"}) as run:
        return registry.log_and_register(bundle, run.info.run_id, alias, {"k": "v"})


def model_dir(registry: MlflowRegistry, source: str) -> Path:
    """The local directory of a logged model (`source` is its `models:/m-<id>` URI)."""
    model_id = source.removeprefix("models:/")
    return Path(urlparse(registry.client().get_logged_model(model_id).artifact_location).path)


def bundle_files(registry: MlflowRegistry, version: str) -> Path:
    """The local directory of a version's plain bundle inside its logged model."""
    source = registry.client().get_model_version(registry.model_name, version).source
    return model_dir(registry, source) / "artifacts" / "bundle"


def test_pyfunc_load_model_gives_the_bundles_probabilities_without_unpickling(
    small_bundle, registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, test = small_bundle
    publish(registry, bundle)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    model = mlflow.pyfunc.load_model(registry.model_uri("challenger"))
    out = model.predict(test[bundle.spec.inputs])
    assert np.array_equal(out["probability"].to_numpy(), bundle.predict_proba(test))
    assert out["risk_band"].tolist() == bundle.band(bundle.predict_proba(test)).tolist()


def test_pyfunc_model_has_an_input_signature_and_a_made_up_input_example(
    small_bundle, registry: MlflowRegistry
) -> None:
    bundle, test = small_bundle
    publish(registry, bundle)
    info = mlflow.models.get_model_info(registry.model_uri("challenger"))
    inputs = {c.name: str(c.type) for c in info.signature.inputs.inputs}
    assert list(inputs) == bundle.spec.inputs
    assert inputs["Age"].endswith("long") and inputs["OverTime"].endswith("string")
    assert [c.name for c in info.signature.outputs.inputs] == ["probability", "risk_band"]
    example = mlflow.models.Model.load(registry.model_uri("challenger")).load_input_example(
        bundle_files(registry, "1").parent.parent
    )
    assert list(example.columns) == bundle.spec.inputs
    # Never a training row: HR data must not be copied into MLflow as an example.
    assert bundle.score(example).ok


def test_pyfunc_rejects_invalid_rows_without_echoing_them(
    small_bundle, registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, test = small_bundle
    publish(registry, bundle)
    monkeypatch.setenv("MLFLOW_DISABLE_SCHEMA_DETAILS", "unset-by-test")
    monkeypatch.delenv("MLFLOW_DISABLE_SCHEMA_DETAILS")  # restored (absent) after the test
    model = mlflow.pyfunc.load_model(registry.model_uri("challenger"))
    rows = test[bundle.spec.inputs].head(2).copy()
    rows.loc[1, "OverTime"] = "yes-4711"
    with pytest.raises(Exception, match="'OverTime' outside the domain") as raised:
        model.predict(rows)
    assert "4711" not in str(raised.value)
    # A wrong type is caught by MLflow's own schema enforcement first, whose message would
    # print the whole input frame; loading the model turns that off.
    rows = test[bundle.spec.inputs].head(2).astype(object)
    rows.loc[0, "Age"] = "age-4711"
    with pytest.raises(Exception) as raised:
        model.predict(rows)
    assert "4711" not in str(raised.value)


def test_from_mlflow_reads_the_plain_bundle_in_the_model_and_learns_its_version(
    small_bundle, registry: MlflowRegistry
) -> None:
    bundle, test = small_bundle
    publish(registry, bundle)
    version = publish(registry, bundle)
    assert version == "2"
    assert sorted(p.name for p in bundle_files(registry, version).iterdir()) == [
        "booster.ubj", "feature_spec.json", "metadata.json"
    ]
    loaded = ModelBundle.from_mlflow(registry.model_uri("challenger"), registry.tracking_uri)
    assert loaded.metadata["model_version"] == "2"
    assert ModelBundle.from_mlflow(registry.model_uri("1"), registry.tracking_uri).metadata["model_version"] == "1"
    assert np.array_equal(loaded.predict_proba(test), bundle.predict_proba(test))


def test_alias_stays_put_when_the_new_version_does_not_load_back(
    small_bundle, registry: MlflowRegistry
) -> None:
    bundle, _ = small_bundle
    assert publish(registry, bundle) == "1"
    with registry.start_run("t", {"dagster_run_id": "test"}) as run:
        source = bundle.log_to_mlflow()
        # The upload went wrong after logging (a file lost): the version must not get the alias.
        (model_dir(registry, source) / "artifacts" / "bundle" / "booster.ubj").unlink()
        with pytest.raises(RegistrationError, match="alias 'challenger' left where it was"):
            registry.register(source, run.info.run_id, "challenger", {})
    alias = registry.client().get_model_version_by_alias(registry.model_name, "challenger")
    assert str(alias.version) == "1"
    assert registry.alias_loads("challenger")


def test_alias_stays_put_when_the_process_fails_between_registering_and_aliasing(
    small_bundle, registry: MlflowRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = small_bundle
    assert publish(registry, bundle) == "1"

    def killed(*_: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(MlflowRegistry, "_await_ready", killed)
    with pytest.raises(KeyboardInterrupt):
        publish(registry, bundle)
    client = registry.client()
    # The version exists (its files were uploaded first) but nothing points at it.
    assert {str(v.version) for v in client.search_model_versions(f"name='{registry.model_name}'")} == {"1", "2"}
    assert str(client.get_model_version_by_alias(registry.model_name, "challenger").version) == "1"


def test_alias_loads_only_when_the_alias_exists_and_its_files_are_there(
    small_bundle, registry: MlflowRegistry
) -> None:
    bundle, _ = small_bundle
    assert not registry.alias_loads("challenger")  # no registered model at all
    version = publish(registry, bundle)
    assert registry.alias_loads("challenger")
    assert not registry.alias_loads("champion")  # no such alias
    shutil.rmtree(bundle_files(registry, version))
    assert not registry.alias_loads("challenger")


def test_fail_stale_runs_fails_running_runs_whose_dagster_run_is_gone(registry: MlflowRegistry) -> None:
    client = registry.client()
    exp = registry.experiment_id()
    dead = client.create_run(exp, tags={"dagster_run_id": "dead-run"}).info.run_id
    alive = client.create_run(exp, tags={"dagster_run_id": "live-run"}).info.run_id
    foreign = client.create_run(exp, tags={}).info.run_id  # not started by the platform
    finished = client.create_run(exp, tags={"dagster_run_id": "old-run"}).info.run_id
    client.set_terminated(finished, status="FINISHED")

    assert registry.fail_stale_runs({"live-run"}) == 1
    status = {r: client.get_run(r).info.status for r in (dead, alive, foreign, finished)}
    assert status == {dead: "FAILED", alive: "RUNNING", foreign: "RUNNING", finished: "FINISHED"}
    assert "dead-run" in client.get_run(dead).data.tags[STALE_REASON_TAG]
    assert registry.fail_stale_runs(lambda run_id: run_id == "live-run") == 0
    assert registry.fail_stale_runs(lambda run_id: False) == 1
    assert client.get_run(alive).info.status == "FAILED"
