"""`python -m serving`: the container entry point (settings from environment variables)."""

from __future__ import annotations

import os
import sys

# One OpenMP thread unless told otherwise, set before xgboost loads: a request scores one row,
# and idle OpenMP workers spinning between requests cost more CPU than the scoring itself.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from serving.config import startup_errors  # noqa: E402
from serving.server import listen_from_env, serve  # noqa: E402


def main() -> int:
    try:
        serve(listen_from_env())
    except startup_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
