#!/usr/bin/env python
"""Speed of the serving contracts: fallback export encode/load and prediction_log appends.

    .venv/bin/python benchmarks/contracts.py                 # 1,000,000-row encode, 100,000-row load
    .venv/bin/python benchmarks/contracts.py --encode-rows 200000 --load-rows 50000

The export is encoded from the shapes nightly scoring produces (numpy ids/probabilities/bands
and three (feature, label, contribution) factors per employee); building those inputs is not
timed. Each step is timed best of --repeat runs (the machine is shared). Prints one line per
measurement and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from attrition_platform.contracts.audit_logs import (
    PREDICTION_LOG,
    PredictionRecord,
    append_predictions,
    read_log,
)
from attrition_platform.contracts.fallback_export import FallbackIndex, encode_export

FACTORS = [
    ("OverTime", "Works overtime"),
    ("JobSatisfaction", "Job satisfaction"),
    ("MonthlyIncome", "Monthly income"),
    ("YearsAtCompany", "Years at the company"),
]


def _inputs(
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[tuple[str, str, float]]]]:
    rng = np.random.default_rng(0)
    ids = np.arange(1, n + 1, dtype=np.int64)
    probs = rng.random(n)
    bands = np.where(probs >= 0.4, "high", np.where(probs >= 0.2, "medium", "low"))
    pick = rng.integers(0, len(FACTORS), size=(n, 3))
    contrib = rng.normal(size=(n, 3)).tolist()
    factors = [
        [(*FACTORS[j], c) for j, c in zip(row, cs, strict=True)]
        for row, cs in zip(pick.tolist(), contrib, strict=True)
    ]
    return ids, probs, bands, factors


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encode-rows", type=int, default=1_000_000)
    ap.add_argument("--load-rows", type=int, default=100_000)
    ap.add_argument("--log-rows", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    now = datetime.now(UTC)
    results: dict[str, float] = {}

    ids, probs, bands, factors = _inputs(args.encode_rows)
    results["encode_s"], data = _best(
        lambda: encode_export(ids, "1", probs, bands, factors, now), args.repeat
    )
    results["encode_mb"] = len(data) / 1e6
    print(
        f"encode {args.encode_rows:,} rows: {results['encode_s']:.2f} s, {results['encode_mb']:.1f} MB"
    )

    ids, probs, bands, factors = _inputs(args.load_rows)
    small = encode_export(ids, "1", probs, bands, factors, now)
    results["load_s"], index = _best(lambda: FallbackIndex.from_bytes(small), args.repeat)
    results["lookup_us"] = (
        _best(lambda: [index.get(int(i)) for i in ids[:10_000]], args.repeat)[0] / 10_000 * 1e6
    )
    print(
        f"load {args.load_rows:,} rows: {results['load_s']:.3f} s; lookup {results['lookup_us']:.2f} µs"
    )

    records = [
        PredictionRecord(
            f"p{i}",
            now + timedelta(microseconds=i),
            "bench",
            i,
            "1",
            "live",
            '{"Age": 40}',
            float(probs[i % len(probs)]),
            "low",
            tuple(factors[i % len(factors)]),
        )
        for i in range(args.log_rows)
    ]
    with tempfile.TemporaryDirectory(prefix="contracts-bench-") as root:
        append_predictions(root, records[:1])  # creates the table
        results["append_s"], _ = _best(lambda: append_predictions(root, records), args.repeat)
        assert (
            len(read_log(root, PREDICTION_LOG)["prediction_id"]) == 1 + args.repeat * args.log_rows
        )
    print(
        f"append {args.log_rows:,} prediction_log rows (one commit): {results['append_s'] * 1000:.0f} ms"
    )
    print(
        json.dumps(
            {k: round(v, 4) for k, v in results.items()}
            | {
                "encode_rows": args.encode_rows,
                "load_rows": args.load_rows,
                "log_rows": args.log_rows,
            }
        )
    )


if __name__ == "__main__":
    main()
