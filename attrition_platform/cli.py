"""`attrition`: the platform's command line (demo, cv, generate, ui, mlflow-ui).

Commands validate their inputs before any Dagster run starts, so a bad export ends with one
readable message and exit code 2, never a traceback, and nothing in the lake is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _quiet_libraries() -> None:
    """MLflow's table-creation notices and download bars drown the demo's own progress."""
    import logging
    import warnings

    # Partitioned asset checks are a Dagster preview API; the version is pinned, so the
    # warning says nothing a demo user can act on.
    warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _prepare_home() -> Any:
    """Point Dagster at the data directory and give it the project's instance config."""
    from attrition_platform.settings import paths

    p = paths().ensure()
    os.environ["ATTRITION_HOME"] = str(p.home)
    os.environ["DAGSTER_HOME"] = str(p.dagster_home)
    src = REPO_ROOT / "dagster.yaml"
    if src.is_file() and not (p.dagster_home / "dagster.yaml").exists():
        shutil.copy(src, p.dagster_home / "dagster.yaml")
    return p


def _write_dotenv(extra: dict[str, str]) -> None:
    """`dagster dev` loads ./.env: writing it makes the UI open the same data directory."""
    if not (Path.cwd() / "workspace.yaml").is_file():
        return
    values = {"ATTRITION_HOME": os.environ["ATTRITION_HOME"], "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    values.update(extra)
    Path(".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def _hris_env(hris: Path | None, employees: int | None, months: int | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if hris is not None:
        env["ATTRITION_HRIS_KIND"] = "file"
        env["ATTRITION_HRIS_PATH"] = str(hris.expanduser().resolve())
    if employees is not None:
        env["ATTRITION_HRIS_EMPLOYEES"] = str(employees)
    if months is not None:
        env["ATTRITION_HRIS_MONTHS"] = str(months)
    return env


def _check_result(result: Any, what: str) -> None:
    if result.success:
        return
    messages = []
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            problems = evaluation.metadata.get("problems")
            detail = f"\n{problems.value}" if problems is not None else ""
            messages.append(f"check {evaluation.asset_key.to_user_string()}.{evaluation.check_name} failed{detail}")
    for event in result.all_events:
        if event.is_step_failure:
            err = event.step_failure_data.error
            cause = err.cause if err is not None and err.cause is not None else err
            text = cause.message.strip() if cause else "failed"
            if cause is not None and cause.cls_name == "Failure":
                text = text.split(": ", 1)[-1]  # our own explanation; the class path is noise
            messages.append(f"{event.step_key}: {text}")
    _fail(f"{what} failed:\n  " + "\n  ".join(messages or ["see the Dagster run log"]))


def _metadata(instance: Any, key: str) -> dict[str, Any]:
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


@app.command()
def demo(
    hris: Path | None = typer.Option(None, help="CSV/Parquet export instead of the synthetic HRIS."),
    employees: int | None = typer.Option(None, help="Synthetic headcount (default 2,000)."),
    months: int | None = typer.Option(None, help="Synthetic months of history (default 36)."),
    refresh: bool = typer.Option(False, help="Rebuild snapshots that are already materialised."),
    retrain: bool = typer.Option(False, help="Train even if the snapshots have not changed."),
    verbose: bool = typer.Option(False, help="Show Dagster's own event log."),
) -> None:
    """Run the main job on the embedded defaults: HRIS -> features -> training set -> model."""
    import dagster as dg

    from attrition_platform import contract
    from attrition_platform.resources.hris import HrisError, hris_from_env

    t0 = time.perf_counter()
    _quiet_libraries()
    p = _prepare_home()
    extra = _hris_env(hris, employees, months)
    os.environ.update(extra)
    _write_dotenv(extra)
    try:
        source = hris_from_env()
        dates = source.extract_dates()
    except (contract.ContractError, HrisError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"data directory: {p.home}")
    typer.echo(f"HRIS: {source.kind}" + (f" ({source.path})" if source.path else "")
               + f", {len(dates)} snapshot(s) {dates[0]} .. {dates[-1]}")

    from attrition_platform.definitions import defs

    definitions = defs()
    instance = dg.DagsterInstance.get()
    done = set() if refresh else instance.get_materialized_partitions(dg.AssetKey("employee_features"))
    snapshot_job = definitions.resolve_job_def("daily_snapshot")
    quiet = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    for i, day in enumerate(dates, 1):
        key = day.isoformat()
        if key in done:
            typer.echo(f"[{i:>3}/{len(dates)}] {key}  already materialised, skipped")
            continue
        t = time.perf_counter()
        result = snapshot_job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=quiet
        )
        _check_result(result, f"snapshot {key}")
        typer.echo(f"[{i:>3}/{len(dates)}] {key}  hris + features  {time.perf_counter() - t:.1f}s")
    if not retrain and _model_is_current(instance, definitions):
        typer.echo("training: the latest model was trained on exactly these snapshots, skipped "
                   "(--retrain to train again)")
    else:
        typer.echo("training: training_set -> candidate_model -> model_evaluation ...")
        t = time.perf_counter()
        result = definitions.resolve_job_def("train_model").execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet
        )
        _check_result(result, "training")
        typer.echo(f"training done in {time.perf_counter() - t:.1f}s")
    _summary(instance, p, time.perf_counter() - t0)


def _model_is_current(instance: Any, definitions: Any) -> bool:
    """True when the last evaluated model was trained on the lake's current snapshot tables:
    training again would only register an identical model under a new version."""
    candidate = _metadata(instance, "candidate_model")
    evaluation = _metadata(instance, "model_evaluation")
    if not candidate or evaluation.get("model_version") != candidate.get("model_version"):
        return False
    lake = definitions.resources["lake"]
    used = candidate.get("delta_versions") or {}
    return all(used.get(t) == lake.version(t) for t in ("employee_features", "hris_terminations"))


def _summary(instance: Any, p: Any, seconds: float) -> None:
    ts = _metadata(instance, "training_set")
    cand = _metadata(instance, "candidate_model")
    ev = _metadata(instance, "model_evaluation")
    names = ("recall", "precision", "f1", "roc_auc", "pr_auc", "brier")
    lines = [
        "",
        "=== attrition demo summary ===",
        f"training rows     : {ts.get('dagster/row_count')} ({ts.get('mode')}, horizon "
        f"{ts.get('horizon_days')} days, known until {ts.get('known_until')})",
        f"model             : {cand.get('model_uri')} (alias challenger), "
        f"threshold {cand.get('threshold')}",
        f"holdout window    : {ev.get('test_window')} ({ev.get('test_rows')} rows)",
        f"{'metric':<18}{'model':>8}{'baseline':>10}",
    ]
    for n in names:
        lines.append(f"  {n:<16}{float(ev.get(n, float('nan'))):>8.3f}{float(ev.get('baseline_' + n, float('nan'))):>10.3f}")
    lines += [
        f"total time        : {seconds:.0f}s",
        "",
        "open the Dagster UI : .venv/bin/attrition ui        (http://127.0.0.1:3000)",
        "open the MLflow UI  : .venv/bin/attrition mlflow-ui (http://127.0.0.1:5000)",
    ]
    typer.echo("\n".join(lines))


@app.command()
def cv(
    hris: Path = typer.Option(..., help="CSV/Parquet export (static or time-aware)."),
    folds: int = typer.Option(5, min=2),
    repeats: int = typer.Option(3, min=1),
    horizon_days: int = typer.Option(180, min=1, help="Label horizon for time-aware exports."),
    compare_refit: bool = typer.Option(
        False, help="Also score the recipe refitted on fit + validation rows (rounds kept, and scaled)."
    ),
) -> None:
    """Repeated stratified CV of the training recipe vs a logistic baseline; prints one JSON line.

    Folds and the inner fit/validation split group rows by employee."""
    from attrition_platform import contract
    from attrition_platform.hris.file_source import read_export
    from attrition_platform.model import training_data as td
    from attrition_platform.model.cv import cross_validate
    from attrition_platform.resources.hris import exits_known_by

    try:
        table = read_export(hris)
    except (contract.ContractError, ValueError, OSError) as exc:
        _fail(str(exc))
    try:
        if contract.is_time_aware(table):
            known = max(table[contract.SNAPSHOT_DATE])
            table = table[~table["opt_out"].astype(bool)]
            rows = td.label_time_aware(table, exits_known_by(table, known), horizon_days, known)
            if rows.empty:
                raise td.TrainingDataError(
                    f"no labelled rows: no snapshot is {horizon_days} days (the horizon) before "
                    f"the latest one ({known}); add history or shorten --horizon-days"
                )
        else:
            rows = td.label_static(table)
    except td.TrainingDataError as exc:
        _fail(str(exc))

    def progress(i: int, n: int) -> None:
        typer.echo(f"fold {i}/{n}", err=True)

    try:
        result = cross_validate(
            rows,
            rows[td.LABEL].to_numpy(),
            folds=folds,
            repeats=repeats,
            compare_refit=compare_refit,
            progress=progress,
        )
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result))


@app.command()
def generate(
    out: Path = typer.Option(..., help="Output .csv or .parquet file."),
    employees: int = typer.Option(2000, min=100),
    months: int = typer.Option(36, min=1),
    seed: int = typer.Option(7),
    static: bool = typer.Option(False, help="One snapshot labelled with Attrition (IBM layout)."),
) -> None:
    """Write a synthetic HRIS export in the contract's layout (for trying the file source)."""
    from attrition_platform.hris.export import write_synthetic_export
    from attrition_platform.hris.synthetic import SyntheticConfig

    config = SyntheticConfig(employees=employees, months=months, seed=seed)
    rows = write_synthetic_export(config, out, static=static)
    typer.echo(f"wrote {rows} rows to {out}")


def _exec_with_default_signals(argv: list[str], env: dict[str, str]) -> None:
    """exec with SIGINT/SIGTERM reset: a shell that started us in the background ignores them,
    and `dagster dev` would otherwise copy that onto SIGTERM and refuse to stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execvpe(argv[0], argv, env)


@app.command()
def ui(port: int = typer.Option(3000)) -> None:
    """Start the Dagster UI (`dagster dev`) on the same data directory as the demo."""
    _prepare_home()
    _write_dotenv({k: v for k, v in os.environ.items() if k.startswith("ATTRITION_HRIS_")})
    dagster = str(Path(sys.executable).with_name("dagster"))
    _exec_with_default_signals(
        [dagster, "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-p", str(port)], dict(os.environ)
    )


@app.command("mlflow-ui")
def mlflow_ui(port: int = typer.Option(5000)) -> None:
    """Start the MLflow UI on the demo's tracking store (one worker, ~400 MB)."""
    p = _prepare_home()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    _exec_with_default_signals(
        [mlflow, "server", "--backend-store-uri", p.mlflow_tracking_uri, "--default-artifact-root",
         p.mlflow_artifacts.as_uri(), "--workers", "1", "--port", str(port)],
        env,
    )


if __name__ == "__main__":
    app()
