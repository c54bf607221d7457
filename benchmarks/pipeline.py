#!/usr/bin/env python
"""Wall time and peak memory of each stage of the pipeline, at several company sizes.

    .venv/bin/python benchmarks/pipeline.py                       # 2,000 and 100,000 employees
    .venv/bin/python benchmarks/pipeline.py --sizes 2000 --out results.json --keep

Stages, in order, each in its own fresh child process (this script re-invoked with --stage) so
that each peak RSS is that stage's own:

  simulate          attrition_platform.hris.synthetic.simulate alone (no Dagster imported)
  snapshots         hris_employees + hris_terminations + employee_features and their asset
                    checks, one dg.materialize per extract date, on a real DagsterInstance
  training_set      dg.materialize of that one asset (and its checks), default config
  candidate_model   dg.materialize of that one asset: XGBoost + MLflow logging and registry
  model_evaluation  dg.materialize of that one asset: baseline, holdout metrics, MLflow tags

All stages of one size share a temporary data directory under /tmp (Dagster home, Delta lake,
MLflow store), removed at the end unless --keep. The training stages run with the assets'
default config, i.e. what `attrition demo` and the monthly retrain run.

Reported per stage: "wall s" is the stage's work only (the child's imports, mlflow's
included, are timed apart as import_s); "cpu s" is the CPU the child spent on that work (all
threads; other work on the machine inflates "wall s" but hardly "cpu s"); "peak MB" is the
child's peak RSS (os.wait4 ru_maxrss, imports included: the baseline after imports is
rss_after_import_mb in the JSON, the 1-minute load average before and after each stage is
there too). Progress goes to stderr; stdout gets the table, a per-stage time breakdown and,
last, one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import inspect
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("simulate", "snapshots", "training_set", "candidate_model", "model_evaluation")
SNAPSHOT_KEYS = ("hris_employees", "hris_terminations", "employee_features")
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
PROGRESS_EVERY_S = 10.0  # a progress line at least this often on long stages


# --------------------------------------------------------------------------------------------
# Small helpers shared by parent and child
# --------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def proc_status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc, in MB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_seconds() -> float:
    """User + system CPU of this process so far, all threads (XGBoost, Arrow, Delta) included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def size_label(employees: int, months: int) -> str:
    return f"{employees:,}x{months}"


def tree_digest(package: Path) -> str:
    """sha1 over the package's .py files (path and content): which code a stage measured."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def freeze_code(dest: Path) -> dict[str, Any]:
    """Copy the attrition_platform package as it is now into `dest`; children import that copy
    (PYTHONPATH wins over the editable install), so edits made to the working tree while the
    benchmark runs cannot change the code between stages."""
    import attrition_platform

    package = Path(attrition_platform.__file__).resolve().parent
    shutil.copytree(package, dest / package.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    repo = package.parent
    for name in ("pyproject.toml", "dg.toml"):  # dg's project config: load_from_defs_folder
        if (repo / name).is_file():
            shutil.copy2(repo / name, dest / name)

    def git(*cmd: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *cmd], capture_output=True,
                                 text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", package.name)
    return {
        "source": str(package),
        "git_commit": git("rev-parse", "--short=12", "HEAD"),
        "uncommitted": dirty.splitlines() if dirty else [],
        "sha1": tree_digest(dest / package.name),
    }


# --------------------------------------------------------------------------------------------
# Child side: one stage, timed, with a breakdown of where its time goes
# --------------------------------------------------------------------------------------------


class Timers:
    """Cumulative seconds and calls per label, gathered by wrapping functions in place.

    Only this process is affected (nothing on disk changes). Wrapped functions may nest (e.g.
    xgboost.train runs inside train_xgboost), so the labels are not meant to add up.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        label = label or f"{getattr(owner, '__name__', str(owner)).rsplit('.', 1)[-1]}.{name}"
        static = inspect.getattr_static(owner, name)
        if isinstance(static, classmethod):
            inner = static.__func__
        elif isinstance(static, staticmethod):
            inner = static.__func__
        else:
            inner = static

        @functools.wraps(inner)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t
                self.calls[label] = self.calls.get(label, 0) + 1

        if isinstance(static, classmethod):
            setattr(owner, name, classmethod(timed))
        elif isinstance(static, staticmethod):
            setattr(owner, name, staticmethod(timed))
        else:
            setattr(owner, name, timed)

    def report(self) -> dict[str, dict[str, float]]:
        return {
            k: {"s": round(v, 3), "calls": self.calls[k]}
            for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }


def instrument(stage: str, timers: Timers) -> None:
    """Wrap the functions that do the heavy lifting of `stage` (see Timers)."""
    import mlflow
    import xgboost

    from attrition_platform import plots
    from attrition_platform.defs import feature_assets, hris_assets, hris_checks, training_assets
    from attrition_platform.model import recipe
    from attrition_platform.model import training_data as td
    from attrition_platform.model.bundle import ModelBundle
    from attrition_platform.model.feature_spec import FeatureSpec
    from attrition_platform.resources.hris import HrisSource
    from attrition_platform.resources.lake import DeltaLake
    from attrition_platform.resources.mlflow_registry import MlflowRegistry

    for name in ("read", "write_partition", "overwrite", "partition_dates", "lineage", "version"):
        timers.wrap(DeltaLake, name, f"lake.{name}")
    timers.wrap(DeltaLake, "table", "  lake.table (open, inside the above)")
    if stage == "snapshots":
        timers.wrap(HrisSource, "employees_as_of", "hris.employees_as_of")
        timers.wrap(HrisSource, "terminations_as_of", "hris.terminations_as_of")
        timers.wrap(feature_assets, "build_features")
        timers.wrap(hris_assets, "preview")
        timers.wrap(hris_checks.contract, "find_violations", "contract.find_violations")
    elif stage == "training_set":
        timers.wrap(td, "label_time_aware", "training_data.label_time_aware")
        timers.wrap(td, "assign_split", "training_data.assign_split")
        timers.wrap(plots, "line_plot", "plots.line_plot")
    elif stage == "candidate_model":
        timers.wrap(training_assets, "split_frames")
        timers.wrap(training_assets, "train_xgboost", "train_xgboost (all of it)")
        timers.wrap(FeatureSpec, "fit", "  FeatureSpec.fit")
        timers.wrap(FeatureSpec, "matrix", "  FeatureSpec.matrix")
        timers.wrap(xgboost, "train", "  xgboost.train")
        timers.wrap(recipe, "_fit_platt", "  recipe._fit_platt")
        timers.wrap(recipe, "choose_threshold", "  metrics.choose_threshold")
        timers.wrap(training_assets, "classification_metrics", "metrics.classification_metrics")
        timers.wrap(training_assets, "profile", "profile (drift baseline)")
        timers.wrap(MlflowRegistry, "experiment_id", "mlflow: experiment_id (store set-up)")
        timers.wrap(MlflowRegistry, "register", "mlflow: register + alias")
        for name in ("start_run", "log_params", "log_metrics", "log_metric"):
            timers.wrap(mlflow, name, f"mlflow.{name}")
        timers.wrap(ModelBundle, "log_to_mlflow", "bundle.log_to_mlflow")
        timers.wrap(plots, "bar_plot", "plots.bar_plot")
    elif stage == "model_evaluation":
        timers.wrap(ModelBundle, "from_mlflow", "bundle.from_mlflow")
        timers.wrap(training_assets, "split_frames")
        timers.wrap(training_assets, "train_baseline", "train_baseline (logistic)")
        timers.wrap(ModelBundle, "predict_proba", "bundle.predict_proba")
        timers.wrap(training_assets, "classification_metrics", "metrics.classification_metrics")
        timers.wrap(MlflowRegistry, "client", "mlflow: client")
        timers.wrap(mlflow.MlflowClient, "log_metric", "mlflow: client.log_metric")
        timers.wrap(mlflow.MlflowClient, "set_model_version_tag", "mlflow: set_model_version_tag")
        timers.wrap(plots, "calibration_plot", "plots.calibration_plot")
        timers.wrap(plots, "confusion_plot", "plots.confusion_plot")


def asset_graph() -> list[Any]:
    """Every asset and check, as the tests materialise them (resources are ours)."""
    from attrition_platform.definitions import asset_graph as graph

    return graph()


def make_resources(workdir: Path, employees: int, months: int) -> dict[str, Any]:
    from attrition_platform.resources.hris import HrisSource
    from attrition_platform.resources.lake import DeltaLake
    from attrition_platform.resources.mlflow_registry import MlflowRegistry

    return {
        "hris": HrisSource(employees=employees, months=months),
        "lake": DeltaLake(root=str(workdir / "lake")),
        "mlflow": MlflowRegistry(
            tracking_uri=f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}",
            artifact_location=(workdir / "mlflow" / "artifacts").as_uri(),
        ),
    }


def step_seconds(result: Any) -> dict[str, float]:
    """Seconds per step (asset or check op) from the run's STEP_SUCCESS events."""
    out: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            out[event.step_key] = event.event_specific_data.duration_ms / 1000.0
    return out


def failure_text(result: Any) -> str:
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            err = event.step_failure_data.error
            cause = err.cause if err is not None and err.cause is not None else err
            lines.append(f"{event.step_key}: {cause.to_string() if cause else 'failed'}")
    return "\n".join(lines) or "run failed (no step failure recorded)"


def row_count(result: Any, node: str) -> int:
    total = 0
    for mat in result.asset_materializations_for_node(node):
        value = mat.metadata.get("dagster/row_count")
        total += int(value.value) if value is not None else 0
    return total


def stage_simulate(args: argparse.Namespace, timers: Timers) -> dict[str, Any]:
    from attrition_platform.hris.synthetic import SyntheticConfig, simulate

    config = SyntheticConfig(employees=args.employees, months=args.months)
    log(f"simulate: {size_label(args.employees, args.months)} ...")
    t = time.perf_counter()
    company = simulate(config)
    wall = time.perf_counter() - t
    snapshots, exits = len(company.snapshots), len(company.terminations)
    return {
        "wall_s": wall,
        "rows": snapshots,
        "details": {
            "snapshot_rows": snapshots,
            "termination_rows": exits,
            "snapshot_dates": len(company.snapshot_dates()),
        },
    }


def stage_snapshots(args: argparse.Namespace, timers: Timers) -> dict[str, Any]:
    import dagster as dg

    from attrition_platform.defs.partitions import register_snapshot_dates
    from attrition_platform.hris.synthetic import SyntheticConfig

    workdir = Path(args.workdir)
    resources = make_resources(workdir, args.employees, args.months)
    hris = resources["hris"]
    if hris.synthetic_config() != SyntheticConfig(employees=args.employees, months=args.months):
        log("warning: HrisSource defaults differ from SyntheticConfig defaults; "
            "the simulate stage does not measure the same company")
    definitions = asset_graph()
    selection = dg.AssetSelection.assets(*SNAPSHOT_KEYS)
    t0 = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        # The HRIS resource simulates the company on first use (lru_cache): timed apart so the
        # per-partition figures are the steady state.
        dates = hris.extract_dates()
        register_snapshot_dates(instance, dates)
        warmup = time.perf_counter() - t0
        log(f"snapshots: company simulated in-process in {warmup:.1f}s; "
            f"{len(dates)} partitions {dates[0]} .. {dates[-1]}")
        per_partition: list[float] = []
        in_steps: list[float] = []
        per_step: dict[str, list[float]] = {}
        employee_rows = termination_rows = feature_rows = 0
        checks_run = checks_passed = 0
        last_note = time.perf_counter()
        for i, day in enumerate(dates, 1):
            t = time.perf_counter()
            result = dg.materialize(
                definitions,
                selection=selection,
                partition_key=day.isoformat(),
                resources=resources,
                instance=instance,
                run_config=QUIET,
                raise_on_error=False,
            )
            per_partition.append(time.perf_counter() - t)
            if not result.success:
                raise RuntimeError(f"snapshot {day} failed:\n{failure_text(result)}")
            steps = step_seconds(result)
            in_steps.append(sum(steps.values()))
            for key, secs in steps.items():
                per_step.setdefault(key, []).append(secs)
            employee_rows += row_count(result, "hris_employees")
            termination_rows += row_count(result, "hris_terminations")
            feature_rows += row_count(result, "employee_features")
            evaluations = result.get_asset_check_evaluations()
            checks_run += len(evaluations)
            checks_passed += sum(e.passed for e in evaluations)
            now = time.perf_counter()
            if i in (1, len(dates)) or now - last_note >= PROGRESS_EVERY_S:
                last_note = now
                mean = sum(per_partition) / len(per_partition)
                log(f"snapshots: {i:>3}/{len(dates)} {day}  {per_partition[-1]:.2f}s "
                    f"(mean {mean:.2f}s, RSS {proc_status_mb('VmRSS'):.0f} MB)")
    wall = time.perf_counter() - t0
    n = len(per_partition)
    step_totals = {k: sum(v) for k, v in per_step.items()}
    partitions_s = sum(per_partition)
    half = n // 2

    def halves(values: list[float]) -> list[float]:
        return [round(sum(values[:half]) / max(half, 1), 3),
                round(sum(values[half:]) / max(n - half, 1), 3)]

    overhead = [w - s for w, s in zip(per_partition, in_steps)]
    return {
        "wall_s": wall,
        "rows": employee_rows,
        "details": {
            "partitions": n,
            "simulate_warmup_s": round(warmup, 3),
            "partitions_total_s": round(partitions_s, 3),
            "partition_mean_s": round(partitions_s / n, 3),
            "partition_min_s": round(min(per_partition), 3),
            "partition_max_s": round(max(per_partition), 3),
            # Means over the first and the second half of the partitions: growth with the
            # number of partitions already stored (Delta log, Dagster event log).
            "partition_halves_mean_s": halves(per_partition),
            "in_steps_halves_mean_s": halves(in_steps),
            "dagster_overhead_halves_mean_s": halves(overhead),
            "in_steps_mean_s": round(sum(in_steps) / n, 3),
            "dagster_overhead_mean_s": round(sum(overhead) / n, 3),
            "step_mean_s": {k: round(v / n, 4) for k, v in
                            sorted(step_totals.items(), key=lambda kv: -kv[1])},
            "step_halves_mean_s": {k: halves(v) for k, v in per_step.items()},
            "employee_rows": employee_rows,
            "termination_rows": termination_rows,
            "feature_rows": feature_rows,
            "checks_run": checks_run,
            "checks_passed": checks_passed,
            "per_partition_s": [round(s, 3) for s in per_partition],
            "per_partition_in_steps_s": [round(s, 3) for s in in_steps],
        },
    }


def stage_asset(args: argparse.Namespace, timers: Timers) -> dict[str, Any]:
    """One of the three training assets, materialised alone (with its own checks)."""
    import dagster as dg

    workdir = Path(args.workdir)
    resources = make_resources(workdir, args.employees, args.months)
    definitions = asset_graph()
    log(f"{args.stage}: materialising ...")
    t0 = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            definitions,
            selection=dg.AssetSelection.assets(args.stage),
            resources=resources,
            instance=instance,
            run_config=QUIET,
            raise_on_error=False,
        )
        wall = time.perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"{args.stage} failed:\n{failure_text(result)}")
    steps = step_seconds(result)
    meta = {k: getattr(v, "value", v) for k, v in
            result.asset_materializations_for_node(args.stage)[0].metadata.items()}
    details: dict[str, Any] = {
        "step_s": {k: round(v, 3) for k, v in steps.items()},
        "dagster_overhead_s": round(wall - sum(steps.values()), 3),
        "checks": {e.check_name: e.passed for e in result.get_asset_check_evaluations()},
    }
    if args.stage == "training_set":
        rows = int(meta["dagster/row_count"])
        details.update(known_until=meta.get("known_until"), horizon_days=meta.get("horizon_days"),
                       opted_out_excluded=meta.get("opted_out_excluded"))
    elif args.stage == "candidate_model":
        rows = int(meta["training_rows"])
        details.update(training_rows=rows, best_iteration=meta.get("best_iteration"),
                       val_roc_auc=meta.get("val_roc_auc"), val_pr_auc=meta.get("val_pr_auc"),
                       model_version=meta.get("model_version"))
    else:
        rows = int(meta["test_rows"])
        details.update(test_rows=rows, roc_auc=meta.get("roc_auc"), pr_auc=meta.get("pr_auc"),
                       baseline_roc_auc=meta.get("baseline_roc_auc"),
                       baseline_pr_auc=meta.get("baseline_pr_auc"))
    log(f"{args.stage}: done in {wall:.1f}s")
    return {"wall_s": wall, "rows": rows, "details": details}


def run_child(args: argparse.Namespace) -> int:
    t = time.perf_counter()
    timers = Timers()
    if args.stage != "simulate":  # simulate measures the simulation alone, without Dagster
        # Everything the stage imports, mlflow included (the assets import it lazily), is
        # imported here so that "wall s" is the stage's work; import_s is reported apart.
        instrument(args.stage, timers)
        import dagster  # noqa: F401
    else:
        import attrition_platform.hris.synthetic  # noqa: F401
    import_s = time.perf_counter() - t
    rss_after_import = proc_status_mb("VmRSS")
    run = {"simulate": stage_simulate, "snapshots": stage_snapshots}.get(args.stage, stage_asset)
    cpu0 = cpu_seconds()
    out = run(args, timers)
    import attrition_platform

    out.update(
        code=str(Path(attrition_platform.__file__).resolve().parent),
        stage_cpu_s=round(cpu_seconds() - cpu0, 3),
        load_avg_1m=round(os.getloadavg()[0], 2),
        stage=args.stage,
        employees=args.employees,
        months=args.months,
        import_s=round(import_s, 3),
        rss_after_import_mb=round(rss_after_import, 1),
        vmhwm_mb=round(proc_status_mb("VmHWM"), 1),
        breakdown=timers.report(),
    )
    Path(args.result).write_text(json.dumps(out, default=str))
    return 0


# --------------------------------------------------------------------------------------------
# Parent side: one child per stage and size, then the table
# --------------------------------------------------------------------------------------------


def run_stage(
    stage: str, employees: int, months: int, workdir: Path, code_dir: Path
) -> dict[str, Any]:
    result_file = workdir / f"result-{stage}.json"
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(workdir / "dagster"),
        ATTRITION_HOME=str(workdir),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(code_dir), os.environ.get("PYTHONPATH")])),
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage,
           "--employees", str(employees), "--months", str(months),
           "--workdir", str(workdir), "--result", str(result_file)]
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    # Child stdout (Dagster, MLflow chatter) goes to our stderr: stdout is the report.
    proc = subprocess.Popen(cmd, env=env, stdout=sys.stderr)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    process_s = time.perf_counter() - t
    base = {"stage": stage, "employees": employees, "months": months,
            "process_s": round(process_s, 3),
            "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # imports too
            "load_avg_1m_before": round(load_before, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1)}  # ru_maxrss is in KB on Linux
    if proc.returncode != 0 or not result_file.exists():
        return {**base, "error": f"exit code {proc.returncode}", "wall_s": None, "rows": None}
    out = json.loads(result_file.read_text())
    if not str(out.get("code", "")).startswith(str(code_dir)):
        log(f"warning: {stage} imported attrition_platform from {out.get('code')}, "
            f"not from the frozen copy in {code_dir}")
    out.update(base)
    out["wall_s"] = round(out["wall_s"], 3)
    return out


def notes(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"FAILED ({r['error']})"
    d = r.get("details", {})
    if r["stage"] == "simulate":
        return f"{d['snapshot_dates']} snapshots, {d['termination_rows']:,} exits"
    if r["stage"] == "snapshots":
        return (f"{d['partitions']} partitions, mean {d['partition_mean_s']:.2f}s "
                f"(min {d['partition_min_s']:.2f}, max {d['partition_max_s']:.2f}), "
                f"Dagster overhead {d['dagster_overhead_mean_s']:.2f}s/partition, "
                f"in-process simulate {d['simulate_warmup_s']:.1f}s")
    if r["stage"] == "training_set":
        return f"Dagster overhead {d['dagster_overhead_s']:.2f}s"
    if r["stage"] == "candidate_model":
        xgb = r.get("breakdown", {}).get("  xgboost.train", {}).get("s")
        return (f"best_iteration {d.get('best_iteration')}, "
                f"xgboost.train {xgb:.1f}s, val ROC AUC {d.get('val_roc_auc')}")
    return f"test ROC AUC {d.get('roc_auc')} vs baseline {d.get('baseline_roc_auc')}"


def print_table(results: list[dict[str, Any]]) -> None:
    head = ("stage", "size", "wall s", "cpu s", "peak MB", "rows", "notes")
    rows = []
    for r in results:
        rows.append((
            r["stage"],
            size_label(r["employees"], r["months"]),
            "-" if r.get("wall_s") is None else f"{r['wall_s']:.2f}",
            "-" if r.get("stage_cpu_s") is None else f"{r['stage_cpu_s']:.2f}",
            f"{r['peak_rss_mb']:.0f}",
            "-" if r.get("rows") is None else f"{r['rows']:,}",
            notes(r),
        ))
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    right = {2, 3, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def print_breakdown(results: list[dict[str, Any]], top: int = 8) -> None:
    print()
    print("Where the time goes (cumulative seconds inside each stage; nested labels overlap):")
    for r in results:
        if r.get("error"):
            continue
        parts = []
        if r["stage"] == "snapshots":
            d = r["details"]
            steps = ", ".join(f"{k} {v:.3f}" for k, v in list(d["step_mean_s"].items())[:top])
            first, second = d["partition_halves_mean_s"]
            s1, s2 = d["in_steps_halves_mean_s"]
            o1, o2 = d["dagster_overhead_halves_mean_s"]
            parts.append(f"per partition: steps {d['in_steps_mean_s']:.3f}s + Dagster "
                         f"{d['dagster_overhead_mean_s']:.3f}s; first/second half of the "
                         f"partitions {first:.2f}/{second:.2f}s (steps {s1:.2f}/{s2:.2f}, "
                         f"Dagster {o1:.2f}/{o2:.2f})")
            parts.append(f"step means: {steps}")
        elif r["stage"] != "simulate":
            d = r["details"]
            steps = ", ".join(f"{k} {v:.2f}" for k, v in d["step_s"].items())
            parts.append(f"steps: {steps}; Dagster overhead {d['dagster_overhead_s']:.2f}s")
        timed = ", ".join(f"{k.strip()} {v['s']:.2f}s/{v['calls']}"
                          for k, v in list(r.get("breakdown", {}).items())[:top])
        if timed:
            parts.append(f"calls: {timed}")
        parts.append(f"imports {r['import_s']:.1f}s, RSS after imports "
                     f"{r['rss_after_import_mb']:.0f} MB")
        print(f"  {r['stage']} @ {size_label(r['employees'], r['months'])}:")
        for p in parts:
            print(f"    {p}")


def machine() -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for pkg in ("dagster", "deltalake", "xgboost", "mlflow", "pandas", "numpy", "pyarrow"):
        for dist in (pkg, f"{pkg}-cpu"):
            try:
                versions[pkg] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                versions[pkg] = None
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):
        mem_mb = None
    return {"cpus": os.cpu_count(), "memory_mb": mem_mb, "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions}


def run_parent(args: argparse.Namespace) -> int:
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        sys.exit(f"--sizes: expected comma-separated integers, got {args.sizes!r}")
    if not sizes or not all(100 <= n <= 1_000_000 for n in sizes):
        sys.exit("--sizes: each size must be between 100 and 1,000,000 (HrisSource's range)")
    root = Path(tempfile.mkdtemp(prefix="attrition-bench-", dir="/tmp"))
    log(f"data directory {root}" + (" (kept)" if args.keep else " (removed at the end)"))
    results: list[dict[str, Any]] = []
    started = dt.datetime.now(dt.timezone.utc)
    code_dir = root / "code"
    try:
        code = freeze_code(code_dir)
        log(f"measuring attrition_platform from {code['source']} at {code['git_commit']}"
            + (f" + {len(code['uncommitted'])} uncommitted change(s)" if code["uncommitted"]
               else "") + f" (copied to {code_dir}, sha1 {code['sha1']})")
        for employees in sizes:
            workdir = root / f"employees-{employees}"
            (workdir / "dagster").mkdir(parents=True)
            (workdir / "mlflow" / "artifacts").mkdir(parents=True)
            (workdir / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            for stage in STAGES:
                log(f"=== {stage} @ {size_label(employees, args.months)}")
                r = run_stage(stage, employees, args.months, workdir, code_dir)
                results.append(r)
                if r.get("error"):
                    log(f"{stage} failed ({r['error']}): skipping the rest of this size")
                    break
                log(f"{stage}: wall {r['wall_s']:.2f}s, peak {r['peak_rss_mb']:.0f} MB, "
                    f"rows {r['rows']:,}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(results)
    print(f"\ncode: attrition_platform at {code['git_commit']}"
          + (f" + {len(code['uncommitted'])} uncommitted change(s)" if code["uncommitted"] else "")
          + f" (sha1 {code['sha1']}); machine: {os.cpu_count()} CPUs")
    print_breakdown(results)
    report = {"benchmark": "pipeline", "started_utc": started.isoformat(timespec="seconds"),
              "months": args.months, "sizes": sizes, "code": code, "machine": machine(),
              "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        log(f"results written to {args.out}")
    print(json.dumps(report, default=str))
    return 1 if any(r.get("error") for r in results) else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,100000",
                        help="comma-separated employee counts (default: 2000,100000)")
    parser.add_argument("--months", type=int, default=36, help="months of history (default 36)")
    parser.add_argument("--out", help="also write the full results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    # Internal: one stage in a child process.
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--employees", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.stage:
        return run_child(args)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
