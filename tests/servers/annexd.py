"""Runs the real `annexd` command as a subprocess on a free loopback port (used by daemon-level tests); the
`daemon_factory` fixture makes them and stops every one afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import refuse_under_test_fast
from tests.util import free_port, pid_alive, stop_pid, wait_until

ANNEXD = [sys.executable, "-m", "annexd.cli"]
API_KEY = "daemon-test-key-0123456789"


class DaemonProcess:
    def __init__(self, state_dir: Path, env: dict[str, str] | None = None, database_url: str | None = None):
        self.state_dir = state_dir
        self.port = free_port()
        self.log_path = state_dir / "daemon.log"
        self.env = {
            **os.environ,
            "ANNEX_STATE_DIR": str(state_dir), "ANNEX_HTTP_PORT": str(self.port), "ANNEX_API_KEY": API_KEY,
            "ANNEX_LOGGING_FORMAT": "json", "ANNEX_HEALTH_INTERVAL_SECONDS": "1", **(env or {}),
        }
        if database_url:
            self.env["ANNEX_DATABASE_URL"] = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ANNEXD, *args], env=self.env, capture_output=True, text=True, timeout=60,
                              check=check)

    def start(self, migrate: bool = True, wait: bool = True) -> DaemonProcess:
        refuse_under_test_fast("the annexd daemon")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            self.cli("migrate")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*ANNEXD, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        if wait:
            wait_until(lambda: self.get("/health")[0] == 200, timeout=30, what="daemon /health 200")
        return self

    def get(self, path: str) -> tuple[int, Any]:
        return self.call("GET", path)

    def call(self, method: str, path: str, body: Any = None, key: str | None = API_KEY) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if key:
            req.add_header("X-Api-Key", key)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        ctype = "json"
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            ctype = "text"
        return status, raw.decode() if ctype == "text" else None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None and pid_alive(self.proc.pid):
            stop_pid(self.proc.pid, timeout=30)
        return self.proc.wait(10)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"raw": line})
        return out


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., DaemonProcess]]:
    """Make DaemonProcess objects (started by the test, as it needs); every one is stopped afterwards."""
    made: list[DaemonProcess] = []

    def make(state_dir: Path, env: dict[str, str] | None = None, database_url: str | None = None) -> DaemonProcess:
        made.append(DaemonProcess(state_dir, env=env, database_url=database_url))
        return made[-1]

    yield make
    for daemon in made:
        daemon.stop()
