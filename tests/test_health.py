"""Health that means something: each configured stage's dependencies are checked on a timer, /health reports
the last results and their age to key holders (ok / degraded / down to everyone). Against a real in-process
daemon with its own qbittorrent-nox, a real sshd target and a real remote encoder agent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from annexd.config import load_config
from annexd.daemon import Daemon
from annexd.domain.health import CheckResult, overall, report
from annexd.health import Check, HealthMonitor
from store import migrate
from store.db import open_database
from tests.servers.qbittorrent import start_instance
from tests.util import free_port, wait_until

KEY = "health-test-key-0123456789"
AGENT_TOKEN = "remote-agent-token-for-health"
T0 = datetime(2026, 3, 1, 12, 0, 0)


# --- pure: what the results mean ----------------------------------------------------------------------------

def test_down_checks_decide_down_and_the_others_degraded():
    severity = {"database": "down", "qbt": "degraded"}
    good, bad = CheckResult(True, "x", T0, 0.01), CheckResult(False, "refused", T0, 0.01)
    assert overall({"database": good, "qbt": good}, severity) == "ok"
    assert overall({"database": good, "qbt": bad}, severity) == "degraded"
    assert overall({"database": bad, "qbt": good}, severity) == "down"
    assert overall({"database": None, "qbt": good}, severity) == "down"  # not known yet: not claimed ok
    assert overall({"database": good, "qbt": None}, severity) == "ok"
    shown = report({"database": good, "qbt": None}, severity, T0 + timedelta(seconds=7.25))
    assert shown["database"]["age_seconds"] == 7.2 and shown["database"]["checked_at"] == "2026-03-01T12:00:00.000Z"
    assert shown["qbt"] == {"ok": None, "severity": "degraded", "detail": "not run yet", "checked_at": None,
                            "age_seconds": None}


def test_the_monitor_runs_checks_on_its_timer_and_reports_a_check_that_hangs():
    release = threading.Event()
    runs: list[str] = []

    def hangs() -> tuple[bool, Any]:
        runs.append("hang")
        release.wait(10)
        return True, "late"

    def raises() -> tuple[bool, Any]:
        runs.append("raise")
        raise ConnectionRefusedError("refused")

    monitor = HealthMonitor([Check("slow", "degraded", hangs, timeout=0.3),
                             Check("broken", "degraded", raises)], interval_s=0.1).start()
    try:
        wait_until(lambda: monitor.report()["slow"]["ok"] is False, timeout=5, what="the hanging check reported")
        shown = monitor.report()
        assert shown["slow"]["detail"] == "no answer within 0.3 s"
        assert shown["broken"] == {**shown["broken"], "ok": False, "detail": "ConnectionRefusedError: refused"}
        wait_until(lambda: runs.count("raise") >= 3, timeout=5, what="rounds on the timer")
        assert runs.count("hang") == 1  # never started twice while it hangs
        release.set()
        wait_until(lambda: monitor.report()["slow"]["ok"] is True, timeout=5, what="the late answer")
    finally:
        release.set()
        monitor.stop()


# --- a real daemon ---------------------------------------------------------------------------------------------

def _get(url: str, key: str | None = KEY) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"X-Api-Key": key} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _daemon(tmp_path: Path, qbt_url: str, sshd: Any) -> Daemon:
    (sshd.root / "tv").mkdir(exist_ok=True)
    cfg_file = tmp_path / "annexd.toml"
    cfg_file.write_text(f"""
[encoders]
local = false
tokens = ["{AGENT_TOKEN}"]
[[encode_profiles]]
name = "fast"
codec = "libx264"
[[download_clients]]
name = "qbt"
url = "{qbt_url}"
[[targets]]
name = "nas"
protocol = "rsync"
host = "127.0.0.1"
port = {sshd.port}
user = "root"
key_file = "{sshd.key_file}"
tv_root = "{sshd.root}/tv"
connect_timeout = 3
command_timeout = 5
""")
    cfg = load_config(cfg_file, env={"ANNEX_STATE_DIR": str(tmp_path / "state"), "ANNEX_HTTP_PORT": str(free_port()),
                                     "ANNEX_API_KEY": KEY, "ANNEX_HEALTH_INTERVAL_SECONDS": "0.3",
                                     "ANNEX_HEALTH_TIMEOUT_SECONDS": "8"})
    db = open_database(cfg.database_url)
    with db.connection_context():
        migrate.apply_all(db)
    return Daemon(cfg, db)


def _agent(daemon: Daemon, tmp_path: Path) -> subprocess.Popen[bytes]:
    token = tmp_path / "agent-token"
    token.write_text(AGENT_TOKEN)
    token.chmod(0o600)
    assert daemon.http is not None
    return subprocess.Popen([sys.executable, "-m", "annexd.encoder.agent", "--server", daemon.http.url,
                             "--token-file", str(token), "--id", "remote-1"], stdin=subprocess.DEVNULL)


def test_health_with_qbittorrent_stopped_no_agent_and_a_targets_sshd_stopped(tmp_path, sshd, ffmpeg):
    qbt = start_instance(tmp_path, "health-qbt")
    daemon = _daemon(tmp_path, qbt.url, sshd)
    daemon.start()
    agent = None
    assert daemon.http is not None
    url = daemon.http.url + "/health"

    def check(name: str, ok: bool) -> dict[str, Any] | None:
        """/health once every check has run and ``name``'s last result is ``ok``."""
        body = _get(url)[1]
        ran = all(c["ok"] is not None for c in body["checks"].values())
        return body if ran and body["checks"].get(name, {}).get("ok") is ok else None

    try:
        body = wait_until(lambda: check("encoders", False), timeout=30, what="no agent reported")
        assert body["checks"]["encoders"]["detail"] == "no encoder agent connected"
        assert body["status"] == "degraded" and _get(url)[0] == 200
        assert body["checks"]["download_clients.qbt"]["ok"] and body["checks"]["targets.nas"]["ok"]
        assert _get(url, key=None) == (200, {"status": "degraded"})

        agent = _agent(daemon, tmp_path)
        body = wait_until(lambda: check("encoders", True), timeout=30, what="the agent reported")
        assert body["status"] == "ok" and body["checks"]["encoders"]["detail"] == {"agents": ["remote-1"]}
        assert all(c["ok"] for c in body["checks"].values()), body

        qbt.stop()
        body = wait_until(lambda: check("download_clients.qbt", False), timeout=30, what="qBittorrent down")
        assert "unreachable" in body["checks"]["download_clients.qbt"]["detail"] and body["status"] == "degraded"

        with sshd.down():
            body = wait_until(lambda: check("targets.nas", False), timeout=30, what="the target's sshd down")
            assert body["status"] == "degraded" and _get(url)[0] == 200
            assert body["checks"]["database"]["ok"] and body["checks"]["actors"]["ok"]
            assert 0 <= body["checks"]["targets.nas"]["age_seconds"] < 10

        agent.terminate()
        agent.wait(15)
        wait_until(lambda: check("encoders", False), timeout=30, what="the agent gone")
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        daemon.shutdown()
        qbt.stop()
    time.sleep(0)  # nothing left running: the daemon stopped its monitor with everything else
    assert daemon.health is not None
