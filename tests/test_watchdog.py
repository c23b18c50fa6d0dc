"""The systemd watchdog on a fake NOTIFY_SOCKET (an AF_UNIX datagram socket, as systemd's): the daemon sends
READY=1, then WATCHDOG=1 every half WATCHDOG_USEC, but only while its supervisor and database writer are alive
and ticking."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from annexd.config import load_config
from annexd.daemon import Daemon
from annexd.watchdog import Watchdog, ping_interval
from store import migrate
from store.db import open_database
from tests.util import wait_until


class NotifySocket:
    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                return self.messages

    def count(self, text: str) -> int:
        return sum(1 for m in self.drain() if text in m)


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock.path))
    yield sock
    sock.sock.close()


def test_ping_interval_is_half_the_watchdog_timeout_and_only_for_our_pid():
    assert ping_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert ping_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert ping_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "2"}, pid=2) == 30.0
    assert ping_interval({}) is None and ping_interval({"WATCHDOG_USEC": "0"}) is None


def test_pings_stop_while_the_core_is_not_alive(notify):
    reason: list[str | None] = [None]
    sent: list[str] = []
    dog = Watchdog(lambda: reason[0], 0.02, sent.append)
    assert dog.beat() and sent == ["WATCHDOG=1"]
    reason[0] = "the database writer has not ticked for 40 s"
    assert not dog.beat() and not dog.beat() and sent == ["WATCHDOG=1"]
    reason[0] = None
    assert dog.beat() and len(sent) == 2


def test_a_real_daemon_pings_while_its_writer_ticks_and_stops_when_it_dies(tmp_path, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    cfg = load_config(None, env={"ANNEX_STATE_DIR": str(tmp_path / "state"), "ANNEX_HTTP_ENABLED": "false",
                                 "ANNEX_ENCODERS_LOCAL": "false", "ANNEX_WRITER_FLUSH_INTERVAL_MS": "50"})
    db = open_database(cfg.database_url)
    with db.connection_context():
        migrate.apply_all(db)
    daemon = Daemon(cfg, db)
    daemon.start()
    try:
        wait_until(lambda: notify.count("READY=1") == 1 and notify.count("WATCHDOG=1") >= 3, timeout=10,
                   what="READY=1 and watchdog pings")
        assert daemon.ctx.writer is not None
        daemon.ctx.writer.stop()  # the writer is gone: no more pings, whatever else still runs
        wait_until(lambda: daemon.core_alive() == "the database writer is not running", timeout=5)
        notify.drain()
        before = notify.count("WATCHDOG=1")
        time.sleep(0.5)
        assert notify.count("WATCHDOG=1") == before
        assert daemon.supervisor is not None and daemon.supervisor.is_alive()
    finally:
        daemon.shutdown()
    assert notify.count("STOPPING=1") == 1


def test_annexd_run_pings_the_notify_socket(tmp_path, daemon_factory):
    sock = NotifySocket(tmp_path / "run-notify.sock")
    daemon = daemon_factory(tmp_path / "state", env={"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "400000"})
    try:
        daemon.start()
        wait_until(lambda: sock.count("READY=1") == 1 and sock.count("WATCHDOG=1") >= 3, timeout=15,
                   what="annexd run: READY=1 then WATCHDOG=1 pings")
    finally:
        daemon.stop()
        sock.sock.close()
