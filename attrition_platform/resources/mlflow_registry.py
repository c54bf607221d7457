"""MLflow tracking and registry as a typed Dagster resource.

A small wrapper over `MlflowClient` instead of dagster-mlflow's legacy `mlflow_tracking`
resource: it is configurable in the launchpad, injectable in tests, and sets the experiment's
artifact location explicitly (otherwise MLflow writes `./mlruns` wherever the process runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field


class MlflowRegistry(dg.ConfigurableResource):
    tracking_uri: str = Field(description="MLflow tracking URI (sqlite:///..., http://...).")
    registry_uri: str | None = Field(default=None, description="Defaults to tracking_uri.")
    artifact_location: str | None = Field(
        default=None, description="Artifact root for a new experiment (file:// or s3://)."
    )
    experiment_name: str = "attrition"
    model_name: str = Field(default="attrition", description="Registered model name.")
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

    def register(self, source: str, run_id: str, alias: str, tags: dict[str, str]) -> str:
        """Register `source` as a new version of the model and point `alias` at it."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.get_registered_model(self.model_name)
        except MlflowException:
            client.create_registered_model(
                self.model_name, description="Employee voluntary-attrition risk (XGBoost bundle)."
            )
        version = client.create_model_version(self.model_name, source=source, run_id=run_id, tags=tags)
        client.set_registered_model_alias(self.model_name, alias, version.version)
        return str(version.version)

    def model_uri(self, alias_or_version: str) -> str:
        sep = "/" if alias_or_version.isdigit() else "@"
        return f"models:/{self.model_name}{sep}{alias_or_version}"
