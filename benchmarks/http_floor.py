#!/usr/bin/env python
"""The latency floor of this machine for a Litestar route: no model, no audit, no metrics.

    .venv/bin/python benchmarks/http_floor.py               # 5 s per run
    .venv/bin/python benchmarks/http_floor.py --work-ms 0,0.5,0.8 --duration 10
    .venv/bin/python benchmarks/http_floor.py --clients 1,32 --work-ms 0,0.5 --loop uvloop

Why: the serving goals ask for p99 < 2 ms at one client and < 25 ms at 32. Whether a miss is
the service's or the machine's is a measurement, not an opinion: this starts a bare Litestar
app under uvicorn with one POST route that decodes the same `EmployeeInput` body as
`/v1/predict` and then busy-waits `--work-ms` milliseconds (standing in for the service's own
work), and drives it with wrk at one connection (or `--clients`; `--server granian` and
`--loop uvloop` for the alternatives). Printed per client count and work size: requests/s,
p50, p95, p99 and max. Compare the p99 at the service's p50 with the service's p99
(benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

APP = '''
import os, time
from litestar import Litestar, post
from litestar.params import JSONBody
from serving.schemas import EmployeeInput

WORK = float(os.environ["FLOOR_WORK_MS"]) / 1000.0

@post("/echo", sync_to_thread=False, status_code=200)
def echo(data: JSONBody[EmployeeInput]) -> dict:
    start = time.perf_counter()
    while time.perf_counter() - start < WORK:
        pass
    return {"probability": 0.1}

app = Litestar([echo], logging_config=None, debug=False)
'''

LUA = """wrk.method = "POST"
wrk.body = [===[%s]===]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("FLOOR {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50\\":%%.0f,\\"p95\\":%%.0f,\\"p99\\":%%.0f,\\"max\\":%%.0f}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""

RECORD = {
    "Age": 23, "DailyRate": 1385, "DistanceFromHome": 18, "Education": 4, "EnvironmentSatisfaction": 4,
    "HourlyRate": 230, "JobInvolvement": 3, "JobLevel": 2, "JobSatisfaction": 4, "MonthlyIncome": 16218,
    "MonthlyRate": 48252, "NumCompaniesWorked": 9, "PercentSalaryHike": 15, "PerformanceRating": 3,
    "RelationshipSatisfaction": 3, "StockOptionLevel": 3, "TotalWorkingYears": 39,
    "TrainingTimesLastYear": 0, "WorkLifeBalance": 2, "YearsAtCompany": 10, "YearsInCurrentRole": 6,
    "YearsSinceLastPromotion": 0, "YearsWithCurrManager": 14, "BusinessTravel": "Travel_Rarely",
    "Department": "Human Resources", "EducationField": "Other", "JobRole": "Manager",
    "MaritalStatus": "Single", "OverTime": "Yes",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    body = json.dumps(RECORD).encode()
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/echo", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the floor app did not start")


def run(work_ms: float, duration: float, folder: Path, clients: int = 1, server_name: str = "uvicorn",
        loop: str = "asyncio") -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, FLOOR_WORK_MS=str(work_ms), PYTHONPATH=f"{folder}{os.pathsep}{REPO}")
    if server_name == "granian":
        argv = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--port", str(port),
                "--loop", loop, "--no-access-log", "--log-level", "warning", "floor_app:app"]
    else:
        argv = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--loop", loop,
                "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        wait_up(port)
        url = f"http://127.0.0.1:{port}/echo"
        script = str(folder / "floor.lua")
        load = [f"-t{1 if clients == 1 else 2}", f"-c{clients}"]
        subprocess.run(["wrk", *load, "-d2s", "-s", script, url], capture_output=True, check=True)
        out = subprocess.run(["wrk", *load, f"-d{duration:g}s", "-s", script, url],
                             capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("FLOOR "))
        return json.loads(line.split(" ", 1)[1])
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-ms", default="0,0.8", help="busy-wait per request, comma-separated")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--clients", default="1", help="connection counts, comma-separated (default 1)")
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"))
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"),
                        help="event loop (default asyncio, the service's; uvloop starves connections at 32 clients)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="http-floor-") as tmp:
        folder = Path(tmp)
        (folder / "floor_app.py").write_text(APP)
        (folder / "floor.lua").write_text(LUA % json.dumps(RECORD))
        print(f"bare Litestar route under {args.server} ({args.loop} loop), {args.duration:g} s per run, "
              f"load {os.getloadavg()[0]:.2f}")
        runs = [(int(c), float(w)) for c in args.clients.split(",") for w in args.work_ms.split(",")]
        for clients, work in runs:
            r = run(work, args.duration, folder, clients, args.server, args.loop)
            rps = r["requests"] / (r["duration_us"] / 1e6)
            print(f"  {clients:3d} clients, work {work:4.1f} ms: {rps:7,.0f} req/s  p50 {r['p50'] / 1000:5.2f}  "
                  f"p95 {r['p95'] / 1000:5.2f}  p99 {r['p99'] / 1000:5.2f}  max {r['max'] / 1000:5.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
