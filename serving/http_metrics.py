"""Request metrics: count, latency, in-flight and 5xx by method, route template and status.

Why not Litestar's PrometheusMiddleware: it builds a Request, two label dicts and four label
lookups per request, ~100 µs on this VM (a quarter of a trivial route's cost), for four metric
updates. This is the same metrics under the same names and labels (`attrition_http_*`, labels
method, path, status_code, app_name; dashboards and alert rules need not know), written with
prometheus-client directly and each label set's children looked up once.

Labels use the route template (`/v1/employees/{employee_id:int}/risk`), never the path, so an
employee id never becomes a label value; a request that matched no route is `unmatched`.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from serving.metrics import LATENCY_BUCKETS

PREFIX = "attrition_http"
APP_NAME = "attrition_serving"
_LABELS = ["method", "path", "status_code", "app_name"]

REQUESTS = Counter(f"{PREFIX}_requests_total", "Total requests", _LABELS)
DURATION = Histogram(
    f"{PREFIX}_request_duration_seconds", "Request duration, in seconds", _LABELS, buckets=LATENCY_BUCKETS
)
IN_PROGRESS = Gauge(
    f"{PREFIX}_requests_in_progress", "Total requests currently in progress", ["method", "path", "app_name"]
)
ERRORS = Counter(f"{PREFIX}_requests_error_total", "Total errors in requests", _LABELS)

_Children = tuple[Any, Any, Any | None]


class RequestMetrics:
    """ASGI middleware (pass the class itself in Litestar's `middleware` list)."""

    excluded = frozenset({"/metrics"})

    def __init__(self, app: Any) -> None:
        self.app = app
        self._done: dict[tuple[str, str, int], _Children] = {}
        self._running: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path_template") or "unmatched"
        if path in self.excluded:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = 500  # what the client gets if the app fails before answering

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        running = self._running.get((method, path))
        if running is None:
            running = self._running[(method, path)] = IN_PROGRESS.labels(method, path, APP_NAME)
        running.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            running.dec()
            children = self._done.get((method, path, status))
            if children is None:
                labels = (method, path, str(status), APP_NAME)
                children = self._done[(method, path, status)] = (
                    REQUESTS.labels(*labels),
                    DURATION.labels(*labels),
                    ERRORS.labels(*labels) if status >= 500 else None,
                )
            count, duration, errors = children
            count.inc()
            duration.observe(elapsed)
            if errors is not None:
                errors.inc()
