"""Training: the point-in-time training set, the candidate model and its holdout evaluation."""

import datetime as dt
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from attrition_platform import plots
from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.defs.feature_assets import FEATURES_TABLE, employee_features
from attrition_platform.defs.hris_assets import TERMINATIONS_TABLE, hris_terminations
from attrition_platform.defs.metadata import (
    column_schema,
    mlflow_model_version_link,
    mlflow_run_link,
    mlflow_ui_url,
    preview,
)
from attrition_platform.model import training_data as td
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.metrics import classification_metrics, confusion
from attrition_platform.model.profile import profile
from attrition_platform.model.recipe import RecipeParams, refit_xgboost, train_baseline, train_xgboost
from attrition_platform.model.scoring_input import ScoringInputError
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.mlflow_registry import MlflowRegistry, RegistrationError

TRAINING_TABLE = "training_set"
METRIC_NAMES = ("recall", "precision", "f1", "roc_auc", "pr_auc", "brier")


class TrainingSetConfig(dg.Config):
    """Label horizon and time windows, in days so they hold for any snapshot cadence."""

    horizon_days: int = Field(default=180, ge=1, description="Label: voluntary exit within N days.")
    validation_days: int = Field(
        default=90,
        ge=1,
        description="Days of snapshots before the test window used for validation (90 = 3 monthly, "
        "13 weekly or 90 daily snapshots).",
    )
    test_days: int = Field(
        default=90,
        ge=1,
        description="Days of the latest labelled snapshots held out as the untouched test window.",
    )
    embargo_days: int | None = Field(
        default=None,
        ge=0,
        description="Gap before validation and before test (default: the horizon). Shorter than the "
        "horizon lets one exit label rows of two splits, which training_label_leakage blocks.",
    )


_RECIPE = RecipeParams()  # the defaults live in one place: the recipe


class CandidateModelConfig(dg.Config):
    """The recipe's hyper-parameters (defaults: `RecipeParams`, a linear margin boosted by
    depth-1/2 trees; docs/model-card.md says why)."""

    linear_base: bool = Field(
        default=_RECIPE.linear_base,
        description="Boost the trees from a regularised logistic model's margin (off: trees alone).",
    )
    linear_cs: list[float] = Field(
        default=list(_RECIPE.linear_cs), min_length=1,
        description="Inverse L2 strengths tried for the linear margin; lowest validation log-loss wins.",
    )
    max_depths: list[int] = Field(
        default=list(_RECIPE.max_depths), min_length=1,
        description="Tree depths tried; best validation PR AUC wins.",
    )
    learning_rate: float = Field(default=_RECIPE.learning_rate, gt=0, le=1, description="Shrinkage per round.")
    max_rounds: int = Field(default=_RECIPE.max_rounds, ge=1, description="Upper bound; early stopping picks.")
    early_stopping_rounds: int = Field(default=_RECIPE.early_stopping_rounds, ge=1)
    min_child_weight: float = Field(default=_RECIPE.min_child_weight, ge=0)
    subsample: float = Field(default=_RECIPE.subsample, gt=0, le=1)
    colsample_bytree: float = Field(default=_RECIPE.colsample_bytree, gt=0, le=1)
    reg_lambda: float = Field(default=_RECIPE.reg_lambda, ge=0, description="L2 regularisation of the trees.")
    monotone: bool = Field(
        default=_RECIPE.monotone, description="Domain directions: trees' monotone constraints, linear weights' signs."
    )
    balance_classes: bool = Field(default=_RECIPE.balance_classes, description="Weight leavers by the class ratio.")
    threshold_beta: float = Field(default=_RECIPE.threshold_beta, gt=0, description="F-beta for the threshold.")
    refit: bool = Field(
        default=_RECIPE.refit,
        description="After choosing strength, depth, rounds, calibration and threshold on validation "
        "rows, retrain on training + validation rows (docs/design.md has the measurement).",
    )
    refit_scale_rounds: bool = Field(
        default=_RECIPE.refit_scale_rounds, description="On refit, scale the chosen rounds by the growth in rows."
    )
    seed: int = _RECIPE.seed

    def recipe(self) -> RecipeParams:
        values = self.model_dump()
        values["max_depths"] = tuple(values["max_depths"])
        values["linear_cs"] = tuple(values["linear_cs"])
        return RecipeParams(**values)


def split_frames(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {name: df[df[td.SPLIT] == name].reset_index(drop=True) for name in td.SPLITS}


@dg.asset(
    group_name="training",
    kinds={"deltalake", "pandas"},
    deps=[employee_features, hris_terminations],
    owners=["team:data"],
    description="Point-in-time rows (employee, snapshot_date) with the voluntary-exit label and split.",
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, lake: DeltaLake
) -> dg.MaterializeResult:
    feature_version = lake.version(FEATURES_TABLE)
    term_version = lake.version(TERMINATIONS_TABLE)
    if feature_version is None or term_version is None:
        raise dg.Failure("employee_features and hris_terminations must be materialised first")
    features = lake.read(FEATURES_TABLE, version=feature_version)
    # Exits are known up to the latest terminations extract. A static export has none (an
    # empty extract leaves no partition behind): its labels come from `Attrition`.
    term_dates = lake.partition_dates(TERMINATIONS_TABLE)
    known_until = term_dates[-1] if term_dates else max(features[SNAPSHOT_DATE])
    terminations = lake.read(TERMINATIONS_TABLE, version=term_version, snapshot_date=known_until)
    if not term_dates:
        terminations = terminations.iloc[0:0]
    opted_out = set(features.loc[features["opt_out"].astype(bool), KEY])
    features = features[~features[KEY].isin(opted_out)]
    # No exits and one snapshot is a static export (labelled by `Attrition`) even when nobody
    # left: it must say "no leavers", not ask for more snapshots.
    static = terminations.empty and (
        bool((features["Attrition"] == "Yes").any()) or features[SNAPSHOT_DATE].nunique() == 1
    )
    plan = td.SplitPlan(config.validation_days, config.test_days, config.embargo_days)
    try:
        if static:
            latest = features[SNAPSHOT_DATE].max()
            rows = td.label_static(features[features[SNAPSHOT_DATE] == latest])
        else:
            rows = td.label_time_aware(features, terminations, config.horizon_days, known_until)
        del features  # the labelled rows are a copy; keep one table in memory, not two
        rows = td.assign_split(rows, plan, config.horizon_days)
    except td.TrainingDataError as exc:
        raise dg.Failure(str(exc)) from None
    lineage = {
        "lineage.employee_features": str(feature_version),
        "lineage.hris_terminations": str(term_version),
        "lineage.known_until": known_until.isoformat(),
        "lineage.horizon_days": str(config.horizon_days),
        "lineage.mode": "static" if static else "time_aware",
    }
    version = lake.overwrite(TRAINING_TABLE, rows, lineage=lineage)
    by_split = rows.groupby(td.SPLIT, observed=True)[td.LABEL].agg(["count", "sum", "mean"])
    by_date = rows.groupby([SNAPSHOT_DATE, td.SPLIT], observed=True)[td.LABEL].mean().reset_index()
    context.log.info(f"training_set v{version}: {len(rows)} rows, {len(opted_out)} opted out")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "dagster/column_schema": column_schema(rows),
            "delta_version": version,
            "source_versions": dg.MetadataValue.json(
                {"employee_features": feature_version, "hris_terminations": term_version}
            ),
            "mode": "static" if static else "time_aware",
            "known_until": known_until.isoformat(),
            "horizon_days": config.horizon_days,
            "opted_out_excluded": len(opted_out),
            "splits": dg.MetadataValue.md(
                by_split.rename(columns={"count": "rows", "sum": "leavers", "mean": "rate"})
                .round(4)
                .to_markdown()
            ),
            "preview": preview(rows, [KEY, SNAPSHOT_DATE, "JobRole", "OverTime", td.LABEL, td.SPLIT]),
            "label_rate_by_snapshot": dg.MetadataValue.md(
                plots.leaver_rate_plot(
                    list(by_date[SNAPSHOT_DATE]), list(by_date[td.LABEL]), list(by_date[td.SPLIT])
                )
            ),
        }
    )


@dg.asset(
    group_name="training",
    kinds={"xgboost", "mlflow"},
    deps=[training_set],
    owners=["team:ml"],
    description=(
        "Candidate (a linear margin boosted by shallow XGBoost trees): logged to MLflow as a pyfunc model holding the bundle, registered, "
        "alias 'challenger' once the version loads back."
    ),
)
def candidate_model(
    context: dg.AssetExecutionContext,
    config: CandidateModelConfig,
    lake: DeltaLake,
    mlflow: MlflowRegistry,
) -> dg.MaterializeResult:
    ts_version = lake.version(TRAINING_TABLE)
    if ts_version is None:
        raise dg.Failure("training_set must be materialised first")
    parts = split_frames(lake.read(TRAINING_TABLE, version=ts_version))
    train, val = parts["train"], parts["validation"]
    params = config.recipe()
    context.log.info(f"training on {len(train)} rows, validating on {len(val)}")
    held_out = train_xgboost(train, train[td.LABEL], val, val[td.LABEL], replace(params, refit=False))
    # Validation metrics come from the held-out fit (a refit model has seen these rows), scored
    # through the bundle's validating entry point like serving does; job roles that appeared
    # after the training window score as "unseen" and are counted.
    try:
        val_scored = held_out.score(val, unseen="allow")
        p_val = val_scored.require_all()
    except ScoringInputError as exc:
        raise dg.Failure(f"validation rows cannot be scored: {exc}") from None
    val_metrics = classification_metrics(val[td.LABEL].to_numpy(), p_val, held_out.threshold)
    bundle = held_out
    if params.refit:
        bundle = refit_xgboost(held_out, train, train[td.LABEL], val, val[td.LABEL], params)
        train = pd.concat([train, val], ignore_index=True)  # what the final booster learned from
    lineage = lake.lineage(TRAINING_TABLE, ts_version)
    delta_versions = {
        "training_set": ts_version,
        "employee_features": int(lineage.get("lineage.employee_features", -1)),
        "hris_terminations": int(lineage.get("lineage.hris_terminations", -1)),
    }
    bundle.metadata.update(
        delta_versions=delta_versions,
        horizon_days=int(lineage.get("lineage.horizon_days", 0)),
        known_until=lineage.get("lineage.known_until"),
        trained_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        training_rows=len(train),
        validation_metrics=val_metrics,
        drift_baseline=profile(train, bundle.spec),
        importance=bundle.importance(bundle.spec.matrix(train)),
        dagster_run_id=context.run.run_id,
    )
    with mlflow.start_run(f"candidate-{context.run.run_id[:8]}", {"dagster_run_id": context.run.run_id}) as run:
        import mlflow as mlf

        mlf.log_params(
            {
                **params.to_dict(),
                "best_iteration": bundle.metadata["best_iteration"],
                "max_depth": bundle.metadata["max_depth"],
            }
        )
        mlf.log_params({f"delta_version.{k}": v for k, v in delta_versions.items()})
        mlf.log_metrics({f"val_{k}": v for k, v in val_metrics.items() if np.isfinite(v)})
        mlf.log_metric("threshold", bundle.threshold)
        run_id = run.info.run_id
        # Upload first, register after, alias last (once the version reads back): a run killed
        # anywhere in between never leaves 'challenger' on a version without files. The version
        # number is not in the bundle's files; `ModelBundle.from_mlflow` fills it in.
        bundle.metadata.update(mlflow_run_id=run_id, model_name=mlflow.model_name)
        try:
            version = mlflow.log_and_register(
                bundle, run_id, "challenger", {"training_set_version": str(ts_version)}
            )
        except RegistrationError as exc:
            raise dg.Failure(str(exc)) from None
    top = list(bundle.metadata["importance"].items())[:15]
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "model_uri": mlflow.model_uri(version),
            "mlflow_run_id": run_id,
            "mlflow_run": mlflow_run_link(mlflow_ui_url(mlflow.ui_url), run.info.experiment_id, run_id),
            "mlflow_model_version": mlflow_model_version_link(
                mlflow_ui_url(mlflow.ui_url), mlflow.model_name, version
            ),
            "best_iteration": bundle.metadata["best_iteration"],
            "max_depth": bundle.metadata["max_depth"],
            "linear_base": bundle.linear is not None,
            **({"linear_c": bundle.linear.C} if bundle.linear is not None else {}),
            "validation_pr_auc_by_depth": dg.MetadataValue.json(
                bundle.metadata["validation_pr_auc_by_depth"]
            ),
            "threshold": round(bundle.threshold, 4),
            "training_rows": len(train),
            "refit": params.refit,
            "validation_unseen_categories": dg.MetadataValue.json(val_scored.unseen_counts),
            "delta_versions": dg.MetadataValue.json(delta_versions),
            **{f"val_{k}": round(float(val_metrics[k]), 4) for k in METRIC_NAMES},
            "feature_importance": dg.MetadataValue.md(
                plots.bar_plot(
                    [k for k, _ in top], [v for _, v in top], "Top factors on the training rows",
                    "mean |contribution| (log-odds)",
                )
            ),
        }
    )


@dg.asset(
    group_name="training",
    kinds={"mlflow", "sklearn"},
    deps=[candidate_model, training_set],
    owners=["team:ml"],
    description="Challenger vs a logistic-regression baseline on the untouched latest time window.",
)
def model_evaluation(
    context: dg.AssetExecutionContext, lake: DeltaLake, mlflow: MlflowRegistry
) -> dg.MaterializeResult:
    bundle = ModelBundle.from_mlflow(mlflow.model_uri("challenger"), mlflow.tracking_uri)
    ts_version = int(bundle.metadata["delta_versions"]["training_set"])
    parts = split_frames(lake.read(TRAINING_TABLE, version=ts_version))
    train, val, test = parts["train"], parts["validation"], parts["test"]
    baseline = train_baseline(train, train[td.LABEL], val, val[td.LABEL])
    y = test[td.LABEL].to_numpy()
    try:
        scored = bundle.score(test, unseen="allow")
        p_model = scored.require_all()
    except ScoringInputError as exc:
        raise dg.Failure(f"test rows cannot be scored: {exc}") from None
    p_base = baseline.predict_proba(test)
    model_m = classification_metrics(y, p_model, bundle.threshold)
    base_m = classification_metrics(y, p_base, baseline.threshold)
    table = pd.DataFrame({"candidate": model_m, "baseline": base_m}).loc[list(METRIC_NAMES)]
    client = mlflow.client()
    for k, v in model_m.items():
        if np.isfinite(v):
            client.log_metric(bundle.metadata["mlflow_run_id"], f"test_{k}", float(v))
    for k in ("roc_auc", "pr_auc", "brier"):
        if np.isfinite(base_m[k]):
            client.log_metric(bundle.metadata["mlflow_run_id"], f"baseline_test_{k}", float(base_m[k]))
    version = str(bundle.metadata["model_version"])
    for k in METRIC_NAMES:
        client.set_model_version_tag(mlflow.model_name, version, f"test_{k}", f"{model_m[k]:.4f}")
    context.log.info(f"model v{version} on {len(test)} test rows:\n{table.round(4)}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "mlflow_run": mlflow_run_link(
                mlflow_ui_url(mlflow.ui_url),
                client.get_run(bundle.metadata["mlflow_run_id"]).info.experiment_id,
                bundle.metadata["mlflow_run_id"],
            ),
            "mlflow_model_version": mlflow_model_version_link(
                mlflow_ui_url(mlflow.ui_url), mlflow.model_name, version
            ),
            "test_rows": len(test),
            "unseen_categories": dg.MetadataValue.json(scored.unseen_counts),
            "test_window": f"{test[SNAPSHOT_DATE].min()} .. {test[SNAPSHOT_DATE].max()}",
            **{k: round(float(model_m[k]), 4) for k in METRIC_NAMES},
            **{f"baseline_{k}": round(float(base_m[k]), 4) for k in METRIC_NAMES},
            "beats_baseline_roc_auc": bool(model_m["roc_auc"] > base_m["roc_auc"]),
            "beats_baseline_pr_auc": bool(model_m["pr_auc"] > base_m["pr_auc"]),
            "metrics": dg.MetadataValue.md(table.round(4).to_markdown()),
            "calibration_curve": dg.MetadataValue.md(
                plots.calibration_plot(y, {"candidate": p_model, "baseline": p_base})
            ),
            "confusion_matrix": dg.MetadataValue.md(
                plots.confusion_plot(confusion(y, p_model, bundle.threshold), bundle.threshold)
            ),
        }
    )
