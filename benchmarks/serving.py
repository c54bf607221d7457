#!/usr/bin/env python
"""Requests/s, latency percentiles and memory of the live risk API against `mlflow models serve`
of the same model, under a real load generator (wrk), side by side in one run on this machine.

    .venv/bin/python benchmarks/serving.py                    # 10 s per run (~4 min in all)
    .venv/bin/python benchmarks/serving.py --quick            # 3 s per run
    .venv/bin/python benchmarks/serving.py --duration 20 --json results.json --keep
    .venv/bin/python benchmarks/serving.py --service-python /tmp/serving-venv/bin/python
                                        # our service from a serving-only install (README)

What runs (each server in its own process group, started by this script and stopped by it on
exit, Ctrl+C and errors alike):

  ours/uvicorn   `python -m serving` (the container entry point), env-configured
  ours/granian   `granian --interface asgi --factory serving.server:app_from_env`, 1 worker,
                 then `granian-2w` with 2 (--granian-workers; what two replicas on this 2-core
                 machine would give: RSS adds up over the workers)
  mlflow         `mlflow models serve --env-manager local --workers 1` of the same bundle,
                 logged as the platform's pyfunc model into a throwaway MLflow store

on a throwaway data directory under /tmp: an `employee_features` snapshot of --employees
employees and a model of --trees trees of depth --depth (the platform's recipe, refitted to
exactly that many rounds), published with `attrition_platform.publication.publish`.

Each target gets `POST /v1/predict` (ours, with a development token) or `POST /invocations`
(mlflow, `{"dataframe_records": [record]}`) with the same employee record, at 1 and 32
connections (`wrk -t1 -c1`, `wrk -t2 -c32`), each run after a warm-up run at the same
concurrency; ours also gets `GET /v1/employees/{id}/risk`. wrk's `done` hook prints the
latency percentiles; non-2xx answers and socket errors are counted and must be 0. The
service's RSS is the sum over its process tree (from /proc), sampled during the last second
of the load. Cold start is process start -> first answered request. Every prediction the
service answers is also appended to the Delta audit log (off the request path, as in
production): the audit counters scraped from `/metrics` are shown with the table.

Before the load, one request per target checks that all three answer the same probability
(|delta| < 1e-6): the comparison is between two servings of one model, not two models.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# This file is named like the service's package: run as a script, its directory comes first on
# sys.path and would shadow `serving`. The repository root goes there instead (it also holds
# attrition_platform_tests, which is not installed).
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
BIN = Path(sys.executable).parent
MLFLOW_MODEL = "attrition-benchmark"
RISK_EMPLOYEE = 1  # not opted out (the test snapshot opts out every 25th employee)
WRK_TIMEOUT = "10s"
STOP_SECONDS = 25.0  # our service drains for up to 20 s on SIGTERM
GOALS = {"ratio": 20.0, "p99_ms_32": 25.0, "p99_ms_1": 2.0, "rss_mb": 250.0, "core_us": 100.0}


def log(message: str) -> None:
    print(f"[serving-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


# --------------------------------------------------------------------------------------------
# Processes: started in their own session, measured over their tree, always stopped
# --------------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_pids(root: int) -> list[int]:
    children = _children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Server:
    """One server under test: a child process group, its log file and how to reach it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.started_at = time.perf_counter()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def rss_mb(self) -> float:
        return sum(rss_mb(pid) for pid in tree_pids(self.popen.pid)) if self.alive() else 0.0  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        """CPU used so far by the live processes of the tree: on a shared machine, CPU per
        request is steadier than requests/s, which depends on what else runs."""
        return sum(cpu_seconds(pid) for pid in tree_pids(self.popen.pid)) if self.alive() else 0.0  # type: ignore[union-attr]

    def processes(self) -> int:
        return len(tree_pids(self.popen.pid)) if self.alive() else 0  # type: ignore[union-attr]

    def stop(self) -> None:
        """SIGTERM to the whole group (graceful: ours drains and flushes its audit queue), then
        SIGKILL if it is still there after STOP_SECONDS."""
        if self.popen is None or self.popen.returncode is not None:
            return
        pgid = self.popen.pid  # its own session: the group id is its pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {STOP_SECONDS:.0f} s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        # a grandchild that left the group would survive killpg: end it by pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Servers:
    """Every server this run started; all stopped on exit, SIGTERM, Ctrl+C or an exception."""

    def __init__(self) -> None:
        self.started: list[Server] = []

    def start(self, server: Server) -> Server:
        self.started.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log(f"stopping {server.name} failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------
# HTTP: one request, waiting for readiness
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


def call(port: int, request: Request, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body, headers=request.headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_answered(server: Server, request: Request, timeout: float) -> float:
    """Seconds from process start to the first 200 on `request` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited during start-up:\n{server.log_tail()}")
        try:
            status, body = call(server.port, request, timeout=5)
            if status == 200:
                return time.perf_counter() - server.started_at
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.01)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s ({last}):\n{server.log_tail()}")


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------

LUA = """\
wrk.method = {method}
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50_us\\":%.1f,\\"p95_us\\":%.1f," ..
    "\\"p99_us\\":%.1f,\\"max_us\\":%.1f,\\"mean_us\\":%.1f}}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def lua_string(text: str) -> str:
    level = "=" * 3
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def lua_script(request: Request) -> str:
    headers = "\n".join(f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in request.headers.items())
    body = lua_string(request.body.decode()) if request.body else "nil"
    return LUA.format(method=lua_string(request.method), body=body, headers=headers)


@dataclass
class Run:
    target: str
    server: str
    route: str
    clients: int
    seconds: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: int = 0  # non-2xx/3xx answers + connect/read/write errors + timeouts
    error_detail: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_request: float = 0.0  # the server tree's CPU over the run / requests answered
    rss_mb: float = 0.0  # process tree, last sample of the load
    rss_peak_mb: float = 0.0
    processes: int = 0
    load_before: float = 0.0
    ratio_vs_mlflow: float | None = None


def wrk(server: Server, request: Request, script: Path, clients: int, seconds: float,
        sample: bool) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    threads = 1 if clients == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", f"--timeout={WRK_TIMEOUT}",
            "-s", str(script), f"http://127.0.0.1:{server.port}{request.path}"]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sampler() -> None:
        start = time.monotonic()
        while not stop.wait(0.25):
            samples.append((time.monotonic() - start, server.rss_mb()))

    thread = threading.Thread(target=sampler, daemon=True) if sample else None
    if thread:
        thread.start()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        stop.set()
        if thread:
            thread.join()
    match = re.search(r"^WRK_RESULT (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")
    return json.loads(match.group(1)), samples


def measure(target: str, server: Server, route: str, request: Request, script: Path, clients: int,
            seconds: float, warmup: float) -> Run:
    if warmup > 0:
        wrk(server, request, script, clients, warmup, sample=False)
    run = Run(target, server.name, route, clients, seconds, load_before=load_average())
    cpu_before = server.cpu_seconds()
    result, samples = wrk(server, request, script, clients, seconds, sample=True)
    cpu = server.cpu_seconds() - cpu_before
    run.requests = result["requests"]
    run.rps = result["requests"] / (result["duration_us"] / 1e6)
    run.p50_ms, run.p95_ms = result["p50_us"] / 1000, result["p95_us"] / 1000
    run.p99_ms, run.max_ms = result["p99_us"] / 1000, result["max_us"] / 1000
    run.error_detail = {k: int(result[k]) for k in ("status", "connect", "read", "write", "timeout")}
    run.errors = sum(run.error_detail.values())
    run.cpu_ms_per_request = 1000 * cpu / max(1, run.requests)
    if samples:
        end = samples[-1][0]
        last = [mb for t, mb in samples if t >= end - 1.0 and mb > 0]
        run.rss_mb = last[-1] if last else 0.0
        run.rss_peak_mb = max(mb for _, mb in samples)
    run.processes = server.processes()
    log(f"{target:<7} {server.name:<8} {route:<8} c={clients:<3} {run.rps:9.0f} req/s  "
        f"p50 {run.p50_ms:7.2f}  p99 {run.p99_ms:7.2f} ms  CPU {run.cpu_ms_per_request:.2f} ms/req  "
        f"errors {run.errors}  RSS {run.rss_mb:.0f} MB")
    return run


# --------------------------------------------------------------------------------------------
# The throwaway data directory: snapshot, model, publication, MLflow store
# --------------------------------------------------------------------------------------------


@dataclass
class Home:
    root: Path
    record: dict[str, Any]
    mlflow_uri: str
    tracking_uri: str
    token: str
    trees: int
    depth: int
    local_probability: float
    setup_s: float
    core_us: dict[str, float]


def build_home(root: Path, employees: int, trees: int, depth: int) -> Home:
    """Snapshot, model, publication and MLflow logging, with the platform's own code."""
    t0 = time.perf_counter()
    import mlflow

    from attrition_platform.contract_columns import KEY
    from attrition_platform.model.recipe import RecipeParams, refit_xgboost, train_xgboost
    from attrition_platform.publication import publish
    from attrition_platform_tests.model.conftest import learnable
    from attrition_platform_tests.serving.harness import write_snapshot
    from serving.dev_keys import mint_dev_token

    log(f"feature snapshot: {employees:,} employees")
    features = write_snapshot(root / "lake", n=employees)
    log(f"training {trees} trees of depth {depth}")
    train, y_train = learnable(4000, 1)
    val, y_val = learnable(1500, 2)
    # Early stopping off (patience = all rounds), one depth; then the recipe's refit on fit +
    # validation rows with exactly `trees` rounds (refit_xgboost takes them from the metadata).
    params = RecipeParams(max_depths=(depth,), max_rounds=trees, early_stopping_rounds=trees, refit=False)
    held_out = train_xgboost(train, y_train, val, y_val, params)
    held_out.metadata["best_iteration"] = trees
    bundle = refit_xgboost(held_out, train, y_train, val, y_val, params)
    got = bundle.booster.num_boosted_rounds()
    if got != trees:
        raise RuntimeError(f"the benchmark model has {got} trees, expected {trees}")
    bundle.metadata["model_version"] = "1"
    publish(bundle, "1", str(root / "serving"), str(root / "lake"),
            promoted_by="benchmark", reason="serving benchmark")

    log("logging the bundle into a throwaway MLflow store")
    tracking_uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    (root / "mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("serving-benchmark",
                                          artifact_location=(root / "mlflow" / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        model_uri = bundle.log_to_mlflow()

    row = features.loc[features[KEY] == RISK_EMPLOYEE].iloc[0]
    record = {name: (row[name].item() if hasattr(row[name], "item") else row[name]) for name in bundle.spec.inputs}
    probability = float(bundle.predict_proba([record])[0])
    token = mint_dev_token(root / "secrets", ["attrition:predict"], subject="benchmark", ttl_seconds=6 * 3600)
    core = {
        "score_explain_3": core_cost(lambda: bundle.score([record], explain=3)),
        "score_no_factors": core_cost(lambda: bundle.score([record])),
    }
    return Home(root, record, model_uri, tracking_uri, token, trees, depth, probability, time.perf_counter() - t0, core)


def core_cost(fn: Any, calls: int = 50, batches: int = 20) -> float:
    """CPU microseconds per call of the scoring core, in this process: the best of `batches`
    batches (process CPU time, so other load on the machine inflates it less than wall time)."""
    fn()
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # mlflow runs `uvicorn` from PATH
    env.pop("PYTHONPATH", None)
    return env


def our_env(home: Home, port: int) -> dict[str, str]:
    env = base_env()
    env.update(
        ATTRITION_HOME=str(home.root),
        ATTRITION_SERVING_HOST="127.0.0.1",
        ATTRITION_SERVING_PORT=str(port),
        ATTRITION_LOG_LEVEL="WARNING",
        ATTRITION_ENV="local",
    )
    for key in ("ATTRITION_AUTH_ISSUER", "ATTRITION_AUTH_JWKS_URL", "ATTRITION_SERVING_URI",
                "ATTRITION_LAKE_URI", "ATTRITION_SERVING_CACHE"):
        env.pop(key, None)
    return env


def our_servers(home: Home, logs: Path, python: Path, granian_workers: list[int]) -> list[Server]:
    """uvicorn (one process: the container's entry point), then granian with each worker count
    asked for. More than one worker is what two replicas on this 2-core machine would give; each
    worker is a process with its own model, so RSS adds up, and /metrics answers for the worker
    that took the scrape (production runs one worker per pod and scales pods instead)."""
    port_u = free_port()
    env_u = our_env(home, port_u)
    env_u["PATH"] = f"{python.parent}{os.pathsep}{env_u['PATH']}"
    servers = [Server("uvicorn", [str(python), "-m", "serving"], env_u, port_u, logs / "uvicorn.log")]
    if granian_workers and not (python.parent / "granian").is_file():
        # a serving-only install (the image's) has no granian: it is in the `bench` extra
        log(f"no granian next to {python}: measuring uvicorn only (install the bench extra for granian)")
        granian_workers = []
    for workers in granian_workers:
        port = free_port()
        env = our_env(home, port)
        env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
        name = "granian" if workers == 1 else f"granian-{workers}w"
        servers.append(Server(name, [str(python.parent / "granian"), "--interface", "asgi", "--factory",
                                     "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
                                     "--no-access-log", "serving.server:app_from_env"],
                              env, port, logs / f"{name}.log"))
    return servers


def mlflow_server(home: Home, logs: Path) -> Server:
    port = free_port()
    env = base_env()
    env.update(MLFLOW_TRACKING_URI=home.tracking_uri, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", home.mlflow_uri, "--env-manager", "local",
            "-p", str(port), "--host", "127.0.0.1", "--workers", "1"]
    return Server("mlflow", argv, env, port, logs / "mlflow.log")


def audit_counters(port: int) -> dict[str, float]:
    """Written / dropped audit records from the service's /metrics (sums over labels)."""
    try:
        status, body = call(port, Request("GET", "/metrics", None, {}))
    except OSError:
        return {}
    if status != 200:
        return {}
    totals: dict[str, float] = {}
    for line in body.decode().splitlines():
        for name in ("attrition_audit_records_written_total", "attrition_audit_records_dropped_total",
                     "attrition_audit_queue_depth", "attrition_predictions_total"):
            if line.startswith(name + "{") or line.startswith(name + " "):
                totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    runs: list[Run] = field(default_factory=list)
    cold_start_ms: dict[str, float] = field(default_factory=dict)
    idle_rss_mb: dict[str, float] = field(default_factory=dict)
    audit: dict[str, dict[str, float]] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def predict_request(home: Home) -> Request:
    return Request("POST", "/v1/predict", json.dumps(home.record).encode(),
                   {"Content-Type": "application/json", "Authorization": f"Bearer {home.token}"})


def risk_request(home: Home) -> Request:
    return Request("GET", f"/v1/employees/{RISK_EMPLOYEE}/risk", None, {"Authorization": f"Bearer {home.token}"})


def mlflow_request(home: Home) -> Request:
    return Request("POST", "/invocations", json.dumps({"dataframe_records": [home.record]}).encode(),
                   {"Content-Type": "application/json"})


def bench(home: Home, work: Path, servers: Servers, seconds: float, warmup: float, clients: list[int],
          report: Report, service_python: Path, granian_workers: list[int]) -> None:
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    scripts = {}
    for name, request in (("predict", predict_request(home)), ("risk", risk_request(home)),
                          ("mlflow", mlflow_request(home))):
        scripts[name] = work / f"{name}.lua"
        scripts[name].write_text(lua_script(request))

    # mlflow first: its numbers are the reference the ratio is taken against
    server = servers.start(mlflow_server(home, logs))
    log("starting mlflow models serve")
    report.cold_start_ms["mlflow"] = 1000 * wait_answered(server, mlflow_request(home), timeout=180)
    status, body = call(server.port, mlflow_request(home))
    report.probabilities["mlflow"] = float(json.loads(body)["predictions"][0]["probability"])
    report.idle_rss_mb["mlflow"] = server.rss_mb()
    for c in clients:
        report.runs.append(measure("mlflow", server, "predict", mlflow_request(home), scripts["mlflow"], c,
                                   seconds, warmup))
    server.stop()

    for server in our_servers(home, logs, service_python, granian_workers):
        log(f"starting our service under {server.name}")
        servers.start(server)
        report.cold_start_ms[server.name] = 1000 * wait_answered(server, predict_request(home), timeout=120)
        status, body = call(server.port, predict_request(home))
        answer = json.loads(body)
        if status != 200 or answer.get("source") != "live":
            raise RuntimeError(f"{server.name}: unexpected first answer {status} {body[:300]!r}")
        report.probabilities[server.name] = float(answer["probability"])
        report.idle_rss_mb[server.name] = server.rss_mb()
        status, _ = call(server.port, risk_request(home))
        if status != 200:
            raise RuntimeError(f"{server.name}: GET risk answered {status}")
        for c in clients:
            report.runs.append(measure("ours", server, "predict", predict_request(home), scripts["predict"], c,
                                       seconds, warmup))
        for c in clients:
            report.runs.append(measure("ours", server, "risk", risk_request(home), scripts["risk"], c,
                                       seconds, warmup))
        time.sleep(1.5)  # let the audit writer flush its last batch before reading the counters
        report.audit[server.name] = audit_counters(server.port)
        server.stop()

    reference = {r.clients: r.rps for r in report.runs if r.target == "mlflow"}
    for r in report.runs:
        if r.target == "ours" and reference.get(r.clients):
            r.ratio_vs_mlflow = r.rps / reference[r.clients]


def soak(home: Home, work: Path, servers: Servers, seconds: float, window: float, clients: int,
         service_python: Path) -> list[dict[str, Any]]:
    """Our service (uvicorn) under `clients` connections for `seconds`, measured in consecutive
    windows: whether requests/s, the tail, CPU per request and memory hold over minutes of
    traffic, while the audit log gains a commit a second (10 s runs cannot show a slow leak)."""
    from deltalake import DeltaTable

    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    request = predict_request(home)
    script = work / "predict.lua"
    script.write_text(lua_script(request))
    server = servers.start(our_servers(home, logs, service_python, [])[0])
    wait_answered(server, request, timeout=120)
    prediction_log = str(home.root / "lake" / "prediction_log")
    wrk(server, request, script, clients, 3.0, sample=False)  # warm-up
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        run = measure("ours", server, "predict", request, script, clients, window, 0.0)
        counters = audit_counters(server.port)
        rows.append({"minute": round((time.monotonic() - started) / 60, 1), "rps": run.rps, "p50_ms": run.p50_ms,
                     "p99_ms": run.p99_ms, "max_ms": run.max_ms, "cpu_ms": run.cpu_ms_per_request,
                     "rss_mb": run.rss_mb, "errors": run.errors,
                     "log_files": len(DeltaTable(prediction_log).file_uris()),
                     "dropped": counters.get("attrition_audit_records_dropped_total", 0.0)})
    server.stop()
    print()
    print("| minute | requests/s | p50 ms | p99 ms | max ms | CPU ms/req | RSS MB | prediction_log files | dropped | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['minute']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | "
              f"{r['cpu_ms']:.3f} | {r['rss_mb']:.0f} | {r['log_files']:,} | {r['dropped']:,.0f} | {r['errors']} |")
    return rows


def goals(report: Report) -> list[tuple[str, bool, str]]:
    """(goal, met, measured) for the issue's goals, on /v1/predict of the best server."""
    ours = [r for r in report.runs if r.target == "ours" and r.route == "predict"]
    if not ours:
        return []
    by_server: dict[str, dict[int, Run]] = {}
    for r in ours:
        by_server.setdefault(r.server, {})[r.clients] = r
    core = report.meta.get("scoring_core_us", {}).get("score_explain_3")
    out: list[tuple[str, bool, str]] = []
    if core is not None:
        out.append((f"scoring core < {GOALS['core_us']:.0f} us", core < GOALS["core_us"], f"{core:,.0f} us"))
    for server, runs in by_server.items():
        hi, lo = max(runs), min(runs)
        if runs[hi].ratio_vs_mlflow is not None:
            out.append((f">= {GOALS['ratio']:.0f}x mlflow's requests/s ({hi} clients) [{server}]",
                        runs[hi].ratio_vs_mlflow >= GOALS["ratio"], f"{runs[hi].ratio_vs_mlflow:.1f}x"))
        out.append((f"p99 < {GOALS['p99_ms_32']:.0f} ms at {hi} clients [{server}]",
                    runs[hi].p99_ms < GOALS["p99_ms_32"], f"{runs[hi].p99_ms:.2f} ms"))
        out.append((f"p99 < {GOALS['p99_ms_1']:.0f} ms at {lo} client [{server}]",
                    runs[lo].p99_ms < GOALS["p99_ms_1"], f"{runs[lo].p99_ms:.2f} ms"))
        rss = max(r.rss_mb for r in runs.values())
        out.append((f"RSS < {GOALS['rss_mb']:.0f} MB [{server}]", rss < GOALS["rss_mb"], f"{rss:.0f} MB"))
    return out


def print_report(report: Report) -> None:
    print()
    print("| target | server | route | clients | requests/s | p50 ms | p95 ms | p99 ms | errors | RSS MB "
          "| CPU ms/req | vs mlflow |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report.runs:
        ratio = f"{r.ratio_vs_mlflow:.1f}x" if r.ratio_vs_mlflow is not None else ""
        print(f"| {r.target} | {r.server} | {r.route} | {r.clients} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
              f"{r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.rss_mb:.0f} | {r.cpu_ms_per_request:.2f} | {ratio} |")
    print()
    print("cold start (process start -> first answered request): " + ", ".join(
        f"{name} {ms:,.0f} ms" for name, ms in report.cold_start_ms.items()))
    print("idle RSS after start (process tree): " + ", ".join(
        f"{name} {mb:.0f} MB" for name, mb in report.idle_rss_mb.items()))
    core = report.meta.get("scoring_core_us", {})
    if core:
        print(f"scoring core, in-process CPU per record (ModelBundle.score, best of 20x50): "
              f"with 3 factors {core['score_explain_3']:,.0f} us, probability only {core['score_no_factors']:,.0f} us")
    print("same answer: " + ", ".join(f"{k} {v:.9f}" for k, v in report.probabilities.items()))
    for name, counters in report.audit.items():
        print(f"audit ({name}): " + ", ".join(f"{k.removeprefix('attrition_')} {v:,.0f}" for k, v in counters.items()))
    meta = report.meta
    print(f"model: {meta.get('trees')} trees of depth {meta.get('depth')}, {meta.get('employees'):,} employees; "
          f"{meta.get('seconds')} s per run after {meta.get('warmup')} s warm-up; "
          f"machine: {meta.get('cpus')} CPUs, load {meta.get('load_start'):.2f} at start, "
          f"{meta.get('load_end'):.2f} at end; commit {meta.get('commit')}; "
          f"our service run by {meta.get('service_python')}")
    print()
    for goal, met, value in goals(report):
        print(f"goal {'MET   ' if met else 'MISSED'} {goal}: {value}")
    errors = sum(r.errors for r in report.runs)
    print(f"non-2xx / socket errors over all runs: {errors}")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """SIGTERM/SIGHUP become SystemExit (Ctrl+C is KeyboardInterrupt already), so the `finally`
    that stops the servers runs whichever way the run ends."""
    def raise_exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, raise_exit) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-ups")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before each run (default 3)")
    parser.add_argument("--clients", default="1,32", help="connection counts (default 1,32)")
    parser.add_argument("--granian-workers", default="1,2",
                        help="granian worker counts to measure, comma-separated (default 1,2; 0: none)")
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--service-python", type=Path, default=Path(sys.executable),
                        help="interpreter of a serving-only install to run our service with (its RSS "
                             "and start-up are the container's); default: this one (the dev venv, where "
                             "`import xgboost` also loads scikit-learn, pandas and pyarrow)")
    parser.add_argument("--json", type=Path, default=None, help="write every number to this file")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway directory (logs, model)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="instead of the comparison: our service (uvicorn) under the largest --clients "
                             "for SECONDS, reported per --soak-window (memory, tail and CPU over time)")
    parser.add_argument("--soak-window", type=float, default=30.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.duration
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    clients = [int(c) for c in args.clients.split(",")]
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    servers = Servers()
    report = Report(meta={"employees": args.employees, "trees": args.trees, "depth": args.depth, "seconds": seconds,
                          "warmup": warmup, "cpus": os.cpu_count(), "commit": git_commit(),
                          "load_start": load_average(), "work_dir": str(work),
                          "service_python": str(args.service_python)})
    try:
        with terminate_on_signals():
            home = build_home(work / "home", args.employees, args.trees, args.depth)
            report.meta["setup_s"] = round(home.setup_s, 1)
            report.meta["scoring_core_us"] = {k: round(v, 1) for k, v in home.core_us.items()}
            report.probabilities["bundle"] = home.local_probability
            if args.soak > 0:
                rows = soak(home, work, servers, args.soak, args.soak_window, max(clients), args.service_python)
                if args.json:
                    args.json.write_text(json.dumps({"meta": report.meta, "soak": rows}, indent=2))
                return 0 if all(r["errors"] == 0 for r in rows) else 1
            workers = [int(w) for w in args.granian_workers.split(",") if int(w) > 0]
            bench(home, work, servers, seconds, warmup, clients, report, args.service_python, workers)
    except (KeyboardInterrupt, SystemExit):
        log("interrupted: stopping the servers")
        raise
    finally:
        servers.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    report.meta["load_end"] = load_average()
    spread = max(report.probabilities.values()) - min(report.probabilities.values())
    report.meta["probability_spread"] = spread
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps({**asdict(report), "goals": [
            {"goal": g, "met": m, "value": v} for g, m, v in goals(report)]}, indent=2))
    if spread >= 1e-6:
        print(f"error: the targets disagree on the probability (spread {spread:.3g})", file=sys.stderr)
        return 1
    return 0 if all(r.errors == 0 for r in report.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
