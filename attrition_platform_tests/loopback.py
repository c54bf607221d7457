"""A JSON HTTP server on a loopback port, for the services a test stands in for (a JWKS
endpoint, the Kubernetes TokenReview API, later Slack and PagerDuty receivers): the code under
test makes real HTTP calls, and the test decides — and records — what the other side says."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, parsed JSON body or None) -> (status, JSON-serialisable reply)
Responder = Callable[[str, str, Any], tuple[int, Any]]


@contextmanager
def json_server(respond: Responder) -> Iterator[str]:
    """Serve `respond` on 127.0.0.1:<free port>; yields the base URL; stops on exit."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, reply = respond(self.command, self.path, json.loads(raw) if raw else None)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client that gave up first (a timeout test) is expected, not an error."""
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
