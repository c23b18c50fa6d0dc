"""Fake Plex, Emby and Jellyfin servers on free loopback ports, speaking the documented endpoints.

Plex: ``GET /library/sections`` (JSON with ``Accept: application/json``, XML otherwise) and
``GET /library/sections/{id}/refresh?path=`` with the ``X-Plex-Token`` header (a token in the query string
is refused here on purpose: annexd must not put it in URLs). Emby/Jellyfin: ``POST /Library/Media/Updated``
with ``{"Updates": [{"Path", "UpdateType"}]}``, ``POST /Library/Refresh`` and ``GET /System/Info``; Emby authenticates with
``X-Emby-Token``, Jellyfin with ``Authorization: MediaBrowser Token="..."`` (and also ``X-Emby-Token``).
Every request is recorded; ``fail_next`` injects an HTTP status.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeServer:
    token: str
    calls: list[Call] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._dispatch(self, "GET")

            def do_POST(self) -> None:
                fake._dispatch(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.thread:
            self.thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw and "json" in handler.headers.get("Content-Type", "") else raw or None
        call = Call(method, parts.path, parse_qs(parts.query), dict(handler.headers.items()), body)
        self.calls.append(call)
        if self.failures:
            return self._send(handler, self.failures.pop(0), b"injected failure", "text/plain")
        if not self.authorized(call):
            return self._send(handler, 401, b"Unauthorized", "text/plain")
        status, payload, ctype = self.route(call)
        self._send(handler, status, payload, ctype)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, ctype: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def authorized(self, call: Call) -> bool:
        raise NotImplementedError

    def route(self, call: Call) -> tuple[int, bytes, str]:
        raise NotImplementedError


@dataclass
class FakePlex(FakeServer):
    # (key, type, title, [locations])
    sections: list[tuple[str, str, str, list[str]]] = field(default_factory=lambda: [
        ("1", "movie", "Movies", ["/data/movies"]),
        ("2", "show", "TV Shows", ["/data/tv", "/data/tv-kids"]),
    ])

    def authorized(self, call: Call) -> bool:
        return call.headers.get("X-Plex-Token") == self.token and "X-Plex-Token" not in call.query

    def route(self, call: Call) -> tuple[int, bytes, str]:
        if call.method == "GET" and call.path == "/library/sections":
            if "application/json" in call.headers.get("Accept", ""):
                return 200, self._sections_json(), "application/json"
            return 200, self._sections_xml(), "text/xml;charset=utf-8"
        m = re.fullmatch(r"/library/sections/(\w+)/refresh", call.path)
        if call.method == "GET" and m:
            if m.group(1) not in {s[0] for s in self.sections}:
                return 404, b"", "text/plain"
            return 200, b"", "text/plain"
        return 404, b"", "text/plain"

    def _sections_json(self) -> bytes:
        dirs = [{"key": k, "type": t, "title": title, "Location": [{"id": i, "path": p}
                                                                    for i, p in enumerate(locs)]}
                for k, t, title, locs in self.sections]
        return json.dumps({"MediaContainer": {"size": len(dirs), "Directory": dirs}}).encode()

    def _sections_xml(self) -> bytes:
        dirs = "".join(
            f"<Directory key={quoteattr(k)} type={quoteattr(t)} title={quoteattr(title)}>"
            + "".join(f"<Location id=\"{i}\" path={quoteattr(p)} />" for i, p in enumerate(locs))
            + "</Directory>" for k, t, title, locs in self.sections)
        return f'<?xml version="1.0" encoding="UTF-8"?><MediaContainer size="{len(self.sections)}">{dirs}' \
               f"</MediaContainer>".encode()

    def refreshes(self) -> list[tuple[str, str]]:
        """(section id, path) of every successful refresh call."""
        return [(c.path.split("/")[3], c.query.get("path", [""])[0]) for c in self.calls
                if c.path.endswith("/refresh") and self.authorized(c)]


@dataclass
class FakeEmby(FakeServer):
    kind: str = "emby"  # or "jellyfin"
    media_updated_supported: bool = True

    def authorized(self, call: Call) -> bool:
        if call.headers.get("X-Emby-Token") == self.token:
            return True
        m = re.search(r'Token="([^"]*)"', call.headers.get("Authorization", ""))
        return self.kind == "jellyfin" and m is not None and m.group(1) == self.token

    def route(self, call: Call) -> tuple[int, bytes, str]:
        if call.method == "POST" and call.path == "/Library/Media/Updated" and self.media_updated_supported:
            updates = call.body.get("Updates") if isinstance(call.body, dict) else None
            valid = isinstance(updates, list) and updates and all(
                isinstance(u, dict) and u.get("Path") and u.get("UpdateType") in ("Created", "Modified", "Deleted")
                for u in updates)
            return (204, b"", "text/plain") if valid else (400, b"bad body", "text/plain")
        if call.method == "POST" and call.path == "/Library/Refresh":
            return 204, b"", "text/plain"
        if call.method == "GET" and call.path == "/System/Info":
            return 200, json.dumps({"ServerName": "fake", "Version": "4.8.0", "Id": "fake-id"}).encode(), \
                "application/json"
        return 404, b"", "text/plain"

    def updated_paths(self) -> list[str]:
        return [u["Path"] for c in self.calls if c.path == "/Library/Media/Updated" and isinstance(c.body, dict)
                for u in c.body.get("Updates", [])]
