from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from attrition_platform.model.bundle import BundleError, ModelBundle


def test_directory_round_trip_gives_identical_probabilities(trained_bundle, tmp_path: Path) -> None:
    bundle, test = trained_bundle
    bundle.save(tmp_path / "b")
    loaded = ModelBundle.load(tmp_path / "b")
    assert np.array_equal(bundle.predict_proba(test), loaded.predict_proba(test))
    assert loaded.threshold == bundle.threshold
    assert loaded.spec.feature_names == bundle.spec.feature_names
    assert set(loaded.metadata["risk_bands"]) == {"low", "medium", "high"}


def test_booster_is_stored_natively_not_pickled(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    assert sorted(p.name for p in out.iterdir()) == ["booster.ubj", "feature_spec.json", "metadata.json"]
    assert not list(out.glob("*.pkl"))
    json.loads((out / "metadata.json").read_text())


def test_scoring_a_loaded_bundle_needs_neither_dagster_nor_pandas_nor_mlflow(
    trained_bundle, tmp_path: Path
) -> None:
    bundle, test = trained_bundle
    bundle.save(tmp_path / "b")
    row = {c: [test[c].iloc[0].item() if hasattr(test[c].iloc[0], "item") else test[c].iloc[0]]
           for c in bundle.spec.inputs}
    expected = float(bundle.predict_proba(test.iloc[:1])[0])
    code = f"""
import sys, json
for banned in ("dagster", "pandas", "mlflow", "sklearn"):
    sys.modules[banned] = None  # any import of these now fails
from attrition_platform.model.bundle import ModelBundle
b = ModelBundle.load({str(tmp_path / 'b')!r})
print(json.dumps(float(b.predict_proba(json.loads({json.dumps(row)!r}))[0])))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) == pytest.approx(expected, abs=1e-6)


def test_missing_booster_file_is_named(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    (out / "booster.ubj").unlink()
    with pytest.raises(BundleError, match="booster.ubj"):
        ModelBundle.load(out)


def test_bundle_of_another_format_version_is_refused(trained_bundle, tmp_path: Path) -> None:
    bundle, _ = trained_bundle
    out = bundle.save(tmp_path / "b")
    meta = json.loads((out / "metadata.json").read_text())
    meta["format_version"] = 99
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="format 99"):
        ModelBundle.load(out)


def test_mlflow_round_trip_through_the_registry_alias(trained_bundle, tmp_path: Path) -> None:
    from attrition_platform.resources.mlflow_registry import MlflowRegistry

    bundle, test = trained_bundle
    reg = MlflowRegistry(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        model_name="roundtrip",
    )
    with reg.start_run("t") as run:
        source = bundle.log_to_mlflow()
        version = reg.register(source, run.info.run_id, "challenger", {"k": "v"})
    loaded = ModelBundle.from_mlflow(reg.model_uri("challenger"), reg.tracking_uri)
    assert version == "1"
    assert str(reg.client().get_model_version_by_alias("roundtrip", "challenger").version) == "1"
    assert np.array_equal(bundle.predict_proba(test), loaded.predict_proba(test))
