"""`python -m serving`: the container entry point (settings from environment variables)."""

from __future__ import annotations

import sys

from serving.config import startup_errors
from serving.server import listen_from_env, serve


def main() -> int:
    try:
        serve(listen_from_env())
    except startup_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
