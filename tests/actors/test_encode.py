"""The encode stage in a real in-process daemon: the built-in local agent (a real subprocess over the
daemon's WebSocket) encodes with real ffmpeg; with no agent, items say they wait for an encoder."""

import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from annexd.config import load_config
from annexd.daemon import Daemon
from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.encoder.ffmpeg import probe
from store import migrate, queries
from store.db import open_database
from store.models import ProcessingItem
from tests.media import make_clip
from tests.util import free_port, pid_alive, wait_until

PROFILE = """
[[encode_profiles]]
name = "fast"
codec = "libx264"
crf = 30
preset = "ultrafast"
max_height = 180
audio = "aac"
"""


def _daemon(tmp_path: Path, extra: str = "", env: dict | None = None) -> Daemon:
    cfg_file = tmp_path / "annexd.toml"
    cfg_file.write_text(PROFILE + extra)
    cfg = load_config(cfg_file, env={"ANNEX_STATE_DIR": str(tmp_path / "state"), "ANNEX_HTTP_PORT": str(free_port()),
                                     "ANNEX_ENCODER_POLL_INTERVAL": "200", **(env or {})})
    db = open_database(cfg.database_url)
    with db.connection_context():
        migrate.apply_all(db)
    return Daemon(cfg, db)


def _downloaded_item(daemon: Daemon, source: Path) -> int:
    with daemon.db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title="Clip", year=2024), datetime.now())
        item = queries.request_items(req.id)[0]
        ProcessingItem.update(status=S.DOWNLOADED, source_file_path=str(source)).where(
            ProcessingItem.id == item.id).execute()
        return item.id


def _item(daemon: Daemon, item_id: int) -> ProcessingItem:
    with daemon.db.connection_context():
        return ProcessingItem.get_by_id(item_id)


@pytest.fixture
def clip(tmp_path, ffmpeg):
    return make_clip(tmp_path / "Clip.2024.1080p.WEB-DL.mkv", seconds=2, size="320x240")


def _agent_pid(daemon: Daemon) -> int:
    return wait_until(lambda: daemon.ctx.workers["local-encoder"].proxy().pid.get(timeout=5), timeout=30,
                      what="the built-in agent started")


def test_local_agent_encodes_and_the_output_verifies(tmp_path, clip):
    daemon = _daemon(tmp_path)
    item_id = _downloaded_item(daemon, clip)
    daemon.start()
    agent = _agent_pid(daemon)
    try:
        item = wait_until(lambda: (lambda i: i if i.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, item_id)), timeout=90, what="item ENCODED")
        assert item.status == S.ENCODED, item.last_error
        out = Path(item.encoded_file_path)
        info = probe(out)
        assert info.video_codec == "h264" and info.height == 180 and info.has_audio
        assert item.encoded_at is not None and not list(out.parent.glob(".*partial*"))
    finally:
        daemon.shutdown()
    assert not pid_alive(agent)  # the agent stopped too


def test_without_an_agent_items_wait_for_an_encoder(tmp_path, clip):
    daemon = _daemon(tmp_path, "[encoders]\nlocal = false\ntokens = [\"remote-agent-token-123\"]\n",
                     env={})
    item_id = _downloaded_item(daemon, clip)
    daemon.start()
    try:
        item = wait_until(lambda: (lambda i: i if i.detail == "waiting for an encoder" else None)(
            _item(daemon, item_id)), timeout=30, what="waiting for an encoder")
        assert item.status == S.ENCODING
    finally:
        daemon.shutdown()


def _ffmpeg_of(pid: int) -> list[int]:
    """ffmpeg processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, NotADirectoryError):
            continue
        if stat[stat.index("(") + 1: stat.rindex(")")] == "ffmpeg" and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(entry.name))
    return out


SLOW = """
[[encode_profiles]]
name = "fast"
codec = "libx265"
crf = 28
preset = "slower"
audio = "aac"
"""


def test_the_built_in_agent_killed_mid_encode_is_restarted_and_leaves_no_ffmpeg(tmp_path, ffmpeg):
    """SIGKILL the built-in agent while it encodes: its ffmpeg dies with it, the supervisor starts a new
    agent, the job is requeued to it and the item is encoded once more, completely."""
    clip = make_clip(tmp_path / "Clip.2024.1080p.WEB-DL.mkv", seconds=2, size="640x360")
    cfg_file = tmp_path / "annexd.toml"
    cfg_file.write_text(SLOW + "[encoders]\nreconnect_grace_seconds = 2.0\n[supervisor]\nrestart_backoff_seconds = 0.2\n"
                        "[encoders.retry]\nbase_seconds = 0.5\n")
    cfg = load_config(cfg_file, env={"ANNEX_STATE_DIR": str(tmp_path / "state"), "ANNEX_HTTP_PORT": str(free_port()),
                                     "ANNEX_ENCODER_POLL_INTERVAL": "200"})
    db = open_database(cfg.database_url)
    with db.connection_context():
        migrate.apply_all(db)
    daemon = Daemon(cfg, db)
    item_id = _downloaded_item(daemon, clip)
    daemon.start()
    try:
        first = _agent_pid(daemon)
        [encoder] = wait_until(lambda: _ffmpeg_of(first), timeout=60, what="ffmpeg running under the agent")
        started = time.monotonic()
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not pid_alive(encoder), timeout=10, what="its ffmpeg dies with it")
        second = wait_until(lambda: (lambda p: p if p and p != first else None)(
            daemon.ctx.workers["local-encoder"].proxy().pid.get(timeout=5)), timeout=30, what="a new agent")
        restarted_s = time.monotonic() - started
        item = wait_until(lambda: (lambda i: i if i.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, item_id)), timeout=120, what="item ENCODED by the new agent")
        assert item.status == S.ENCODED, item.last_error
        assert "encoder local disconnected" in (item.last_error or "") or item.attempts == 0
        info = probe(Path(item.encoded_file_path))
        assert info.video_codec == "hevc" and info.duration and info.duration > 1.5
        assert not list(Path(item.encoded_file_path).parent.glob(".*partial*"))
        assert restarted_s < 15, restarted_s
        status = daemon.supervisor.ask("status", timeout=5)
        assert status["local-encoder"]["restarts"] == 1 and status["local-encoder"]["alive"]
    finally:
        daemon.shutdown()
    assert not pid_alive(second) and _ffmpeg_of(second) == []


def test_a_multi_episode_file_is_encoded_once_for_every_item_it_covers(tmp_path, clip):
    daemon = _daemon(tmp_path)
    with daemon.db.connection_context():
        eps = (EpisodeSpec(1, 1), EpisodeSpec(1, 2))
        req = queries.create_request(RequestSpec(kind="tv", title="Show", episodes=eps), datetime.now())
        ProcessingItem.update(status=S.DOWNLOADED, source_file_path=str(clip)).where(
            ProcessingItem.request == req.id).execute()
        ids = [i.id for i in queries.request_items(req.id)]
    daemon.start()
    try:
        items = [wait_until(lambda i=i: (lambda it: it if it.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, i)), timeout=90, what="both items ENCODED") for i in ids]
        assert [i.status for i in items] == [S.ENCODED, S.ENCODED]
        assert items[0].encoded_file_path == items[1].encoded_file_path
        with daemon.db.connection_context():
            jobs = queries.jobs_of_items(ids)
        assert len(jobs) == 1 and sorted(jobs[0].items) == sorted(ids) and jobs[0].state == "done"
    finally:
        daemon.shutdown()


def test_retry_of_a_failed_encode_resumes_at_encode_without_a_new_torrent(tmp_path, clip):
    daemon = _daemon(tmp_path)
    item_id = _downloaded_item(daemon, clip)
    with daemon.db.connection_context():
        ProcessingItem.update(status=S.FAILED, failed_stage="encode", last_error="encode failed").where(
            ProcessingItem.id == item_id).execute()
        assert queries.retry_item(item_id, datetime.now()) == (S.DOWNLOADED, "encode")
    daemon.start()
    try:
        item = wait_until(lambda: (lambda i: i if i.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, item_id)), timeout=90, what="item ENCODED again")
        assert item.status == S.ENCODED and item.download_id is None
        with daemon.db.connection_context():
            assert queries.downloads_in(*DownloadPhase) == []  # no torrent was grabbed for it
    finally:
        daemon.shutdown()


def test_a_remote_agent_seeing_the_files_under_other_paths_encodes_through_its_configured_mapping(tmp_path, ffmpeg):
    import subprocess
    import sys

    daemon_view = tmp_path / "daemon-view"  # where the daemon sees the downloads and its encode work_dir
    (daemon_view / "downloads").mkdir(parents=True)
    agent_view = tmp_path / "agent-view"  # the same directory, as the agent sees it
    agent_view.symlink_to(daemon_view)
    clip = make_clip(daemon_view / "downloads" / "Clip.2024.1080p.WEB-DL.mkv", seconds=2, size="320x240")
    token = "remote-agent-token-for-mapping"
    daemon = _daemon(tmp_path, f"""
[encoders]
local = false
tokens = ["{token}"]
work_dir = "{daemon_view}/encode"
[[encoders.agents]]
id = "remote-1"
path_map = [["{daemon_view}", "{agent_view}"]]
""")
    item_id = _downloaded_item(daemon, clip)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    daemon.start()
    assert daemon.http is not None
    # The agent accepts only paths under its own view: a job in the daemon's paths would be refused.
    agent = subprocess.Popen([sys.executable, "-m", "annexd.encoder.agent", "--server", daemon.http.url,
                              "--token-file", str(token_file), "--id", "remote-1", "--root", str(agent_view)],
                             stdin=subprocess.DEVNULL)
    try:
        item = wait_until(lambda: (lambda i: i if i.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, item_id)), timeout=90, what="item ENCODED by the remote agent")
        assert item.status == S.ENCODED, item.last_error
        out = Path(item.encoded_file_path)
        assert out.is_relative_to(daemon_view / "encode") and probe(out).height == 180
        assert item.detail == "encoded on remote-1"
    finally:
        agent.terminate()
        agent.wait(30)
        daemon.shutdown()


def test_queued_encodes_go_out_as_a_slot_frees_not_at_the_next_poll(tmp_path, ffmpeg):
    """Polls an hour apart, four jobs on a one-slot agent: each starts as the previous one completes (the
    agent's idle gap, from its completion report to its acceptance of the next job, stays far below a poll)."""
    daemon = _daemon(tmp_path, env={"ANNEX_ENCODER_POLL_INTERVAL": "3600000", "ANNEX_WORKER_POLL_INTERVAL": "3600000"})
    ids = []
    for n in range(4):
        clip = make_clip(tmp_path / f"Clip{n}.2024.1080p.WEB-DL.mkv", seconds=1, size="320x240")
        ids.append(_downloaded_item(daemon, clip))
    events: list[tuple[str, str, float]] = []
    hub = daemon.hub
    assert hub is not None
    for name in ("on_accepted", "on_complete"):
        inner = getattr(hub, name)
        setattr(hub, name, lambda job_id, *a, _n=name, _f=inner: (events.append((_n, job_id, time.monotonic())),
                                                                 _f(job_id, *a)))
    daemon.start()
    try:
        items = [wait_until(lambda i=i: (lambda it: it if it.status in (S.ENCODED, S.FAILED) else None)(
            _item(daemon, i)), timeout=120, what="every item ENCODED") for i in ids]
        assert [i.status for i in items] == [S.ENCODED] * 4, [i.last_error for i in items]
    finally:
        daemon.shutdown()
    ordered = sorted(events, key=lambda e: e[2])
    kinds = [kind for kind, _, _ in ordered]
    assert kinds == ["on_accepted", "on_complete"] * 4, ordered  # one at a time: a one-slot agent
    gaps = [ordered[k + 1][2] - ordered[k][2] for k in range(1, 7, 2)]
    print(f"idle gaps between encodes (s): {[round(g, 4) for g in gaps]}")
    assert max(gaps) < 1.0, gaps  # target ≤ 0.1 s; a poll would have made it an hour


def test_a_pack_s_first_encode_is_submitted_before_the_rest_of_the_pack_is_planned(tmp_path):
    """40 episodes reach DOWNLOADED together (a season pack): the dispatcher claims, plans and submits one
    source file at a time, so the first job reaches the hub while the others are still DOWNLOADED (claimed
    all at once, the first waited for the 40 plans: up to 8.96 s in bench_pipeline)."""
    daemon = _daemon(tmp_path, "[encoders]\nlocal = false\ntokens = [\"remote-agent-token-123\"]\n",
                     env={"ANNEX_WORKER_POLL_INTERVAL": "3600000"})
    with daemon.db.connection_context():
        spec = RequestSpec(kind="tv", title="Pack", episodes=tuple(EpisodeSpec(1, e, f"Ep {e}") for e in range(1, 41)))
        req = queries.create_request(spec, datetime.now())
        for item in queries.request_items(req.id):
            ProcessingItem.update(status=S.DOWNLOADED, source_file_path=str(tmp_path / f"Pack.S01E{item.episode:02}.mkv")
                                  ).where(ProcessingItem.id == item.id).execute()
    hub = daemon.hub
    assert hub is not None
    submitted: list[tuple[float, int]] = []  # when, and how many items were still DOWNLOADED then

    def still_downloaded() -> int:
        with daemon.db.connection_context():
            return ProcessingItem.select().where((ProcessingItem.request == req.id)
                                                 & (ProcessingItem.status == S.DOWNLOADED)).count()

    inner = hub.submit
    hub.submit = lambda job: (submitted.append((time.monotonic(), still_downloaded())), inner(job))[1]  # type: ignore[method-assign]
    daemon.start()
    try:
        wait_until(lambda: len(submitted) >= 40, timeout=60, what="40 jobs submitted")
    finally:
        daemon.shutdown()
    first, last = submitted[0], submitted[39]
    print(f"submits: first with {first[1]} items still DOWNLOADED, last {last[0] - first[0]:.3f} s later")
    assert first[1] == 39  # only its own item claimed: the old dispatcher claimed and planned all 40 first
    assert [n for _, n in submitted[:40]] == list(range(39, -1, -1))
