#!/usr/bin/env python
"""Cold start of the serving service: process start to the first answered prediction.

    make demo && .venv/bin/python benchmarks/cold_start.py            # the demo's model, 5 starts
    .venv/bin/python benchmarks/cold_start.py --runs 10 --venv /tmp/serving-venv

Why: the cost plan counts on scaling the service to zero between the HR portal's ~500 requests a
day (docs/operations.md, cost). Whether that fits the p95 ≤ 200 ms target depends on how long a
new pod takes to answer, and on the cached-score fallback covering that gap or not. This prints
the figures behind that decision and asserts nothing.

The service runs as the image runs it: `python -m serving` from a virtualenv holding only the
serving image's packages (requirements-serving.lock, then the project without dependencies;
built here with uv in a temporary folder unless --venv names one), started in an empty folder.
The clock starts just before the process is spawned; a client polls `/healthz`, `/readyz`
and `GET /v1/employees/{id}/risk` every 10 ms (a development token of the data directory) and
records when each first answers 200. On Fargate add the pod's scheduling and image pull
(typically 30-60 s for a new node-less pod), which this machine cannot measure.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_venv(where: Path) -> Path:
    uv = BIN / "uv"
    started = time.perf_counter()
    for cmd in (
        [str(uv), "venv", "-q", "--python", sys.executable, str(where)],
        [str(uv), "pip", "install", "-q", "--python", str(where / "bin" / "python"), "--no-deps", "-r",
         str(ROOT / "requirements-serving.lock")],
        [str(uv), "pip", "install", "-q", "--python", str(where / "bin" / "python"), "--no-deps", str(ROOT)],
    ):
        subprocess.run(cmd, check=True, cwd=where.parent)
    print(f"serving virtualenv built in {time.perf_counter() - started:.1f} s at {where}")
    return where


def some_employee(home: Path) -> int:
    """An employee the service can score by id: in the latest snapshot and not opted out."""
    from attrition_platform.contracts.feature_store import latest_employee_features, without_opted_out
    from attrition_platform.contract_columns import KEY

    latest = latest_employee_features(str(home / "lake"))
    if latest is None:
        sys.exit(f"no employee_features snapshot under {home / 'lake'}: run `make demo` first")
    columns, _ = without_opted_out(latest[1])
    return int(columns[KEY][0])


def token(home: Path) -> str:
    env = {**os.environ, "ATTRITION_HOME": str(home)}
    out = subprocess.run([str(BIN / "attrition"), "token", "--scopes", "attrition:predict"], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def one_start(venv: Path, home: Path, employee: int, bearer: str, workdir: Path) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRITION_", "VAULT_", "PYTHON"))}
    env.update(ATTRITION_HOME=str(home), ATTRITION_SERVING_HOST="127.0.0.1", ATTRITION_SERVING_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    marks: dict[str, float] = {}
    started = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-m", "serving"], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(timeout=2) as client:
            targets = {
                "healthz": ("/healthz", {}),
                "readyz": ("/readyz", {}),
                "first prediction": (f"/v1/employees/{employee}/risk", {"Authorization": f"Bearer {bearer}"}),
            }
            while len(marks) < len(targets):
                if proc.poll() is not None:
                    raise SystemExit(f"the service exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
                if time.perf_counter() - started > 120:
                    raise SystemExit("no prediction within 120 s")
                for name, (path, headers) in targets.items():
                    if name in marks:
                        continue
                    try:
                        if client.get(base + path, headers=headers).status_code == 200:
                            marks[name] = time.perf_counter() - started
                    except httpx.TransportError:
                        break  # not listening yet
                time.sleep(0.01)
            t = time.perf_counter()
            client.get(base + targets["first prediction"][0], headers=targets["first prediction"][1])
            marks["next prediction (warm)"] = time.perf_counter() - t
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return marks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=ROOT / ".attrition", help="data directory with a published model")
    ap.add_argument("--venv", type=Path, help="an existing serving-only virtualenv (default: build one)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    home = args.home.resolve()
    if not (home / "serving" / "CURRENT").is_file():
        sys.exit(f"no published model under {home / 'serving'}: run `make demo` first")
    employee, bearer = some_employee(home), token(home)
    with tempfile.TemporaryDirectory() as tmp:
        venv = args.venv.resolve() if args.venv else build_venv(Path(tmp) / "venv")
        workdir = Path(tmp) / "empty"
        workdir.mkdir()
        one_start(venv, home, employee, bearer, workdir)  # the OS file cache warm, as on a node
        runs = [one_start(venv, home, employee, bearer, workdir) for _ in range(args.runs)]
    print(f"\ncold start of `python -m serving` ({args.runs} runs, {os.cpu_count()} cores, model of {home}):")
    for name in runs[0]:
        values = [r[name] * 1000 for r in runs]
        print(f"  {name:<24} median {statistics.median(values):8.0f} ms   min {min(values):8.0f}   max {max(values):8.0f}")
    first = statistics.median(r["first prediction"] for r in runs)
    print(
        f"\nA request that wakes a scaled-to-zero service waits ~{first:.1f} s here plus the pod's "
        "scheduling and image pull on Fargate (tens of seconds): far beyond the 200 ms p95 target."
    )


if __name__ == "__main__":
    main()
