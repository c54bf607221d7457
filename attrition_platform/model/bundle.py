"""The model bundle: the contract between the platform and serving.

A bundle is a directory with three files: the XGBoost booster in its native UBJSON format (no
pickle), the fitted feature spec, and metadata (MLflow run id, Delta versions, metrics,
decision threshold, risk bands, calibration, drift baseline). The same directory is logged to
MLflow inside a pyfunc model (`artifacts/bundle/`, see `mlflow_model.py`) and registered, so a
bundle can be read from a plain folder, an object-store prefix or `models:/name@alias`.
Reading and scoring need numpy and xgboost only; `score` is the one validating entry point.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from attrition_platform.model import booster_calls, tree_shap
from attrition_platform.model.explanations import (
    FactorTable,
    contributions,
    factor_group_names,
    group_matrix,
    rank_factors,
    scoring_threads,
)
from attrition_platform.model.feature_spec import FeatureSpec
from attrition_platform.model.linear_margin import LinearMargin
from attrition_platform.model.one_row import RowModel
from attrition_platform.model.scoring_input import (
    RowError,
    ScoreResult,
    ScoringInputError,
    UnseenPolicy,
    check_record,
    record_rules,
    validate,
)

# 2: the bundle may hold a linear margin (metadata `linear_margin`) that the trees boost from.
# Code that reads only format 1 would score such a bundle without it, silently wrong, so a
# bundle with a linear part is written as 2 and older readers refuse it (the old model keeps
# serving); a bundle without one is still written as 1.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
LINEAR_KEY = "linear_margin"
BOOSTER_FILE = "booster.ubj"
SPEC_FILE = "feature_spec.json"
METADATA_FILE = "metadata.json"
ARTIFACT_PATH = "bundle"
# Batches below this many rows are scored on one thread: a thread pool costs more than it saves.
SMALL_BATCH = 1024
# Rows explained per call: bounds the n x (F + 1) float32 contributions (~30 MB).
EXPLAIN_CHUNK = 131_072
_UNBUILT = object()
_SHAP_LOCK = threading.Lock()


class BundleError(ValueError):
    """A bundle that cannot be read: says which file and why."""


@dataclass
class Calibration:
    """Platt scaling on the booster margin: p = sigmoid(slope * margin + intercept)."""

    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, margin: np.ndarray) -> np.ndarray:
        z = self.slope * np.asarray(margin, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def apply_one(self, margin: float) -> float:
        """`apply` for one margin in plain floats (libm's exp: equal to numpy's to within an
        ulp), for the one-row path, where five numpy calls on a 1-element array cost 4 µs."""
        return 1.0 / (1.0 + math.exp(-(self.slope * margin + self.intercept)))


def risk_bands(threshold: float) -> dict[str, list[float]]:
    """Bands shown to HR: high at or above the decision threshold, medium from half of it."""
    return {"low": [0.0, threshold / 2], "medium": [threshold / 2, threshold], "high": [threshold, 1.0]}


def _nans(n: int) -> np.ndarray:
    out = np.empty(n)
    out[:] = np.nan
    return out


def _refuse_missing(x: np.ndarray, feature_names: list[str]) -> None:
    """Validation lets no missing value through; a NaN in the model matrix is a bug in a
    derived feature, and the booster would silently route it down a default branch."""
    bad = sorted({feature_names[j] for j in np.flatnonzero(np.isnan(x).any(axis=0))})
    raise ScoringInputError(f"feature(s) {', '.join(bad)} came out missing")


def model_margin(booster: xgb.Booster, linear: LinearMargin | None, x: np.ndarray) -> np.ndarray:
    """Trees' margin plus the linear margin they were boosted from (float64): for training code
    that has a booster before it has a bundle, and for `ModelBundle.margin`."""
    tree = np.asarray(booster_calls.margin(booster, x), dtype=np.float64)
    return tree + linear.margin(x) if linear is not None else tree


def risk_band(probability: float, threshold: float) -> str:
    """The band of one probability, by the rule of `risk_bands` (what `ModelBundle.band` does
    for arrays): serving's per-request answer, without numpy calls for one number."""
    if probability >= threshold:
        return "high"
    return "medium" if probability >= threshold / 2 else "low"


@dataclass
class ModelBundle:
    booster: xgb.Booster
    spec: FeatureSpec
    calibration: Calibration
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)
    # The regularised logistic logit the trees were boosted from (None: trees alone); the
    # model's margin is the sum of both (see `linear_margin`).
    linear: LinearMargin | None = None
    _threads: int = field(default=-1, init=False, repr=False, compare=False)
    _shap: Any = field(default=_UNBUILT, init=False, repr=False, compare=False)

    def score(
        self,
        data: Any,
        unseen: UnseenPolicy = "error",
        explain: int = 0,
        nthread: int | None = None,
    ) -> ScoreResult:
        """The one scoring entry point, for serving and batch alike: validate, then predict.

        `data` is a column mapping, a DataFrame or a list of records. Rows that break the
        contract or the spec are not scored (probability NaN) and come back as errors naming
        row, column and problem, never the value. `unseen` decides what a category the contract
        allows but training never saw does: "error" (the default, for serving) rejects the
        row; "allow" scores it with that field encoded as all zeros. Both are counted in the
        result. A bad batch shape (a missing column) raises `ScoringInputError`.

        `explain=k` (k > 0) also returns each valid row's k top factors (`result.factors`,
        None for rejected rows; `result.factor_table` as arrays for batch writers) and the
        booster margins. Factors are XGBoost's native SHAP contributions on the margin
        (log-odds); the probability is `calibration(margin)` and does not depend on `explain`
        (see `explanations`). `nthread` sets the booster's threads for batches of
        `SMALL_BATCH` rows or more (default: OMP_NUM_THREADS, else 1); smaller ones use one.
        """
        if type(data) is list and len(data) == 1:  # a live request: one record, its own path
            answer = self._score_record(data[0], unseen, explain)
            if answer is not None:
                return answer
        checked = validate(data, self.spec, unseen)
        probabilities = _nans(checked.n_rows)
        margins: np.ndarray | None = None
        table: FactorTable | None = None
        # ufunc methods, not ndarray.any/sum: their Python wrappers cost more than one row's check
        if np.count_nonzero(checked.valid):
            x = checked.model_matrix(self.spec)
            if not self.spec.nullable and np.isnan(np.add.reduce(x, axis=None)) and np.isnan(x).any():
                _refuse_missing(x, self.spec.feature_names)
            threads = self._use_threads(1 if len(x) < SMALL_BATCH else scoring_threads(nthread))
            if len(x) == 1:  # the same path as a live request's record, to the bit
                margin, table = self._one_row(x, x[0].tolist(), explain)
                probabilities[checked.valid] = self.calibration.apply_one(float(margin[0]))
            elif explain > 0:
                margin, table = self._explain(x, explain, threads)
            else:
                margin = self.margin(x)
            if explain > 0:
                margins = _nans(checked.n_rows)
                margins[checked.valid] = margin
            if len(x) > 1:
                probabilities[checked.valid] = self.calibration.apply(margin)
        elif explain > 0:
            margins = _nans(checked.n_rows)
            table = rank_factors(
                np.zeros((0, len(self.spec.feature_names) + 1), dtype=np.float32),
                self.spec.feature_names,
                explain,
            )
        return ScoreResult(
            probabilities=probabilities,
            valid=checked.valid,
            errors=checked.errors,
            unseen_counts=checked.unseen_counts,
            unseen_policy=unseen,
            margins=margins,
            factor_table=table,
        )

    def _score_record(self, record: Any, unseen: UnseenPolicy, explain: int) -> ScoreResult | None:
        """`score([record])` for one valid record without the batch machinery (serving's
        request); None when the record is not valid: the general path then reports it."""
        errors: list[RowError] = []
        counts = dict.fromkeys(self.spec.categorical, 0)
        clean = check_record(record, 0, record_rules(self.spec, unseen), errors, counts)
        if clean is None:
            return None
        values = self.spec.record_values(clean)
        x = np.array([values], dtype=np.float32)
        total = sum(values)
        if total != total and not self.spec.nullable:  # NaN somewhere: a derived feature's bug
            _refuse_missing(x, self.spec.feature_names)
        self._use_threads(1)
        margin, table = self._one_row(x, values, explain)
        return ScoreResult(
            probabilities=np.array([self.calibration.apply_one(float(margin[0]))]),
            valid=np.ones(1, dtype=bool),
            unseen_counts={name: c for name, c in counts.items() if c},
            unseen_policy=unseen,
            margins=margin if explain > 0 else None,
            factor_table=table,
        )

    def _one_row(self, x: np.ndarray, values: list[float], explain: int) -> tuple[np.ndarray, FactorTable | None]:
        """Margin [1] (float64) and, with `explain`, the top factors of the one row of `x`
        (`values`: the same row as floats): one path for a record and a one-row table alike."""
        if explain > 0:
            return self._row_model().explain(x, bool(self.spec.nullable), explain, values)
        return self._row_model().margin(x, bool(self.spec.nullable)), None

    def _row_model(self) -> RowModel:
        """What one row's scoring needs, prepared on first use (after the TreeSHAP tables)."""
        row_model = self.__dict__.get("_row")
        if row_model is None:
            tables = self.shap_tables()
            with _SHAP_LOCK:
                row_model = self.__dict__.get("_row")
                if row_model is None:
                    row_model = RowModel.build(self.booster, tables, self.spec.feature_names_cached, self.linear)
                    self.__dict__["_row"] = row_model
        return row_model

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The model's margin (log-odds before calibration) of model-matrix rows, unvalidated:
        for training and evaluation code that built `x` with `spec.matrix` itself."""
        return model_margin(self.booster, self.linear, x)

    def contributions(self, x: np.ndarray, threads: int = 1) -> np.ndarray:
        """Every column's contribution to the margin, bias last (n x (F + 1), float64): the
        trees' TreeSHAP values plus the linear part's exact ones; each row sums to `margin`."""
        tables = self.shap_tables()
        if tables is not None:
            contribs = tables.explain(np.asarray(x, dtype=np.float32), threads)[1]
        else:
            contribs = contributions(self.booster, x, threads)
        return self._with_linear(np.asarray(contribs, dtype=np.float64), x)

    def importance(self, x: np.ndarray) -> dict[str, float]:
        """Mean |contribution| (log-odds) of each factor over rows `x`, a field's one-hot columns
        summed first: one measure for the linear part and the trees alike (the trees' gain
        would miss whatever the linear part carries). Largest first."""
        grouped = np.abs(self.contributions(x)[:, :-1] @ group_matrix(self.spec.feature_names_cached)).mean(axis=0)
        names = factor_group_names(self.spec.feature_names_cached)
        ranked = sorted(zip(names, grouped.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0]))
        return {name: round(value, 6) for name, value in ranked}

    def _with_linear(self, contribs: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.linear is not None:
            contribs[:, :-1] += self.linear.contributions(x)
            contribs[:, -1] += self.linear.intercept
        return contribs

    def shap_tables(self) -> tree_shap.ShapTables | None:
        """This booster's TreeSHAP tables, built (and checked against XGBoost) on first use;
        None when they cannot be used, and explanations then come from XGBoost itself."""
        if self._shap is _UNBUILT:
            with _SHAP_LOCK:
                if self._shap is _UNBUILT:
                    self._shap = tree_shap.build(self.booster)
        return self._shap

    def _explain(self, x: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, FactorTable]:
        """Margins and top-k factors, in chunks so that a million rows never hold all
        n x (F + 1) contributions (and their grouped copy) at once.

        The margins come from the same pass as the contributions (the tables' reached leaves,
        or XGBoost's own margin when there are no tables); both agree with `inplace_predict`
        to float32 rounding, checked when the tables are built.
        """
        names = self.spec.feature_names_cached
        tables = self.shap_tables()
        margins, parts = [], []
        for start in range(0, len(x), EXPLAIN_CHUNK):
            part = x[start : start + EXPLAIN_CHUNK]
            if tables is not None:
                margin, contribs = tables.explain(part, threads)
            else:
                margin = booster_calls.margin(self.booster, part)
                contribs = contributions(self.booster, part, threads)
            if self.linear is not None:
                margin = margin + self.linear.margin(part)
                contribs = self._with_linear(np.asarray(contribs, dtype=np.float64), part)
            margins.append(margin)
            parts.append(rank_factors(contribs, names, k, part))
        if len(parts) == 1:
            return margins[0], parts[0]
        return np.concatenate(margins), FactorTable(
            features=np.concatenate([p.features for p in parts]),
            contributions=np.concatenate([p.contributions for p in parts]),
            names=parts[0].names,
        )

    def _use_threads(self, threads: int) -> int:
        """Set the booster's thread count only when it changes (set_param is not free)."""
        if self._threads != threads:
            self.booster.set_param("nthread", threads)
            self._threads = threads
        return threads

    def predict_proba(self, data: Any, unseen: UnseenPolicy = "error") -> np.ndarray:
        """Calibrated probability of a voluntary exit within the horizon, one per row; raises
        `ScoringInputError` (summarising every rejected row) unless all rows are valid."""
        return self.score(data, unseen).require_all()

    def band(self, probabilities: np.ndarray) -> np.ndarray:
        t = self.threshold
        p = np.asarray(probabilities)
        return np.where(p >= t, "high", np.where(p >= t / 2, "medium", "low"))

    # -- directory format --------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(out / BOOSTER_FILE))
        (out / SPEC_FILE).write_text(json.dumps(self.spec.to_dict(), indent=2, sort_keys=True))
        meta = dict(self.metadata)
        if self.linear is not None:
            meta[LINEAR_KEY] = self.linear.to_dict(self.spec.feature_names)
        else:
            meta.pop(LINEAR_KEY, None)
        meta.update(
            format_version=FORMAT_VERSION if self.linear is not None else 1,
            threshold=self.threshold,
            risk_bands=risk_bands(self.threshold),
            calibration={"slope": self.calibration.slope, "intercept": self.calibration.intercept},
            feature_names=self.spec.feature_names,
        )
        (out / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return out

    @classmethod
    def load(cls, path: str | Path) -> "ModelBundle":
        root = Path(path)
        for name in (BOOSTER_FILE, SPEC_FILE, METADATA_FILE):
            if not (root / name).is_file():
                raise BundleError(f"model bundle at {root} has no {name}")
        try:
            meta = json.loads((root / METADATA_FILE).read_text())
            spec_data = json.loads((root / SPEC_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise BundleError(f"model bundle at {root}: unreadable JSON ({exc.msg})") from None
        if meta.get("format_version") not in READABLE_FORMATS:
            raise BundleError(
                f"model bundle at {root} has format {meta.get('format_version')}, "
                f"this code reads formats {', '.join(map(str, READABLE_FORMATS))}"
            )
        booster = xgb.Booster()
        booster.load_model(str(root / BOOSTER_FILE))
        cal = meta.get("calibration", {})
        try:
            spec = FeatureSpec.from_dict(spec_data)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"model bundle at {root}: {SPEC_FILE}: {exc}") from None
        linear = None
        if LINEAR_KEY in meta:  # held in `linear`, not twice (`save` writes it back)
            try:
                linear = LinearMargin.from_dict(meta.pop(LINEAR_KEY), spec.feature_names)
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"model bundle at {root}: {METADATA_FILE} {exc}") from None
        return cls(
            booster=booster,
            spec=spec,
            calibration=Calibration(float(cal.get("slope", 1.0)), float(cal.get("intercept", 0.0))),
            threshold=float(meta["threshold"]),
            metadata=meta,
            linear=linear,
        )

    # -- MLflow ------------------------------------------------------------------------------
    def log_to_mlflow(self) -> str:
        """Log the bundle as a pyfunc model into the active MLflow run (every file uploaded on
        return); returns the logged model's URI (`models:/m-<id>`). Registering is a separate
        step, taken only after this returned: see `MlflowRegistry.register`."""
        from attrition_platform.model.mlflow_model import log_bundle

        return log_bundle(self).model_uri

    @classmethod
    def from_mlflow(cls, model_uri: str, tracking_uri: str | None = None) -> "ModelBundle":
        """Read `models:/name@alias`, `models:/name/version`, `models:/m-<id>` or a run artifact.

        The plain bundle directory is found inside the logged pyfunc model (`artifacts/bundle/`)
        or, for versions logged before the pyfunc format, is the artifact itself. The version
        number is not inside the saved files (a version exists only once its files are uploaded,
        so they cannot name it): for a registry URI it is filled from the registry into
        `metadata["model_version"]`, as is the registered model's name.
        """
        import mlflow

        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
        from mlflow.exceptions import MlflowException

        # Resolve an alias once, so that the files and the version number cannot disagree if
        # the alias moves meanwhile.
        registered = _registered_version(model_uri, tracking_uri)
        uri = f"models:/{registered[0]}/{registered[1]}" if registered else model_uri
        with tempfile.TemporaryDirectory() as tmp:
            local: Path | None = None
            if uri.startswith("models:/"):
                try:  # just the bundle, not the whole pyfunc model with its code copy
                    local = Path(
                        mlflow.artifacts.download_artifacts(
                            artifact_uri=f"{uri}/artifacts/{ARTIFACT_PATH}", dst_path=f"{tmp}/b"
                        )
                    )
                except (MlflowException, OSError):
                    local = None
            if local is None or not (local / METADATA_FILE).is_file():
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=f"{tmp}/m"))
                inner = local / "artifacts" / ARTIFACT_PATH
                local = inner if inner.is_dir() else local
            bundle = cls.load(local)
        if registered is not None:
            bundle.metadata["model_name"], bundle.metadata["model_version"] = registered
        return bundle


def _registered_version(model_uri: str, tracking_uri: str | None) -> tuple[str, str] | None:
    """(name, version) for `models:/name@alias` or `models:/name/version`; None otherwise."""
    from mlflow import MlflowClient

    if not model_uri.startswith("models:/"):
        return None
    ref = model_uri[len("models:/") :].rstrip("/")
    client = MlflowClient(tracking_uri, tracking_uri)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return name, str(client.get_model_version_by_alias(name, alias).version)
    name, _, version = ref.partition("/")
    if version.isdigit():
        return name, version
    return None
