"""MLflow tracking and registry as a typed Dagster resource.

A small wrapper over `MlflowClient` instead of dagster-mlflow's legacy `mlflow_tracking`
resource: it is configurable in the launchpad, injectable in tests, and sets the experiment's
artifact location explicitly (otherwise MLflow writes `./mlruns` wherever the process runs).

It also owns the order of publishing a model, which is what makes "the alias loads" a fact and
not a hope: upload every file, then create the version, wait until MLflow calls it READY, read
the bundle back from the registry, and only then move the alias. A process killed at any point
leaves the alias where it was (at worst an unaliased version nobody uses).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from attrition_platform.model.bundle import ModelBundle

DAGSTER_RUN_TAG = "dagster_run_id"
STALE_REASON_TAG = "attrition.failed_reason"


class RegistrationError(RuntimeError):
    """A model version that did not become usable; the alias was not moved."""


class MlflowRegistry(dg.ConfigurableResource):
    tracking_uri: str = Field(description="MLflow tracking URI (sqlite:///..., http://...).")
    registry_uri: str | None = Field(default=None, description="Defaults to tracking_uri.")
    artifact_location: str | None = Field(
        default=None, description="Artifact root for a new experiment (file:// or s3://)."
    )
    experiment_name: str = "attrition"
    model_name: str = Field(default="attrition", description="Registered model name.")
    registration_timeout_s: float = Field(
        default=300.0, gt=0, description="How long a new version may stay PENDING_REGISTRATION."
    )
    ui_url: str | None = Field(
        default=None,
        description="MLflow UI base URL for links in the Dagster UI (default: "
        "ATTRITION_MLFLOW_UI_URL, else http://127.0.0.1:5000).",
    )

    def _activate(self) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)

    def client(self) -> Any:
        from mlflow import MlflowClient

        self._activate()
        return MlflowClient(self.tracking_uri, self.registry_uri or self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        exp = client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(self.experiment_name, artifact_location=self.artifact_location)

    @contextmanager
    def start_run(self, run_name: str, tags: dict[str, str] | None = None) -> Iterator[Any]:
        import mlflow

        experiment_id = self.experiment_id()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            yield run

    # -- publishing ---------------------------------------------------------------------------
    def log_and_register(
        self, bundle: ModelBundle, run_id: str, alias: str, tags: dict[str, str]
    ) -> str:
        """Log `bundle` as a pyfunc model into the active run, then `register` it."""
        return self.register(bundle.log_to_mlflow(), run_id, alias, tags)

    def register(self, source: str, run_id: str, alias: str, tags: dict[str, str]) -> str:
        """Register the already-uploaded model at `source` as a new version; point `alias` at it
        only once the version is READY and its bundle reads back from the registry.

        `source` must be fully uploaded before this is called (`log_to_mlflow` returns only
        then). The bundle's files cannot hold the version number, which exists only after they
        are uploaded; `ModelBundle.from_mlflow` fills `metadata["model_version"]` from the
        registry instead, so a bundle read through the registry always knows its version.
        """
        from mlflow.exceptions import MlflowException

        from attrition_platform.model.bundle import ModelBundle

        client = self.client()
        try:
            client.get_registered_model(self.model_name)
        except MlflowException:
            client.create_registered_model(
                self.model_name, description="Employee voluntary-attrition risk (XGBoost bundle)."
            )
        model_id = source[len("models:/") :] if source.startswith("models:/m-") else None
        created = client.create_model_version(
            self.model_name, source=source, run_id=run_id, tags=tags, model_id=model_id
        )
        version = str(created.version)
        self._await_ready(client, version)
        try:
            ModelBundle.from_mlflow(self.model_uri(version), self.tracking_uri)
        except Exception as exc:  # any failure to read back means: do not move the alias
            raise RegistrationError(
                f"model {self.model_name} version {version} does not load back from the registry "
                f"({type(exc).__name__}); alias '{alias}' left where it was"
            ) from exc
        client.set_registered_model_alias(self.model_name, alias, version)
        return version

    def _await_ready(self, client: Any, version: str) -> None:
        deadline = time.monotonic() + self.registration_timeout_s
        while True:
            status = str(client.get_model_version(self.model_name, version).status)
            if status == "READY":
                return
            if status != "PENDING_REGISTRATION" or time.monotonic() > deadline:
                raise RegistrationError(
                    f"model {self.model_name} version {version} is {status}, not READY"
                )
            time.sleep(1.0)

    def model_uri(self, alias_or_version: str) -> str:
        sep = "/" if alias_or_version.isdigit() else "@"
        return f"models:/{self.model_name}{sep}{alias_or_version}"

    # -- trusting what is there ---------------------------------------------------------------
    def alias_version(self, alias: str) -> Any | None:
        """The model version `alias` points at, or None when the model or the alias is absent."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def alias_loads(self, alias: str) -> bool:
        """True only if `alias` exists and its bundle downloads and loads: the test a skip
        decision needs ("a model is current only if its alias loads"), not mere existence."""
        from attrition_platform.model.bundle import ModelBundle

        if self.alias_version(alias) is None:
            return False
        try:
            ModelBundle.from_mlflow(self.model_uri(alias), self.tracking_uri)
        except Exception:  # missing files, unreadable JSON, a corrupt booster: not loadable
            return False
        return True

    def fail_stale_runs(self, is_live: Callable[[str], bool] | Collection[str]) -> int:
        """Mark RUNNING runs of this experiment whose Dagster run is no longer live as FAILED.

        A process killed mid-training leaves its MLflow run RUNNING for ever. Each run we start
        carries the Dagster run id as a tag; the caller says which Dagster runs are still in
        progress (a set of ids, or a predicate asking the Dagster instance). Runs without the
        tag were not started by the platform and are left alone. Returns how many were failed.
        """
        live = is_live if callable(is_live) else set(is_live).__contains__
        client = self.client()
        exp = client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            return 0
        # Collect first, change after: failing a run removes it from the RUNNING filter, which
        # would shift the pages of a search still in progress.
        stale = []
        page_token = None
        while True:
            runs = client.search_runs(
                [exp.experiment_id],
                filter_string="attributes.status = 'RUNNING'",
                max_results=500,
                page_token=page_token,
            )
            stale += [
                (r.info.run_id, r.data.tags[DAGSTER_RUN_TAG])
                for r in runs
                if DAGSTER_RUN_TAG in r.data.tags and not live(r.data.tags[DAGSTER_RUN_TAG])
            ]
            page_token = runs.token
            if not page_token:
                break
        for run_id, dagster_run in stale:
            client.set_tag(
                run_id, STALE_REASON_TAG, f"Dagster run {dagster_run} ended without closing this run"
            )
            client.set_terminated(run_id, status="FAILED")
        return len(stale)
