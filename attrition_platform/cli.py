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

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCK_WAIT_SECONDS = 1800


def _user_errors() -> tuple[type[Exception], ...]:
    """The project's own error types: each carries a message written for the user."""
    from attrition_platform.contract import ContractError
    from attrition_platform.datadir import DataDirError
    from attrition_platform.model.bundle import BundleError
    from attrition_platform.model.training_data import TrainingDataError
    from attrition_platform.resources.hris import HrisError
    from attrition_platform.settings import SettingsError

    errors: tuple[type[Exception], ...] = (
        ContractError, DataDirError, BundleError, TrainingDataError, HrisError, SettingsError,
    )
    try:  # present only where the contracts' and the serving extra's packages are installed
        from serving.config import startup_errors

        errors += startup_errors()
    except ImportError:
        pass
    return errors


class _App(typer.Typer):
    """The one boundary: a project error raised anywhere under a command ends as one line and
    exit code 2, never a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, _user_errors()):
                typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
                sys.exit(2)
            raise


app = _App(add_completion=False, no_args_is_help=True, help=__doc__)


def _one_line(exc: Any) -> str:
    """A pydantic ValidationError as one line naming each setting and its problem (never the
    value given)."""
    return "; ".join(
        f"HRIS setting '{'.'.join(str(part) for part in e['loc'])}': {e['msg'].lower()}" for e in exc.errors()
    )


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
    from attrition_platform.settings import environment, paths

    env = environment()  # an unknown ATTRITION_ENV stops here, before anything is created
    p = paths().ensure()
    os.environ["ATTRITION_HOME"] = str(p.home)
    os.environ["DAGSTER_HOME"] = str(p.dagster_home)
    # prod: the instance the cluster runs (PostgreSQL, a pod per run), for tools run against it
    src = REPO_ROOT / ("deploy/dagster/dagster.prod.yaml" if env == "prod" else "dagster.yaml")
    target = p.dagster_home / "dagster.yaml"
    if src.is_file() and not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(src, tmp)
        os.replace(tmp, target)  # a concurrent reader sees no file or the whole file
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


def _check_result(outcome: Any, what: str) -> None:
    """Stop with what went wrong in a run: each failed check with its own numbers, each failed
    step with our own explanation (see runs.run_problems)."""
    if outcome.success:
        return
    _fail(f"{what} failed:\n  " + "\n  ".join(outcome.problems or ["see the Dagster run log"]))


def _metadata(instance: Any, key: str) -> dict[str, Any]:
    from attrition_platform.runs import latest_metadata

    return latest_metadata(instance, key)


@app.command()
def demo(
    hris: Path | None = typer.Option(None, help="CSV/Parquet export instead of the synthetic HRIS."),
    employees: int | None = typer.Option(None, help="Synthetic headcount (default 2,000)."),
    months: int | None = typer.Option(None, help="Synthetic months of history (default 36)."),
    refresh: bool = typer.Option(False, help="Rebuild snapshots that are already materialised."),
    retrain: bool = typer.Option(False, help="Train even if the training inputs have not changed."),
    reset: bool = typer.Option(False, help="Wipe this data directory's lake, Dagster and MLflow state first."),
    wait: int = typer.Option(DEFAULT_LOCK_WAIT_SECONDS, min=0, help="Seconds to wait for another run on this data directory."),
    no_wait: bool = typer.Option(False, help="Stop at once if another run holds the data directory."),
    verbose: bool = typer.Option(False, help="Show Dagster's own event log."),
) -> None:
    """Run the main job on the embedded defaults: HRIS -> features -> training set -> model."""
    from pydantic import ValidationError

    from attrition_platform import datadir
    from attrition_platform.resources.hris import hris_from_env

    t0 = time.perf_counter()
    _quiet_libraries()
    p = _prepare_home()
    extra = _hris_env(hris, employees, months)
    os.environ.update(extra)
    try:  # validates the source before anything is locked or written
        source = hris_from_env()
        dates = source.extract_dates()
    except ValidationError as exc:
        _fail(_one_line(exc))
    except ValueError as exc:  # the readers' own messages (bad extension, invalid knobs...)
        _fail(str(exc))
    _write_dotenv(extra)
    with datadir.exclusive(p, "attrition demo", 0 if no_wait else wait, typer.echo):
        if reset:
            datadir.reset(p, typer.echo)
            p = _prepare_home()
        ident = datadir.source_identity(source)
        datadir.check_source(p, ident)
        typer.echo(f"data directory: {p.home}")
        typer.echo(f"HRIS: {source.kind}" + (f" ({source.path})" if source.path else "")
                   + f", {len(dates)} snapshot(s) {dates[0]} .. {dates[-1]}")
        instance = _run_demo(p, dates, ident, refresh=refresh, retrain=retrain, verbose=verbose)
        published = _govern(instance, verbose)
        _score_latest(instance, dates[-1], verbose)
        _summary(instance, p, time.perf_counter() - t0, published)


def _run_demo(p: Any, dates: list[dt.date], ident: dict[str, Any], *, refresh: bool, retrain: bool,
              verbose: bool) -> Any:
    """Land every snapshot not yet landed successfully, then train unless the model is current.
    Runs with the data-directory lock held: no other CLI writer is live in this home."""
    import dagster as dg

    from attrition_platform import currency, runs
    from attrition_platform.definitions import defs
    from attrition_platform.defs.partitions import register_snapshot_dates

    definitions = defs()
    registry = definitions.resources["mlflow"]
    lake = definitions.resources["lake"]
    instance = dg.DagsterInstance.get()
    for run_id in runs.fail_dead_runs(instance):
        typer.echo(f"marked failed: Dagster run {run_id[:8]}, left unfinished by a process that died")
    live = {r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=runs.IN_PROGRESS))}
    stale = registry.fail_stale_runs(live)
    if stale:
        typer.echo(f"marked failed: {stale} MLflow run(s) left running by a process that died")
    jobs = runs.CodeLocationJobs()
    register_snapshot_dates(instance, dates)
    latest = runs.latest_partition_runs(instance, "snapshot")
    done = set() if refresh else {k for k, s in latest.items() if s == dg.DagsterRunStatus.SUCCESS}
    quiet = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    for i, day in enumerate(dates, 1):
        key = day.isoformat()
        if key in done:
            typer.echo(f"[{i:>3}/{len(dates)}] {key}  already materialised, skipped")
            continue
        t = time.perf_counter()
        _check_result(jobs.launch(instance, "snapshot", key, quiet), f"snapshot {key}")
        typer.echo(f"[{i:>3}/{len(dates)}] {key}  hris + features  {time.perf_counter() - t:.1f}s")
    fingerprint = currency.inputs_fingerprint(lake, ident)
    if not retrain and currency.model_is_current(registry, fingerprint):
        typer.echo("training: the challenger was trained on training inputs with exactly this "
                   "content, skipped (--retrain to train again)")
        return instance
    typer.echo("training: training_set -> candidate_model -> model_evaluation -> fairness_report "
               "-> promotion_gate -> production_model ...")
    t = time.perf_counter()
    _check_result(jobs.launch(instance, "train_model", None, quiet), "training")
    currency.record_inputs(registry, fingerprint)
    typer.echo(f"training done in {time.perf_counter() - t:.1f}s")
    return instance


def _init_stores_once(p: Any, command: str) -> None:
    """Create the Dagster and MLflow SQLite stores under the data-directory lock when they do
    not exist yet: a UI started beside a first demo must not race its migrations. Afterwards the
    UIs take no lock, so they can watch a demo while it runs."""
    if (p.dagster_home / "history" / "runs.db").is_file() and (p.mlflow_dir / "mlflow.db").is_file():
        return
    import dagster as dg

    from attrition_platform import datadir
    from attrition_platform.resources.mlflow_registry import MlflowRegistry

    with datadir.exclusive(p, command, DEFAULT_LOCK_WAIT_SECONDS, typer.echo):
        dg.DagsterInstance.get().get_runs(limit=1)
        MlflowRegistry(tracking_uri=p.mlflow_tracking_uri, artifact_location=p.mlflow_artifacts.as_uri()).experiment_id()


def _score_latest(instance: Any, day: dt.date, verbose: bool) -> None:
    """Run `nightly_scores` for the latest snapshot (Delta table + serving's fallback export),
    as the nightly run would; skipped when nothing is published."""
    from attrition_platform import runs
    from attrition_platform.contracts.published import default_serving_uri
    from attrition_platform.publication import published_version

    if published_version(default_serving_uri()) is None:
        return
    quiet = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    t = time.perf_counter()
    _check_result(runs.CodeLocationJobs().launch(instance, "nightly_scoring", day.isoformat(), quiet),
                  f"nightly scores {day}")
    typer.echo(f"nightly scores: {day} scored with the published model in {time.perf_counter() - t:.1f}s")


def _govern(instance: Any, verbose: bool) -> str:
    """Run the promotion gate and publication for the challenger when no gate has judged it yet
    (a data directory trained before the gate existed, or a run killed after training); returns
    what now serves."""
    from attrition_platform import runs
    from attrition_platform.contracts.published import default_serving_uri
    from attrition_platform.definitions import defs
    from attrition_platform.defs.governance_assets import CHALLENGER, CHAMPION
    from attrition_platform.publication import published_version

    registry = defs().resources["mlflow"]
    challenger = registry.alias_version(CHALLENGER)
    if challenger is None:
        return "nothing published (no model registered)"
    champion = registry.alias_version(CHAMPION)
    judged = "gate.decision" in (challenger.tags or {})
    uri = default_serving_uri()
    if not judged or champion is None or published_version(uri) != str(champion.version):
        quiet = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        t = time.perf_counter()
        _check_result(runs.CodeLocationJobs().launch(instance, "promote", None, quiet), "promotion")
        typer.echo(f"promotion gate and publication done in {time.perf_counter() - t:.1f}s")
        champion = registry.alias_version(CHAMPION)
    if champion is None:
        return "nothing published: the promotion gate rejected the first model (see promotion_gate)"
    return f"champion v{champion.version} published at {uri}"


def _summary(instance: Any, p: Any, seconds: float, published: str = "") -> None:
    ts = _metadata(instance, "training_set")
    cand = _metadata(instance, "candidate_model")
    ev = _metadata(instance, "model_evaluation")
    fair = _metadata(instance, "fairness_report")
    gate = _metadata(instance, "promotion_gate")
    names = ("recall", "precision", "f1", "roc_auc", "pr_auc", "brier")
    lines = [
        "",
        "=== attrition demo summary ===",
        f"labelled rows     : {ts.get('dagster/row_count')} ({ts.get('mode')}, horizon "
        f"{ts.get('horizon_days')} days, known until {ts.get('known_until')})",
        f"model learned from: {cand.get('training_rows')} rows (training"
        + (" + validation, refit)" if cand.get("refit") else ")"),
        f"model             : {cand.get('model_uri')} (alias challenger), "
        f"threshold {cand.get('threshold')}",
        f"holdout window    : {ev.get('test_window')} ({ev.get('test_rows')} rows)",
        f"{'metric':<18}{'model':>8}{'baseline':>10}",
    ]
    for n in names:
        lines.append(f"  {n:<16}{float(ev.get(n, float('nan'))):>8.3f}{float(ev.get('baseline_' + n, float('nan'))):>10.3f}")
    if fair:
        lines.append(f"fairness          : largest recall gap {fair.get('candidate_max_gap_pp')} pp "
                     f"({fair.get('largest_gap_attribute')}; fairness_report has every group)")
    if gate:
        lines.append(f"promotion gate    : {gate.get('summary')}")
    lines += [
        f"serving           : {published}",
        f"total time        : {seconds:.0f}s",
        "",
        "serve predictions  : .venv/bin/attrition serve        (http://127.0.0.1:8000/schema)",
        "open the Dagster UI : .venv/bin/attrition ui        (http://127.0.0.1:3000)",
        "open the MLflow UI  : .venv/bin/attrition mlflow-ui (http://127.0.0.1:5000)",
    ]
    typer.echo("\n".join(lines))


scenario_app = typer.Typer(no_args_is_help=True, help="Stories the platform tells end to end.")
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("drift")
def scenario_drift(
    drift: bool = typer.Option(True, "--drift/--no-drift", help="Inject drift into the last extracts."),
    home: Path = typer.Option(Path(".attrition-scenario"), help="The scenario's own data directory "
                              "(wiped and rebuilt: the story starts from nothing)."),
    employees: int = typer.Option(1500, min=200, max=20_000, help="Synthetic headcount."),
    months: int = typer.Option(24, min=20, max=60, help="Months of history (the last 3 drift)."),
) -> None:
    """Train and promote, inject drift, send portal traffic, run the monitors, tick the sensors,
    retrain and let the gate decide; the last line is one JSON object with the outcome."""
    from attrition_platform import datadir
    from attrition_platform.scenario import ScenarioError, run_drift_scenario

    t0 = time.perf_counter()
    _quiet_libraries()
    target = home.expanduser().resolve()
    foreign = datadir.foreign_entries(target)
    if foreign:  # refused before anything is created or wiped in it
        _fail(f"--home {target} holds files that are not a data directory's ({', '.join(foreign[:5])}): "
              "the scenario wipes its home, so give it an empty or scenario directory")
    os.environ["ATTRITION_HOME"] = str(target)
    p = _prepare_home()
    with datadir.exclusive(p, "attrition scenario drift", DEFAULT_LOCK_WAIT_SECONDS, typer.echo):
        datadir.reset(p, typer.echo)
        p = _prepare_home()
        typer.echo(f"data directory: {p.home} (open it: ATTRITION_HOME={p.home} .venv/bin/attrition ui)")
        try:
            result = run_drift_scenario(p.home, drift=drift, employees=employees, months=months, say=typer.echo)
        except ScenarioError as exc:
            _fail(str(exc))
    typer.echo(f"done in {time.perf_counter() - t0:.0f}s; alerts in {p.home / 'alerts' / 'alerts.jsonl'}")
    typer.echo(result.json())


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
    from attrition_platform.hris.export import ExportTargetError, write_synthetic_export
    from attrition_platform.hris.synthetic import SyntheticConfig

    try:
        config = SyntheticConfig(employees=employees, months=months, seed=seed)
        rows = write_synthetic_export(config, out, static=static)
    except (ExportTargetError, ValueError) as exc:
        _fail(str(exc))
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
    _init_stores_once(_prepare_home(), "attrition ui")
    # The SQL URL may hold a password: `dagster dev` inherits it from this environment, and it
    # is never written to disk.
    _write_dotenv({k: v for k, v in os.environ.items()
                   if k.startswith("ATTRITION_HRIS_") and k != "ATTRITION_HRIS_SQL_URL"})
    dagster = str(Path(sys.executable).with_name("dagster"))
    _exec_with_default_signals(
        [dagster, "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-p", str(port)], dict(os.environ)
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535),
    tls_cert: Path | None = typer.Option(None, help="PEM certificate: serve HTTPS (with --tls-key)."),
    tls_key: Path | None = typer.Option(None, help="PEM private key of --tls-cert."),
) -> None:
    """Serve live predictions for the HR portal from this data directory's published model."""
    p = _prepare_home()
    os.environ["ATTRITION_HOME"] = str(p.home)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before xgboost loads: see serving/__main__.py
    from serving.server import Listen, serve as run_server

    listen = Listen(host, port, str(tls_cert) if tls_cert else None, str(tls_key) if tls_key else None)

    def example(service: Any) -> None:
        some = service.employees.example_id()
        base = f"{listen.scheme}://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        path = f"/v1/employees/{some}/risk" if some is not None else "/v1/model"
        insecure = " -k" if listen.tls_cert else ""
        typer.echo(
            f"\nserving on {base}  (API docs: {base}/schema, metrics: {base}/metrics)\n"
            f"try it:\n"
            f"  TOKEN=$(.venv/bin/attrition token --scopes 'attrition:predict attrition:actions' | tail -n 1)\n"
            f"  curl{insecure} -H \"Authorization: Bearer $TOKEN\" {base}{path}\n",
            err=True,
        )

    run_server(listen, on_ready=example)


@app.command()
def token(
    scopes: str = typer.Option("attrition:predict", help="Space-separated scopes to grant."),
    subject: str = typer.Option("dev-user", help="The token's subject (logged as the caller)."),
    ttl: int = typer.Option(3600, min=60, max=86_400, help="Lifetime in seconds."),
) -> None:
    """Print a short-lived development token (the token alone on the last line) that a local
    `attrition serve` accepts. Development keys only: refused when ATTRITION_ENV=prod."""
    from serving.auth import SCOPES
    from serving.dev_keys import ProductionModeError, mint_dev_token

    wanted = scopes.split()
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        _fail(f"--scopes: unknown scope(s) {' '.join(unknown) or '(none given)'}; choose from {' '.join(SCOPES)}")
    p = _prepare_home()
    try:
        tok = mint_dev_token(p.home / "secrets", wanted, subject=subject, ttl_seconds=ttl)
    except ProductionModeError as exc:
        _fail(str(exc))
    typer.echo(f"development token for {subject}, scopes {' '.join(wanted)}, valid {ttl}s:", err=True)
    typer.echo(tok)


# "-3" is an id to refuse with the command's own message, not an unknown option.
@app.command(context_settings={"ignore_unknown_options": True})
def erase(
    employee_id: str = typer.Argument(..., help="The employee's HRIS EmployeeNumber."),
    yes: bool = typer.Option(False, "--yes", help="Erase without asking for confirmation."),
    wait: int = typer.Option(DEFAULT_LOCK_WAIT_SECONDS, min=0, help="Seconds to wait for another run on this data directory."),
    no_wait: bool = typer.Option(False, help="Stop at once if another run holds the data directory."),
) -> None:
    """Right to erasure: remove one employee from every table, its Delta history and the
    nightly exports, and keep them out of later extracts (docs/privacy.md)."""
    from attrition_platform import datadir
    from attrition_platform.contracts.fallback_export import ExportError
    from attrition_platform.contracts.published import PublicationError
    from attrition_platform.privacy.erasure import erase_employee, find_employee, locations_from_env
    from attrition_platform.privacy.suppression import SuppressionError

    text = employee_id.strip()
    if not text.isdigit() or int(text) < 1:
        _fail("EMPLOYEE_ID: must be a positive integer (the HRIS EmployeeNumber)")
    number = int(text)
    p = _prepare_home()
    with datadir.exclusive(p, "attrition erase", 0 if no_wait else wait, typer.echo):
        try:
            where = locations_from_env()
            findings = find_employee(number, where)
            if not findings.found:
                typer.echo(f"employee {number}: not found anywhere (nothing changed)")
                return
            typer.echo(f"employee {number} found in:\n" + "\n".join(findings.lines()))
            if not yes and not typer.confirm("erase this employee everywhere? this cannot be undone", default=False):
                typer.echo("nothing changed")
                raise typer.Exit(1)
            report = erase_employee(number, where, say=typer.echo)
        except (SuppressionError, PublicationError, ExportError) as exc:
            _fail(str(exc))
    typer.echo(f"employee {number} erased:\n" + "\n".join(report.lines()))


@app.command("mlflow-ui")
def mlflow_ui(port: int = typer.Option(5000)) -> None:
    """Start the MLflow UI on the demo's tracking store (one worker, ~400 MB)."""
    p = _prepare_home()
    _init_stores_once(p, "attrition mlflow-ui")
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    _exec_with_default_signals(
        [mlflow, "server", "--backend-store-uri", p.mlflow_tracking_uri, "--default-artifact-root",
         p.mlflow_artifacts.as_uri(), "--workers", "1", "--port", str(port)],
        env,
    )


if __name__ == "__main__":
    app()
