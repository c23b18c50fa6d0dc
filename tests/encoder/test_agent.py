"""Hub + agents end to end: the hub in an aiohttp thread on a free loopback port, agents as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import structlog

from annexd.encoder.agent import EXIT_AUTH, backoff_delay, read_token, ws_url
from annexd.encoder.ffmpeg import probe, verify
from annexd.encoder.hub import EncodeJob, EncoderHub, HubServer, HubSettings, bearer_token, token_matches
from annexd.encoder.profiles import EncodeProfile
from annexd.encoder.protocol import PathMapping
from tests.media import make_clip

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-3f9c2b7e8d1a4c6b"
FAST = EncodeProfile("fast", "libx264", 30, "ultrafast", audio="opus")
SLOW = EncodeProfile("slow", "libx265", 28, "slower")


def wait_for(cond, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout} s")


class Recorder:
    """Collects hub callbacks (invoked on the hub loop thread)."""

    def __init__(self):
        self.events: list[tuple[str, tuple]] = []
        self.lock = threading.Lock()

    def cb(self, name):
        def record(*args):
            with self.lock:
                self.events.append((name, args))
        return record

    def find(self, name, job_or_agent=None):
        with self.lock:
            return [a for n, a in self.events if n == name and (job_or_agent is None or a[0] == job_or_agent)]

    def wait(self, name, key=None, timeout=20.0):
        return wait_for(lambda: self.find(name, key), timeout, what=f"{name} {key}")[0]


@pytest.fixture
def env(tmp_path, ffmpeg):
    """Daemon sees media under tmp/daemon; the agents see the same directory as tmp/agent (a symlink)."""
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    agent_dir = tmp_path / "agent"
    agent_dir.symlink_to(daemon_dir)
    rec = Recorder()
    mapping = (PathMapping(str(daemon_dir), str(agent_dir)),)
    hub = EncoderHub(HubSettings(tokens=frozenset({TOKEN, "other-token-xyz"}), heartbeat_interval=0.5,
                                 heartbeat_timeout=2.0, accept_timeout=5.0, default_path_mappings=mapping,
                                 shutdown_reconnect_delay=0.3,
                                 # r1's mapping points outside the root the agent accepts (--root agent_dir)
                                 path_mappings={"r1": (PathMapping(str(daemon_dir), str(daemon_dir)),)}),
                     on_progress=rec.cb("progress"), on_complete=rec.cb("complete"), on_failed=rec.cb("failed"),
                     on_agent_lost=rec.cb("lost"), on_refused=rec.cb("refused"), on_assigned=rec.cb("assigned"),
                     on_accepted=rec.cb("accepted"))
    server = HubServer(hub).start()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    procs: list[subprocess.Popen] = []

    class Env:
        pass

    e = Env()
    e.tmp, e.daemon_dir, e.agent_dir, e.rec, e.hub, e.server, e.procs = (
        tmp_path, daemon_dir, agent_dir, rec, hub, server, procs)

    def spawn(agent_id, max_jobs=1, token_path=token_file, extra=()):
        log = open(tmp_path / f"{agent_id}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "annexd.encoder.agent", "--server", server.url, "--token-file", str(token_path),
             "--id", agent_id, "--max-jobs", str(max_jobs), "--root", str(agent_dir), "--reconnect-max", "2",
             "--log-level", "debug", *extra],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        procs.append(proc)
        return proc

    def ready(agent_id, timeout=15.0):
        wait_for(lambda: server.call(lambda: agent_id in hub.agents and hub.agents[agent_id].max_jobs > 0),
                 timeout, what=f"agent {agent_id} registered")

    def submit(job):
        return hub.submit(job).result(5)

    def log_of(agent_id):
        return (tmp_path / f"{agent_id}.log").read_text(errors="replace")

    e.spawn, e.ready, e.submit, e.log_of = spawn, ready, submit, log_of
    yield e
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
    server.stop()


def job(env, name, profile=FAST, clip="clip.mkv", seconds=2, size="320x240"):
    src = env.daemon_dir / clip
    if not src.exists():
        make_clip(src, seconds=seconds, size=size)
    return EncodeJob(name, str(src), str(env.daemon_dir / f"{name}.{profile.container}"), profile)


def ffmpeg_children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and comm == "ffmpeg":
            kids.append(int(entry))
    return kids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return bool(stat) and stat[stat.rindex(")") + 2] != "Z"


def partials(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".partial" in p.name]


# --- pure helpers --------------------------------------------------------------------------------------------

def test_helpers():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None
    assert token_matches("a", frozenset({"b", "a"})) and not token_matches("a", frozenset())
    assert ws_url("http://h:1") == "ws://h:1/api/v1/encoders/ws"
    assert ws_url("wss://h/api/v1/encoders/ws") == "wss://h/api/v1/encoders/ws"
    delays = [backoff_delay(i, 1.0, 60.0) for i in range(10)]
    assert 0.9 <= delays[0] <= 1.1 and all(d <= 66 for d in delays) and delays[9] >= 54


def test_token_file_permissions_warn(tmp_path):
    f = tmp_path / "t"
    f.write_text("  secret-token \n")
    f.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        assert read_token(str(f)) == "secret-token"
    assert [e for e in logs if e["event"] == "token_file_permissions_loose"]
    f.chmod(0o600)
    with structlog.testing.capture_logs() as logs:
        read_token(str(f))
    assert not logs


# --- end to end ---------------------------------------------------------------------------------------------

def test_job_completes_with_path_mapping_and_verifies(env):
    env.spawn("a1")
    env.spawn("a2", max_jobs=2)
    env.ready("a1")
    env.ready("a2")
    j = job(env, "job-1")
    agent = env.submit(j)
    assert agent in ("a1", "a2")
    assert env.rec.find("assigned", "job-1") == [("job-1", agent)]
    result = env.rec.wait("complete", "job-1")[1]
    assert result.output_path == j.output_path and result.agent_id == agent  # daemon terms, mapped back
    assert result.size == Path(j.output_path).stat().st_size > 0
    verify(probe(j.input_path), j.output_path, FAST)
    assert env.rec.find("accepted", "job-1")
    assert not env.rec.find("failed") and partials(env.daemon_dir) == []
    # the listing endpoint
    with urllib.request.urlopen(env.server.url + "/api/v1/encoders", timeout=5) as resp:
        listing = json.load(resp)
    by_id = {a["id"]: a for a in listing["agents"]}
    assert set(by_id) == {"a1", "a2"} and by_id["a2"]["max_jobs"] == 2
    assert "libx265" in by_id["a1"]["encoders"] and by_id["a1"]["jobs"] == []


def test_agent_killed_mid_encode_is_reported_lost_and_requeued(env):
    env.spawn("k1")
    env.ready("k1")
    env.spawn("k2")
    env.ready("k2")
    j = job(env, "job-kill", SLOW, clip="big.mkv", size="640x360")
    first = env.submit(j)
    victim = env.procs[0] if first == "k1" else env.procs[1]
    kids = wait_for(lambda: ffmpeg_children(victim.pid), what="ffmpeg running under the agent")
    wait_for(lambda: partials(env.daemon_dir), what="temp output being written")
    victim.send_signal(signal.SIGKILL)
    lost = env.rec.wait("lost", first, timeout=10)
    assert lost[1] == ["job-kill"]
    # the caller (EncodeDispatcher) requeues: the job goes to the other agent
    second = env.submit(j)
    assert second not in (None, first)
    result = env.rec.wait("complete", "job-kill", timeout=30)[1]
    assert result.agent_id == second
    verify(probe(j.input_path), j.output_path, SLOW)
    # the orphaned ffmpeg of the killed agent dies (SIGPIPE on its progress pipe); no temp file survives
    wait_for(lambda: not any(alive(k) for k in kids), timeout=10, what="orphan ffmpeg gone")
    assert partials(env.daemon_dir) == []
    assert not env.rec.find("failed")


def test_wrong_token_is_refused_and_never_logged(env, tmp_path):
    bad = tmp_path / "bad-token"
    wrong = "wrong-token-5a5a5a5a"
    bad.write_text(wrong)
    bad.chmod(0o600)
    with structlog.testing.capture_logs() as logs:
        proc = env.spawn("intruder", token_path=bad)
        rc = proc.wait(timeout=20)
    assert rc == EXIT_AUTH
    refusals = [e for e in logs if e["event"] == "encoder_auth_refused"]
    assert refusals and refusals[0]["reason"] == "invalid"
    assert wrong not in repr(logs) and TOKEN not in repr(logs)
    assert wrong not in env.log_of("intruder") and "encoder_auth_refused" in env.log_of("intruder")
    assert env.log_of("intruder").count("encoder_connect") == 0  # no hammering: one attempt, then exit
    assert env.server.call(lambda: "intruder" not in env.hub.agents)
    # a handshake without any token is refused too
    req = urllib.request.Request(env.server.url + "/api/v1/encoders/ws", headers={"Upgrade": "websocket"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 401


def test_capacity_refusal_and_cancel(env):
    env.spawn("c1", max_jobs=1)
    env.ready("c1")
    # the hub's view of the agent is stale (as after a reconfiguration): it believes there are two slots
    env.server.call(lambda: setattr(env.hub.agents["c1"], "max_jobs", 2))
    j1 = job(env, "job-c1", SLOW, clip="big.mkv", size="640x360")
    j2 = job(env, "job-c2", SLOW, clip="big.mkv", size="640x360")
    assert env.submit(j1) == "c1"
    env.rec.wait("accepted", "job-c1")
    assert env.submit(j2) == "c1"
    refused = env.rec.wait("refused", "job-c2")
    assert refused == ("job-c2", "c1", "capacity")
    assert env.server.call(lambda: env.hub.agent_of("job-c2")) is None
    # cancel the running job: ffmpeg is killed, the temp file removed, no completion reported
    kids = wait_for(lambda: ffmpeg_children(env.procs[0].pid), what="ffmpeg running")
    assert env.hub.cancel_threadsafe("job-c1").result(5) is True
    wait_for(lambda: not any(alive(k) for k in kids), timeout=10, what="ffmpeg killed")
    wait_for(lambda: not partials(env.daemon_dir), timeout=5, what="temp removed")
    wait_for(lambda: env.server.call(lambda: env.hub.snapshot()["agents"][0]["jobs"] == []), what="slot freed")
    assert not env.rec.find("complete") and not env.rec.find("failed")


def test_silent_agent_is_dropped_after_heartbeat_timeout(env):
    proc = env.spawn("h1")
    env.ready("h1")
    j = job(env, "job-hb", SLOW, clip="big.mkv", size="640x360")
    assert env.submit(j) == "h1"
    env.rec.wait("accepted", "job-hb")
    os.killpg(proc.pid, signal.SIGSTOP)  # agent and its ffmpeg freeze: no heartbeats
    try:
        started = time.monotonic()
        lost = env.rec.wait("lost", "h1", timeout=10)
        assert lost[1] == ["job-hb"]
        assert 1.5 < time.monotonic() - started < 6
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    assert env.server.call(lambda: "h1" not in env.hub.agents or env.hub.agents["h1"].jobs == {})


def test_sigterm_drain_budget_cancels_and_exits_zero(env):
    proc = env.spawn("t1", extra=("--drain-seconds", "0.5"))
    env.ready("t1")
    j = job(env, "job-term", SLOW, clip="big.mkv", size="640x360")
    assert env.submit(j) == "t1"
    kids = wait_for(lambda: ffmpeg_children(proc.pid), what="ffmpeg running")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    failed = env.rec.wait("failed", "job-term")
    assert failed[2] is True and "shutting down" in failed[1]
    assert not any(alive(k) for k in kids) and partials(env.daemon_dir) == []
    assert not Path(j.output_path).exists()


def test_sigterm_lets_running_job_finish(env):
    proc = env.spawn("t2")
    env.ready("t2")
    j = job(env, "job-finish", FAST)
    assert env.submit(j) == "t2"
    env.rec.wait("accepted", "job-finish")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert env.rec.wait("complete", "job-finish")[1].output_path == j.output_path


def test_rogue_agent_output_path_and_foreign_messages_are_rejected(env):
    """An authenticated but misbehaving agent: paths it reports are never trusted."""
    import asyncio

    import aiohttp

    from annexd import metrics
    from annexd.encoder.protocol import Capabilities, JobAccepted, JobComplete, JobProgress, Register, decode

    jobs = [job(env, "job-rogue"), job(env, "job-rogue2")]
    reported = [lambda: str(env.agent_dir) + "/../../../etc/passwd",  # escapes the mapped root
                lambda: str(env.agent_dir) + "/clip.mkv"]  # inside the root, but not the assigned output
    rejected_before = metrics.ENCODER_MESSAGES_REJECTED._value.get()

    async def rogue():
        async with aiohttp.ClientSession() as s, s.ws_connect(
                env.server.url + "/api/v1/encoders/ws", headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            await ws.send_str(Register("rogue").encode())
            assert decode((await ws.receive(timeout=5)).data).type == "registered"
            await ws.send_str(Capabilities(("libx264", "libopus"), 1).encode())
            await asyncio.to_thread(wait_for, lambda: env.server.call(
                lambda: env.hub.agents["rogue"].max_jobs == 1), 5)
            for j, path in zip(jobs, reported, strict=True):
                agent = await asyncio.wrap_future(env.hub.submit(j))
                assert agent == "rogue"
                assign = decode((await ws.receive(timeout=5)).data)
                assert assign.type == "job_assign" and assign.output_path.startswith(str(env.agent_dir))
                await ws.send_str(JobAccepted(assign.job_id).encode())
                await ws.send_str(JobProgress("someone-elses-job", 50.0).encode())  # foreign job: ignored
                await ws.send_str(json.dumps({"type": "job_progress", "job_id": j.job_id, "percent": "lots"}))
                await ws.send_str(JobComplete(assign.job_id, path(), 10, 2.0).encode())
                await asyncio.to_thread(env.rec.wait, "failed", j.job_id, 5)

    asyncio.run(asyncio.wait_for(rogue(), 30))
    first, second = (env.rec.find("failed", j.job_id)[0] for j in jobs)
    assert first[2] is False and "no path mapping covers" in first[1]
    assert second[2] is False and "not the assigned path" in second[1]
    assert not env.rec.find("complete")
    assert metrics.ENCODER_MESSAGES_REJECTED._value.get() - rejected_before >= 6


def test_agent_refuses_paths_outside_its_roots(env):
    env.spawn("r1")
    env.ready("r1")
    j = job(env, "job-outside")
    assert env.submit(j) == "r1"
    failed = env.rec.wait("failed", "job-outside")
    assert failed[2] is False and "outside this agent's roots" in failed[1]
    assert not Path(j.output_path).exists()


def test_agent_reconnects_after_server_restart(env):
    proc = env.spawn("re1")
    env.ready("re1")
    port = env.server.port
    env.server.stop()  # daemon restart: agents get ``shutdown`` and are reported lost
    assert env.rec.wait("lost", "re1")[1] == []
    rec = Recorder()
    hub2 = EncoderHub(env.hub.settings, on_complete=rec.cb("complete"), on_failed=rec.cb("failed"))
    server2 = HubServer(hub2, port=port).start()
    try:
        started = time.monotonic()
        wait_for(lambda: server2.call(lambda: "re1" in hub2.agents and hub2.agents["re1"].max_jobs > 0),
                 timeout=15, what="agent re-registered")
        assert time.monotonic() - started < 10 and proc.poll() is None
        j = job(env, "job-after-restart")
        assert hub2.submit(j).result(5) == "re1"
        assert rec.wait("complete", "job-after-restart")[1].output_path == j.output_path
        assert "encoder_server_shutdown" in env.log_of("re1")
    finally:
        server2.stop()


@pytest.fixture
def grace_env(env):
    """The same hub, with a reconnect grace: a dropped agent keeps its jobs for 20 s."""
    from dataclasses import replace

    env.hub.settings = replace(env.hub.settings, reconnect_grace=20.0)
    return env


def test_an_agent_reconnecting_within_the_grace_keeps_its_running_ffmpeg(grace_env):
    env = grace_env
    proc = env.spawn("g1")
    env.ready("g1")
    j = job(env, "job-grace", SLOW, clip="grace.mkv", seconds=2, size="640x360")
    assert env.submit(j) == "g1"
    [ffmpeg] = wait_for(lambda: ffmpeg_children(proc.pid), what="ffmpeg running under the agent")
    env.rec.wait("progress", "job-grace")
    # The connection drops (the server side closes it): the agent is not told to shut down.
    env.server.call(lambda: env.hub._spawn(env.hub.agents["g1"].ws.close()))
    wait_for(lambda: "encoder_jobs_kept_while_disconnected" in env.log_of("g1"), what="agent keeps its job")
    wait_for(lambda: env.server.call(lambda: "g1" in env.hub.agents and env.hub.agent_of("job-grace") == "g1"),
             what="agent re-registered with its job")
    result = env.rec.wait("complete", "job-grace", timeout=60)[1]
    assert result.agent_id == "g1" and alive(ffmpeg) is False
    assert not env.rec.find("lost", "g1") or all(args[1] == [] for args in env.rec.find("lost", "g1"))
    assert not env.rec.find("failed")
    verify(probe(j.input_path), j.output_path, SLOW)
    # Only one ffmpeg ever ran for the job: the one started before the drop.
    assert env.log_of("g1").count("encode_job_started") == 1


def test_past_the_grace_the_jobs_are_lost_and_a_late_agent_is_told_to_cancel(grace_env):
    env = grace_env
    env.hub.settings = __import__("dataclasses").replace(env.hub.settings, reconnect_grace=1.0,
                                                         heartbeat_timeout=60.0)
    proc = env.spawn("g2")
    env.ready("g2")
    j = job(env, "job-late", SLOW, clip="late.mkv", seconds=2, size="640x360")
    assert env.submit(j) == "g2"
    kids = wait_for(lambda: ffmpeg_children(proc.pid), what="ffmpeg running under the agent")
    # The agent is frozen (it cannot reconnect) when its connection drops: past the grace its job is lost.
    proc.send_signal(signal.SIGSTOP)
    try:
        env.server.call(lambda: env.hub._spawn(env.hub.agents["g2"].ws.close()))
        assert env.rec.wait("lost", "g2", timeout=10)[1] == ["job-late"]
    finally:
        proc.send_signal(signal.SIGCONT)
    # Back, it lists the job it still runs; the hub no longer knows it and tells it to cancel.
    wait_for(lambda: not any(alive(k) for k in kids), timeout=30, what="the agent's ffmpeg cancelled")
    assert not env.rec.find("complete", "job-late") and proc.poll() is None
    wait_for(lambda: partials(env.daemon_dir) == [], what="no temp output left")
