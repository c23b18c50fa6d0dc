"""The real daemon as a subprocess: signals, crash safety, pending migrations, database restarts, pool budget."""

import ctypes
import os
import platform
import signal
import sqlite3
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from annexd.exitcodes import ExitCode
from tests.servers.annexd import API_KEY
from tests.util import pid_alive, wait_until

REPO = Path(__file__).resolve().parents[2]
SYS_TGKILL = {"x86_64": 234, "aarch64": 131}[platform.machine()]


@pytest.fixture
def daemon(tmp_path, daemon_factory):
    return daemon_factory(tmp_path / "state")


def _signal_a_worker_thread(pid: int, sig: int) -> None:
    """Deliver ``sig`` to one of the process's other threads (tgkill), as the kernel may do with any signal."""
    tid = next(int(t) for t in sorted(os.listdir(f"/proc/{pid}/task")) if int(t) != pid)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(SYS_TGKILL, pid, tid, sig) == 0, os.strerror(ctypes.get_errno())


def test_sigterm_shuts_down_cleanly_and_sigusr1_dumps_stacks(daemon):
    daemon.start()
    # Both signals go to a thread other than the main one: the handlers must still run promptly.
    _signal_a_worker_thread(daemon.proc.pid, signal.SIGUSR1)
    wait_until(lambda: any(e.get("event") == "thread_stack" for e in daemon.logs()), timeout=5, what="stack dump")
    _signal_a_worker_thread(daemon.proc.pid, signal.SIGTERM)
    assert daemon.wait(30) == ExitCode.OK
    events = [e.get("event") for e in daemon.logs()]
    assert events.index("stopping") < events.index("stopped")


def test_an_http_port_already_taken_exits_8_at_once(daemon):
    """Another process holds the port: the daemon says so and exits with code 8 (no hang, no restart loop)."""
    import socket

    holder = socket.create_server(("127.0.0.1", daemon.port))
    daemon.cli("migrate")
    try:
        started = time.monotonic()
        daemon.start(migrate=False, wait=False)
        code = daemon.wait(30)
        took = time.monotonic() - started
    finally:
        holder.close()
    assert code == ExitCode.HTTP_PORT_UNAVAILABLE == 8
    assert took < 20, took  # well within the shutdown budget
    text = daemon.log_path.read_text()
    assert f"cannot listen on 127.0.0.1:{daemon.port}: the port is already in use" in text
    assert '"event": "stopped"' in text
    print(f"HTTP port taken: exit {code} {took:.1f} s after `annexd run` started")


def test_refuses_to_start_with_pending_migrations(daemon):
    result = daemon.cli("run", check=False)
    assert result.returncode == ExitCode.PENDING_MIGRATIONS
    assert "annexd migrate" in result.stderr and "001_create_core" in result.stderr


def test_invalid_config_lists_every_problem(tmp_path, daemon):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[http]\nprot = 1\nport = "x"\n[writer]\nprogress_threshold = -1\n[nope]\n')
    result = daemon.cli("--config", str(cfg), "check-config", check=False)
    assert result.returncode == ExitCode.CONFIG
    for needle in ("http.prot: unknown key (did you mean http.port?)", "http.port: expected int",
                   "writer.progress_threshold", "nope: unknown key"):
        assert needle in result.stderr, needle
    assert API_KEY not in result.stdout + result.stderr


def test_sigkill_loses_nothing_acknowledged(daemon):
    db_path = daemon.state_dir / "annexd.db"
    daemon.env["ANNEX_AWAITING_POLL_INTERVAL"] = "20"
    daemon.env["ANNEX_WORKER_CLAIM_BATCH"] = "7"
    daemon.start()
    # Items whose retry is due: the AwaitingWorker moves them back to PENDING, a few per poll.
    status, _ = daemon.call("POST", "/api/v1/requests", {"type": "tv", "title": "Due", "episodes": [
        {"season": 1, "episode": e, "air_date": "2099-01-01"} for e in range(1, 201)]})
    assert status == 201
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE processing_item SET next_retry_at = '2000-01-01 00:00:00'")
    acknowledged: list[int] = []
    stop = threading.Event()

    def post_requests():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                code, body = daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": f"Movie {i}"})
            except OSError:  # the daemon is being killed: this one was never acknowledged
                break
            if code == 201:
                acknowledged.append(body["id"])

    poster = threading.Thread(target=post_requests)
    poster.start()
    wait_until(lambda: len(acknowledged) >= 20, timeout=30, what="some acknowledged requests")
    daemon.kill()  # SIGKILL in the middle of requests and transitions
    stop.set()
    poster.join(15)
    # Its built-in encoder agent does not outlive it.
    [agent_pid] = [e["pid"] for e in daemon.logs() if e.get("event") == "local_encoder_started"]
    wait_until(lambda: not pid_alive(agent_pid), timeout=15, what="the local encoder agent to exit")
    with sqlite3.connect(db_path) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM media_request")}
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM processing_item WHERE request_id = 1 "
                                     "GROUP BY status").fetchall())
        movies = conn.execute("SELECT COUNT(*) FROM processing_item WHERE kind = 'movie'").fetchone()[0]
    assert set(acknowledged) <= ids
    assert movies == len(ids) - 1  # every request kept its item: nothing half-written
    assert set(statuses) <= {"AWAITING", "PENDING"} and sum(statuses.values()) == 200
    daemon.start(migrate=False)  # after a restart the rest of the work is picked up
    wait_until(lambda: sqlite3.connect(db_path).execute(
        "SELECT COUNT(*) FROM processing_item WHERE status='AWAITING'").fetchone()[0] == 0, timeout=30,
        what="remaining AWAITING items resumed")


def test_database_restart_under_a_running_daemon(tmp_path, postgres_factory, daemon_factory):
    server = postgres_factory()
    daemon = daemon_factory(tmp_path / "state", database_url=server.url(server.create_database()),
                           env={"ANNEX_DATABASE_POOL_TIMEOUT_SECONDS": "2"})
    try:
        daemon.start()
        first = [daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": f"A{i}"})[1]["id"]
                 for i in range(5)]
        server.stop()
        wait_until(lambda: daemon.get("/health")[0] == 503, timeout=30, what="/health 503 while the db is down")
        code, body = daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": "while down"})
        assert code == 503 and "database" in body["error"]
        server.start()
        wait_until(lambda: daemon.get("/health")[0] == 200, timeout=30, what="/health 200 after the restart")
        code, body = daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": "after"})
        assert code == 201
        listed = {r["id"] for r in daemon.get("/api/v1/requests?per_page=200")[1]["requests"]}
        assert set(first) | {body["id"]} <= listed
        assert daemon.proc.poll() is None  # the daemon itself stayed up throughout
    finally:
        daemon.stop()


def test_pool_never_exceeds_its_maximum_under_http_and_writer_load(tmp_path, postgres_server, daemon_factory):
    name = postgres_server.create_database()
    daemon = daemon_factory(tmp_path / "state", database_url=postgres_server.url(name),
                           env={"ANNEX_DATABASE_MAX_CONNECTIONS": "3", "ANNEX_AWAITING_POLL_INTERVAL": "20",
                                "ANNEX_WRITER_FLUSH_INTERVAL_MS": "20"})
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        conn = psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        while not stop.is_set():
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
                peak = max(peak, cur.fetchone()[0])
            time.sleep(0.005)
        conn.close()

    def load(i):
        for j in range(25):
            daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": f"L{i}-{j}"})
            daemon.get("/api/v1/requests?per_page=50")
            daemon.get("/metrics")

    try:
        daemon.start()
        sampler = threading.Thread(target=sample)
        sampler.start()
        workers = [threading.Thread(target=load, args=(i,)) for i in range(8)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(120)
        stop.set()
        sampler.join(10)
        code, text = daemon.get("/metrics")
        assert "annexd_db_pool_max_connections 3.0" in text
        assert daemon.get("/api/v1/requests")[1]["total"] == 200
    finally:
        stop.set()
        daemon.stop()
    assert 1 <= peak <= 3
