"""A local HTTP endpoint that records the JSON POSTed to it: the far end of notification tests (Apprise's
``json://`` destination and the webhook). ``down`` makes it answer 503; ``stop()`` makes it unreachable."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    down: bool = False
    port: int = 0
    httpd: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers), json.loads(raw or b"null")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="receiver").start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def bodies(self, path: str | None = None) -> list[Any]:
        with self.lock:
            return [r.body for r in self.received if path is None or r.path == path]
