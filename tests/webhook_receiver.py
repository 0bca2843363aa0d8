"""A real HTTP server on 127.0.0.1 (free port) that records webhook POSTs and answers scripted statuses.

A scripted failure's body quotes the request line, as some services do ("no route for POST
/services/..."), so tests see whether an error body can carry a webhook's secret into a log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._statuses: list[int] = []
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers), json.loads(raw or b"null"), time.monotonic())
                    )
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    headers = dict(receiver._headers) if status >= 400 else {}
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                failure = f"scripted failure for {self.command} {self.path}"
                self.wfile.write(b"ok" if status < 400 else failure.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """The next requests get these statuses, in order (failures with ``headers``); then 200."""
        with self._lock:
            self._statuses = list(statuses)
            self._headers = dict(headers or {})

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received if path is None or r.path == path]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
