"""The training recipe: one code path for `candidate_model`, `attrition cv` and the benchmarks.

By default: a regularised logistic model (sign-bounded where the direction is clear, its
strength chosen on validation rows) gives the starting margin, and very shallow trees (depth 1
or 2, monotone where the direction is clear) are boosted from it with early stopping on
validation rows, so they add only the thresholds and interactions the line misses
(`linear_margin` says why; docs/model-card.md has the measurements). Then Platt calibration of
the margin and a decision threshold, both on validation rows; then the linear model and the
trees are refitted on fit + validation rows with the chosen strength, depth and rounds. With
`linear_base=False` the trees start from a constant and class imbalance is handled by
weighting, the earlier recipe. The test rows never enter this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from attrition_platform.model.bundle import Calibration, ModelBundle, model_margin
from attrition_platform.model.feature_spec import FeatureSpec
from attrition_platform.model.linear_margin import DEFAULT_CS, LinearMargin, choose_linear_margin, fit_linear_margin
from attrition_platform.model.metrics import choose_threshold


@dataclass(frozen=True)
class RecipeParams:
    """Hyper-parameters; the Dagster `CandidateModelConfig` mirrors these fields."""

    max_depths: tuple[int, ...] = (1, 2)  # tried in turn; the best validation PR AUC wins
    learning_rate: float = 0.05
    max_rounds: int = 600
    early_stopping_rounds: int = 50
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 5.0
    monotone: bool = True  # trees' monotone constraints and the linear weights' signs
    # Boost from a regularised logistic model's margin (see `linear_margin`); its inverse L2
    # strength is the one of `linear_cs` with the lowest validation log-loss.
    linear_base: bool = True
    linear_cs: tuple[float, ...] = DEFAULT_CS
    # Weight leavers up by stayers/leavers in the trees (Platt calibration undoes the shift).
    # Off by default: the linear margin is fitted on unweighted rows and the trees continue it.
    balance_classes: bool = False
    threshold_beta: float = 1.0
    # After tuning on held-out rows, retrain on fit + validation with the chosen depth and
    # rounds (see `refit_xgboost`; docs/design.md has the measurement behind both defaults).
    refit: bool = True
    refit_scale_rounds: bool = False  # rounds x (fit + validation rows) / fit rows
    seed: int = 42
    threads: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fit_platt(score: np.ndarray, y: np.ndarray) -> Calibration:
    """Logistic fit of labels on a score; near-unregularised so it only rescales."""
    if y.min() == y.max():
        return Calibration()
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(score.reshape(-1, 1), y)
    return Calibration(slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))


def _class_weight(y: np.ndarray) -> float:
    pos = float(np.sum(y == 1))
    return float(np.sum(y == 0)) / pos if pos else 1.0


def train_xgboost(
    train: Mapping[str, Any],
    y_train: np.ndarray,
    val: Mapping[str, Any],
    y_val: np.ndarray,
    params: RecipeParams = RecipeParams(),
) -> ModelBundle:
    """Fit the spec and the booster; returns a bundle without run metadata (the caller adds it).

    Depth, rounds, calibration and threshold are chosen on the validation rows; with
    `params.refit` the returned bundle is then retrained on fit + validation rows.
    """
    held_out = _train_held_out(train, y_train, val, y_val, params)
    if not params.refit:
        return held_out
    return refit_xgboost(held_out, train, y_train, val, y_val, params)


def _booster_params(spec: FeatureSpec, y_train: np.ndarray, params: RecipeParams) -> dict[str, Any]:
    booster_params: dict[str, Any] = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "aucpr"],  # the last one drives early stopping
        "tree_method": "hist",
        "eta": params.learning_rate,
        "min_child_weight": params.min_child_weight,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "lambda": params.reg_lambda,
        "seed": params.seed,
        "nthread": params.threads,
        "scale_pos_weight": _class_weight(y_train) if params.balance_classes else 1.0,
    }
    if params.linear_base:
        # The linear margin is the whole starting point: a base score of 0.5 is a margin of 0,
        # so booster margin + linear margin is exactly what the trees were fitted against.
        booster_params["base_score"] = 0.5
    if params.monotone:
        booster_params["monotone_constraints"] = "(" + ",".join(
            str(c) for c in spec.monotone_constraints()
        ) + ")"
    return booster_params


def refit_xgboost(
    held_out: ModelBundle,
    train: Mapping[str, Any],
    y_train: np.ndarray,
    val: Mapping[str, Any],
    y_val: np.ndarray,
    params: RecipeParams = RecipeParams(),
) -> ModelBundle:
    """Retrain on fit + validation rows with the depth and rounds the held-out fit chose.

    No held-out rows remain to calibrate the new booster, and its margins are on another
    scale (more rows, more rounds, another class weight), so the held-out Platt mapping cannot
    be reused as is. Instead the new margins are mapped onto the held-out model's calibrated
    probabilities (fitted on the validation rows, so honest) over all fit + validation rows: a
    one-dimensional logistic fit with those probabilities as soft targets. The refit model
    keeps the honest probability scale, so the threshold chosen on validation carries over.
    """
    import pandas as pd

    rows = pd.concat([pd.DataFrame(train), pd.DataFrame(val)], ignore_index=True)
    y = np.concatenate([np.asarray(y_train, dtype=int), np.asarray(y_val, dtype=int)])
    spec = FeatureSpec.fit(rows)
    x = spec.matrix(rows)
    rounds = int(held_out.metadata["best_iteration"])
    if params.refit_scale_rounds:
        rounds = max(1, round(rounds * len(y) / max(1, len(y_train))))
    depth = int(held_out.metadata["max_depth"])
    linear = None
    if held_out.linear is not None:
        linear = fit_linear_margin(x, y, held_out.linear.C, _signs(spec, params))
    booster = xgb.train(
        {**_booster_params(spec, y, params), "max_depth": depth},
        _dmatrix(x, y, spec, linear),
        num_boost_round=rounds,
    )
    # Validation rows may hold categories the held-out spec never saw: counted, not refused.
    target = held_out.predict_proba(rows, unseen="allow")
    margin = model_margin(booster, linear, x)
    calibration = _fit_soft_platt(margin, target)
    metadata = {
        **held_out.metadata,
        "refit": True,
        "refit_rounds": rounds,
        "refit_rows": len(y),
        "held_out_calibration": {
            "slope": held_out.calibration.slope,
            "intercept": held_out.calibration.intercept,
        },
    }
    return ModelBundle(
        booster=booster,
        spec=spec,
        calibration=calibration,
        threshold=held_out.threshold,
        metadata=metadata,
        linear=linear,
    )


def _signs(spec: FeatureSpec, params: RecipeParams) -> tuple[int, ...] | None:
    return spec.monotone_constraints() if params.monotone else None


def _dmatrix(x: np.ndarray, y: np.ndarray, spec: FeatureSpec, linear: LinearMargin | None) -> xgb.DMatrix:
    base = linear.margin(x) if linear is not None else None
    return xgb.DMatrix(x, label=y, feature_names=spec.feature_names, base_margin=base)


def _fit_soft_platt(margin: np.ndarray, target: np.ndarray) -> Calibration:
    """Platt scaling against probabilities instead of 0/1 labels (each row counted once as a
    leaver with weight p and once as a stayer with weight 1 - p)."""
    lr = LogisticRegression(C=1e6, max_iter=1000)
    x = np.concatenate([margin, margin]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(margin)), np.zeros(len(margin))])
    w = np.concatenate([target, 1.0 - target])
    lr.fit(x, y, sample_weight=w)
    return Calibration(slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))


def _train_held_out(
    train: Mapping[str, Any],
    y_train: np.ndarray,
    val: Mapping[str, Any],
    y_val: np.ndarray,
    params: RecipeParams,
) -> ModelBundle:
    y_train = np.asarray(y_train, dtype=int)
    y_val = np.asarray(y_val, dtype=int)
    spec = FeatureSpec.fit(train)
    x_train, x_val = spec.matrix(train), spec.matrix(val)
    booster_params = _booster_params(spec, y_train, params)
    linear: LinearMargin | None = None
    linear_tried: dict[str, float] = {}
    if params.linear_base:
        linear, linear_tried = choose_linear_margin(
            x_train, y_train, x_val, y_val, _signs(spec, params), params.linear_cs
        )
    dtrain = _dmatrix(x_train, y_train, spec, linear)
    dval = _dmatrix(x_val, y_val, spec, linear)
    # Tuning sees validation rows only: callers keep their test rows (a later time window, or
    # the outer fold in `attrition cv`) out of this function entirely.
    tried: dict[str, float] = {}
    booster: xgb.Booster | None = None
    for depth in params.max_depths:
        candidate = xgb.train(
            {**booster_params, "max_depth": depth},
            dtrain,
            num_boost_round=params.max_rounds,
            evals=[(dval, "validation")],
            early_stopping_rounds=params.early_stopping_rounds,
            verbose_eval=False,
        )
        tried[str(depth)] = float(candidate.best_score)
        if booster is None or candidate.best_score > booster.best_score:
            booster, chosen = candidate, depth
    if booster is None:
        raise ValueError("RecipeParams.max_depths is empty: give at least one tree depth")
    best = int(booster.best_iteration) + 1
    booster = booster[:best]  # keep only the trees early stopping chose
    val_margin = model_margin(booster, linear, x_val)
    calibration = _fit_platt(val_margin, y_val)
    threshold = choose_threshold(y_val, calibration.apply(val_margin), params.threshold_beta)
    metadata: dict[str, Any] = {
        "best_iteration": best,
        "max_depth": chosen,
        "validation_pr_auc_by_depth": tried,
        "params": params.to_dict(),
        "refit": False,
    }
    if linear is not None:
        metadata["linear_c"] = linear.C
        metadata["validation_log_loss_by_c"] = linear_tried
    return ModelBundle(
        booster=booster,
        spec=spec,
        calibration=calibration,
        threshold=threshold,
        metadata=metadata,
        linear=linear,
    )


@dataclass
class BaselineModel:
    """Logistic regression on the same spec matrix: the bar the recipe has to clear."""

    spec: FeatureSpec
    scaler: StandardScaler
    model: LogisticRegression
    calibration: Calibration
    threshold: float

    def predict_proba(self, columns: Mapping[str, Any], unseen: str = "allow") -> np.ndarray:
        """Evaluation-only (it never serves), on rows that already passed the contract: a
        category the training rows never had encodes as all zeros, the bundle's "allow"
        policy, so both models are scored on the same rows."""
        if unseen != "allow":
            raise ValueError("the baseline scores evaluation rows only, with unseen='allow'")
        x = self.scaler.transform(self.spec.matrix(columns))
        return self.calibration.apply(self.model.decision_function(x))


def train_baseline(
    train: Mapping[str, Any],
    y_train: np.ndarray,
    val: Mapping[str, Any],
    y_val: np.ndarray,
    threshold_beta: float = 1.0,
) -> BaselineModel:
    y_train = np.asarray(y_train, dtype=int)
    y_val = np.asarray(y_val, dtype=int)
    spec = FeatureSpec.fit(train)
    scaler = StandardScaler().fit(spec.matrix(train))
    model = LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000)
    model.fit(scaler.transform(spec.matrix(train)), y_train)
    score = model.decision_function(scaler.transform(spec.matrix(val)))
    calibration = _fit_platt(score, y_val)
    threshold = choose_threshold(y_val, calibration.apply(score), threshold_beta)
    return BaselineModel(spec, scaler, model, calibration, threshold)
