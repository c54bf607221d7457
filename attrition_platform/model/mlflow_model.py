"""The bundle as an MLflow pyfunc model, so MLflow users can load it like any other model.

`mlflow.pyfunc.load_model("models:/attrition@challenger")` returns the bundle's own
probabilities (and risk bands), with an input signature built from the feature spec and the
contract, so `mlflow models serve` and MLflow's evaluation tools work on it. Serving does not go
through MLflow: the plain bundle directory sits unchanged inside the logged model
(`artifacts/bundle/`), and `ModelBundle.from_mlflow` reads it from there.

Logged as a "model from code" (`mlflow_model_code.py`, which ends in `mlflow.models.set_model`):
MLflow stores the code file, not a cloudpickled object, so the model loads with
`MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false` and nothing depends on pickle compatibility. The
package's own code travels with it (`code/attrition_platform`), so the model scores with the
code it was trained with.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from attrition_platform.contract_columns import COLUMNS
from attrition_platform.model.bundle import ARTIFACT_PATH, ModelBundle

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

    from attrition_platform.model.feature_spec import FeatureSpec

MODEL_NAME_IN_RUN = "model"  # the logged model's name inside its run
CODE_FILE = Path(__file__).with_name("mlflow_model_code.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# What the pyfunc needs at load time; given explicitly so MLflow does not load the model in a
# subprocess to guess them.
REQUIREMENTS = ("mlflow", "numpy", "pandas", "xgboost")
DISABLE_SCHEMA_DETAILS = "MLFLOW_DISABLE_SCHEMA_DETAILS"


class BundleModel(PythonModel):
    """Loads the plain bundle from the model's artifacts and scores through `ModelBundle.score`."""

    bundle: ModelBundle

    def load_context(self, context: PythonModelContext) -> None:
        # MLflow's own schema enforcement (before `predict`) puts the whole input frame into
        # its error message unless told not to: HR records would land in logs. A process that
        # loads this model gets the terse message, unless its operator chose otherwise.
        os.environ.setdefault(DISABLE_SCHEMA_DETAILS, "true")
        self.bundle = ModelBundle.load(context.artifacts[ARTIFACT_PATH])

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Probability and risk band per row. Any invalid row fails the call with the bundle's
        own message (row, column, problem; never the value): MLflow has no per-row errors."""
        unseen = (params or {}).get("unseen", "error")
        p = self.bundle.score(model_input, unseen=unseen).require_all()
        return pd.DataFrame({"probability": p, "risk_band": self.bundle.band(p)})


def signature(spec: FeatureSpec) -> ModelSignature:
    """Inputs in contract types (integers as long, categories as string), outputs, and the
    unseen-category policy as a parameter (default "error", as in serving)."""
    inputs = [ColSpec("long" if n in spec.numeric else "string", n) for n in spec.inputs]
    return ModelSignature(
        inputs=Schema(inputs),
        outputs=Schema([ColSpec("double", "probability"), ColSpec("string", "risk_band")]),
        params=ParamSchema([ParamSpec("unseen", "string", "error")]),
    )


def input_example(spec: FeatureSpec) -> pd.DataFrame:
    """One made-up, contract-valid row (the middle of each integer domain, the first category
    the model knows). Never a training row: the example is stored in MLflow for anyone to read,
    and training rows are personal data."""
    row: dict[str, Any] = {}
    for name in spec.numeric:
        col = COLUMNS.get(name)
        low = col.low if col is not None and col.low is not None else 0
        high = col.high if col is not None and col.high is not None else low
        row[name] = int((low + high) // 2)
    for name in spec.categorical:
        row[name] = spec.vocabularies[name][0]
    return pd.DataFrame([row], columns=spec.inputs)


def _pinned(module: str) -> str:
    # The module's own version: the distribution may be named otherwise (xgboost-cpu).
    return f"{module}=={importlib.import_module(module).__version__}"


def log_bundle(bundle: ModelBundle) -> ModelInfo:
    """Log the bundle as a pyfunc model into the active run; every file is uploaded when this
    returns. Registration is the caller's next, separate step (`MlflowRegistry.register`)."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = bundle.save(Path(tmp) / ARTIFACT_PATH)
        code = Path(tmp) / "code" / PACKAGE_DIR.name
        shutil.copytree(PACKAGE_DIR, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        example = input_example(bundle.spec)
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN,
            python_model=str(CODE_FILE),
            artifacts={ARTIFACT_PATH: str(bundle_dir)},
            code_paths=[str(code)],
            signature=signature(bundle.spec),
            input_example=example,
            pip_requirements=[_pinned(p) for p in REQUIREMENTS],
        )

