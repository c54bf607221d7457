"""Data drift of live inputs against the champion's own training rows, as PSI per feature.

Both sides go through the same steps: the champion's feature spec validates the raw inputs
(`validate`, the check serving and batch scoring make) and derives the model's features from
them (`all_derived`, the function that builds the model matrix). So a feature is compared as the
model sees it, and a derived feature such as `tenure_ratio` drifts when its parts do.

PSI comes from Evidently (`DataDriftPreset(method="psi")`). Evidently bins a numeric column
with more than 20 distinct reference values into Sturges equal-width bins over both samples
(about 16 bins for 30,000 rows) and treats anything else, categorical fields included, as
categories. Under no drift PSI is roughly (bins - 1) / current rows, which is why a verdict
needs a minimum of current rows (thresholds.DRIFT_MIN_CURRENT_ROWS).

Key features are the ones the verdict is about. By default they are the champion's top inputs
by total gain: drift in a feature the trees barely use does not move the predictions, while a
fixed list would go stale as soon as a retrained model leans on other features. Gain of the
one-hot columns of a categorical field (`OverTime=Yes`, `OverTime=No`) counts for the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attrition_platform.model.feature_spec import FeatureSpec, all_derived
from attrition_platform.model.scoring_input import validate
from attrition_platform.monitoring.telemetry import disable_telemetry

PREDICTION = "predicted_probability"  # the column that carries the model's output


class DriftInputError(ValueError):
    """Inputs the drift comparison cannot use (the message names the field, never a value)."""


def reference_splits(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The training-set splits the champion's final booster learned from: `train`, plus
    `validation` when it was refit on both (bundle metadata `refit`)."""
    return ("train", "validation") if metadata.get("refit") else ("train",)


def field_of(feature: str, spec: FeatureSpec) -> str:
    """The input field a model column comes from (`OverTime=Yes` -> `OverTime`)."""
    name, sep, _ = feature.partition("=")
    return name if sep and name in spec.categorical else feature


def drift_fields(spec: FeatureSpec) -> tuple[list[str], list[str]]:
    """(numeric, categorical) fields compared: raw numeric inputs and derived features, then the
    categorical inputs as their text values (one field, not one column per level)."""
    return [*spec.numeric, *spec.derived], list(spec.categorical)


def key_features_by_gain(booster: Any, spec: FeatureSpec, count: int) -> list[str]:
    """The `count` fields with the highest total gain in `booster` (ties by name)."""
    if count < 1:
        raise DriftInputError(f"key_feature_count: must be at least 1, got {count}")
    gains: dict[str, float] = {}
    for feature, gain in booster.get_score(importance_type="total_gain").items():
        field = field_of(feature, spec)
        gains[field] = gains.get(field, 0.0) + float(gain)
    ranked = sorted(gains.items(), key=lambda kv: (-kv[1], kv[0]))
    return [name for name, _ in ranked[:count]]


def key_features(bundle: Any, count: int) -> list[str]:
    """The `count` fields that move the model's scores most: by the mean |contribution| the
    bundle recorded on its training rows (`metadata["importance"]`, linear part included), or
    by the trees' total gain for bundles trained before that was recorded."""
    importance = bundle.metadata.get("importance")
    if not importance:
        return key_features_by_gain(bundle.booster, bundle.spec, count)
    if count < 1:
        raise DriftInputError(f"key_feature_count: must be at least 1, got {count}")
    ranked = sorted(importance.items(), key=lambda kv: (-float(kv[1]), kv[0]))
    return [name for name, _ in ranked[:count]]


def check_key_features(names: Sequence[str], spec: FeatureSpec) -> list[str]:
    """Configured key features, each a compared field; an unknown one is named."""
    numeric, categorical = drift_fields(spec)
    known = set(numeric) | set(categorical)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DriftInputError(
            f"key_features: {', '.join(unknown)} not among the model's fields "
            f"({', '.join(sorted(known))})"
        )
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class DriftSide:
    """One side of the comparison: the compared fields of its valid rows."""

    columns: dict[str, np.ndarray]  # field -> values, valid rows only; PREDICTION included
    rejected: int  # rows the spec's validation refused (not compared)

    @property
    def rows(self) -> int:
        return len(self.columns[PREDICTION])


def drift_side(data: Any, spec: FeatureSpec, probability: Any) -> DriftSide:
    """The compared fields of `data` (a DataFrame, a column mapping or a list of records) and
    the model's probability per row (NaN for a row the model did not score)."""
    if isinstance(data, list | tuple):
        data = {
            name: [r.get(name) if isinstance(r, Mapping) else None for r in data]
            for name in spec.inputs
        }
    checked = validate(data, spec, unseen="allow")
    p = np.asarray(probability, dtype=np.float64)
    if len(p) != checked.n_rows:
        raise DriftInputError(f"{PREDICTION}: {len(p)} values for {checked.n_rows} rows")
    keep = checked.valid & np.isfinite(p)
    cols = {name: values[keep[checked.valid]] for name, values in checked.columns.items()}
    numeric, categorical = drift_fields(spec)
    derived = all_derived(cols, spec.income_level_medians)
    out: dict[str, np.ndarray] = {}
    for name in numeric:
        out[name] = np.asarray(derived[name] if name in derived else cols[name], dtype=np.float64)
    for name in categorical:
        out[name] = np.asarray(cols[name], dtype=object).astype(str)
    out[PREDICTION] = p[keep]
    return DriftSide(columns=out, rejected=int(checked.n_rows - np.count_nonzero(keep)))


@dataclass(frozen=True)
class PsiResult:
    psi: dict[str, float]  # every compared field and PREDICTION -> PSI
    snapshot: Any  # Evidently's snapshot (its HTML is the report)

    def html(self) -> bytes:
        return self.snapshot.get_html_str(as_iframe=False).encode("utf-8")


def evidently_psi(
    reference: DriftSide, current: DriftSide, spec: FeatureSpec, threshold: float
) -> PsiResult:
    """PSI of every compared field and of the predicted probability, by Evidently's
    DataDriftPreset (method "psi"; `threshold` is where its report marks a column drifted)."""
    disable_telemetry()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    if reference.rows == 0 or current.rows == 0:
        raise DriftInputError("drift: both reference and current need at least one valid row")
    numeric, categorical = drift_fields(spec)
    definition = DataDefinition(
        numerical_columns=[*numeric, PREDICTION], categorical_columns=categorical
    )
    frames = [pd.DataFrame(side.columns) for side in (current, reference)]
    report = Report([DataDriftPreset(method="psi", threshold=threshold)], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(frames[0], data_definition=definition),
        Dataset.from_pandas(frames[1], data_definition=definition),
    )
    psi: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith(":ValueDrift"):
            psi[str(config["column"])] = float(metric["value"])
    missing = [c for c in [*numeric, *categorical, PREDICTION] if c not in psi]
    if missing:
        raise DriftInputError(f"Evidently returned no PSI for {', '.join(missing)}")
    return PsiResult(psi=psi, snapshot=snapshot)


@dataclass(frozen=True)
class DriftVerdict:
    key_features: list[str]
    psi: dict[str, float]  # key feature -> PSI, highest first
    other_psi: dict[str, float]  # the other compared fields, highest first
    prediction_psi: float
    threshold: float

    @property
    def max_psi(self) -> float:
        return max(self.psi.values(), default=0.0)

    @property
    def drifted(self) -> list[str]:
        """Key features at or above the threshold (Evidently's rule), highest PSI first."""
        return [name for name, value in self.psi.items() if value >= self.threshold]

    def describe(self) -> str:
        if not self.drifted:
            return f"no key feature reaches PSI {self.threshold} (max {self.max_psi:.3f})"
        listed = ", ".join(f"{name} (PSI {self.psi[name]:.3f})" for name in self.drifted)
        return f"PSI at or above {self.threshold} on {listed}"


def _ranked(values: Mapping[str, float]) -> dict[str, float]:
    return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))


def verdict(
    psi: Mapping[str, float], key_features: Sequence[str], threshold: float
) -> DriftVerdict:
    """The key features' PSI against `threshold`; `psi` must hold PREDICTION too."""
    return DriftVerdict(
        key_features=list(key_features),
        psi=_ranked({k: psi[k] for k in key_features}),
        other_psi=_ranked(
            {k: v for k, v in psi.items() if k not in key_features and k != PREDICTION}
        ),
        prediction_psi=float(psi[PREDICTION]),
        threshold=threshold,
    )
