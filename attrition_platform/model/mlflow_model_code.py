"""The file MLflow stores and runs to rebuild the pyfunc model ("models from code").

Kept to the one statement MLflow needs, so that nothing about the model is pickled: loading
runs this file, which builds a fresh `BundleModel`; its `load_context` then reads the bundle
directory from the model's artifacts.
"""

import mlflow

from attrition_platform.model.mlflow_model import BundleModel

mlflow.models.set_model(BundleModel())
