"""The local HTTP server behind every fake external API (Stripe, Gemini).

A fake is any object with ``handle(method, path, headers, raw_body) -> (status, payload)`` and
a ``base_url`` attribute; the server answers with ``payload`` as JSON, plus the fake's
``response_headers()`` when it has one. It listens on 127.0.0.1 on a free port, in a daemon
thread, until ``stop()``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = self.server.fake
        status, payload = fake.handle(self.command, self.path, headers, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in getattr(fake, "response_headers", dict)().items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: Any


class FakeServer:
    """Serves ``fake`` on 127.0.0.1; ``start()`` and ``stop()`` (the pytest fixtures do both)."""

    def __init__(self, fake: Any, *, name: str) -> None:
        self.fake = fake
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = fake
        host, port = self._server.server_address[:2]
        fake.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=name,
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
