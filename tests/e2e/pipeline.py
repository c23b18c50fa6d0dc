"""A whole pipeline on real components, for the chaos trials and the database-outage test.

Real: PostgreSQL, qbittorrent-nox (seeder + downloader), the built-in encoder agent with ffmpeg, an rsync target
on a loopback sshd and a local target, the daemon as a subprocess. Fake: the Torznab indexer (serving .torrent
links, answering searches slowly enough that a search can be interrupted). Each trial requests a movie and three
episodes of a season pack in which episodes 2 and 3 are one multi-episode file: four items, three files per
target.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from tests.fakes.torznab import FakeItem
from tests.media import make_clip
from tests.scenario import TorrentIndexer
from tests.servers.annexd import DaemonProcess
from tests.servers.postgres import PostgresServer
from tests.servers.qbittorrent import QbtInstance, make_torrent
from tests.servers.sshd import SshdServer
from tests.util import pid_alive, wait_until

INDEXER_KEY = "chaos-indexer-key-5150"
WORDS = ("Alpha", "Bravo", "Delta", "Echo", "Golf", "Hotel", "India", "Kilo", "Lima", "Oscar", "Papa", "Romeo",
         "Sierra", "Tango", "Victor", "Zulu")
# The stage a kill aims at, and the item status that shows an item is in it.
STAGES = {"search": "SEARCHING", "download": "DOWNLOADING", "encode": "ENCODING", "deliver": "DELIVERING"}
FILES_PER_TARGET = 3  # the movie, S01E01, S01E02-E03


def trial_words(n: int) -> str:
    return f"{WORDS[n % len(WORDS)]} {WORDS[(n // len(WORDS)) % len(WORDS)]}"


@dataclass
class Components:
    pg: PostgresServer
    seeder: QbtInstance
    downloader: QbtInstance
    sshd: SshdServer
    indexer: TorrentIndexer


@dataclass
class Kill:
    stage: str
    hit: bool  # an item was in the stage when the daemon was killed
    restart_s: float  # kill -> the new daemon answers /health 200
    recovery_s: float | None  # kill -> every item caught in the stage moved on


@dataclass
class TrialResult:
    n: int
    seed: int
    dbname: str = ""
    kills: list[Kill] = field(default_factory=list)
    items: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Trial:
    """One run of the pipeline, with a fresh database, fresh releases and fresh target directories."""

    def __init__(self, env: Components, root: Path, n: int, seed: int, daemon_factory: Callable[..., DaemonProcess]):
        self.env, self.root, self.n, self.rng = env, root, n, random.Random(seed)
        self.words = trial_words(n)
        self.nas = env.sshd.root / f"trial-{n}"
        self.library = root / "library"
        self.dbname = env.pg.create_database()
        self.result = TrialResult(n, seed, self.dbname)
        self.daemon_factory = daemon_factory
        self.daemon: DaemonProcess | None = None

    # --- set-up ---------------------------------------------------------------------------------------
    def releases(self) -> None:
        word = self.words.replace(" ", ".")
        movie_dir = self.root / "content" / f"Chaos.{word}.Film.2024.1080p.WEB-DL.AAC.x264-CHAOS"
        pack_dir = self.root / "content" / f"Chaos.{word}.Show.S01.1080p.WEB-DL.AAC.x264-CHAOS"
        make_clip(movie_dir / f"{movie_dir.name}.mkv", seconds=2, size="320x240")
        make_clip(pack_dir / f"Chaos.{word}.Show.S01E01.1080p.WEB-DL.AAC.x264-CHAOS.mkv", seconds=2, size="320x240")
        make_clip(pack_dir / f"Chaos.{word}.Show.S01E02E03.1080p.WEB-DL.AAC.x264-CHAOS.mkv", seconds=2,
                  size="320x240")
        items = list(self.env.indexer.items)
        for path, category in ((movie_dir, 2000), (pack_dir, 5000)):
            data, info_hash = make_torrent(path)
            self.env.seeder.api().torrents_add(torrent_files={"t.torrent": data}, save_path=str(path.parent),
                                               is_paused=False, is_skip_checking=True)
            idx = len(self.env.indexer.torrents)
            self.env.indexer.torrents[idx] = data
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            items.append(FakeItem(path.name, size, seeders=1, info_hash=info_hash, category=category, magnet=False))
        self.env.indexer.items = items

    def config(self) -> Path:
        sshd = self.env.sshd
        for folder in (self.library / "movies", self.library / "tv", self.nas / "movies", self.nas / "tv"):
            folder.mkdir(parents=True, exist_ok=True)
        text = f"""
[worker]
poll_interval = 200
download_poll_interval = 300
encoder_poll_interval = 200
awaiting_poll_interval = 500
recovery_interval = 500
[writer]
flush_interval_ms = 200
[supervisor]
restart_backoff_seconds = 0.2
[search.retry]
base_seconds = 2.0
[download.retry]
base_seconds = 1.0
[encoders.retry]
base_seconds = 1.0
[delivery.retry]
base_seconds = 1.0
[[indexers]]
name = "chaos-indexer"
url = "{self.env.indexer.base_url}"
api_key = "env:CHAOS_INDEXER_KEY"
min_interval = 0.0
timeout = 10.0
[[quality_profiles]]
name = "chaos"
allowed = ["1080p webdl"]
cutoff = "1080p webdl"
min_seeders = 1
tv_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 5000}}}}
movie_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 50000}}}}
[[download_clients]]
name = "qbittorrent"
url = "{self.env.downloader.url}"
category = "chaos-{self.n}"
[encoders]
local = true
local_max_jobs = 2
[[encode_profiles]]
name = "chaos-x264"
codec = "libx264"
crf = 30
preset = "ultrafast"
max_height = 240
audio = "aac"
[[targets]]
name = "library"
protocol = "local"
movie_root = "{self.library}/movies"
tv_root = "{self.library}/tv"
[[targets]]
name = "nas"
protocol = "rsync"
host = "127.0.0.1"
port = {sshd.port}
user = "root"
key_file = "{sshd.key_file}"
movie_root = "{self.nas}/movies"
tv_root = "{self.nas}/tv"
connect_timeout = 5
command_timeout = 20
max_concurrent = 3
"""
        path = self.root / "annexd.toml"
        path.write_text(text)
        return path

    def start(self) -> DaemonProcess:
        self.releases()
        config = self.config()
        self.daemon = self.daemon_factory(self.root / "state", database_url=self.env.pg.url(self.dbname),
                                          env={"ANNEX_CONFIG": str(config), "CHAOS_INDEXER_KEY": INDEXER_KEY})
        return self.daemon.start()

    def request(self) -> None:
        assert self.daemon is not None
        code, _ = self.daemon.call("POST", "/api/v1/requests", {
            "type": "movie", "title": f"Chaos {self.words} Film", "year": 2024})
        assert code == 201
        code, _ = self.daemon.call("POST", "/api/v1/requests", {
            "type": "tv", "title": f"Chaos {self.words} Show", "year": 2024, "episodes": [
                {"season": 1, "episode": e, "title": f"Part {e}", "air_date": f"2024-01-0{e}"} for e in (1, 2, 3)]})
        assert code == 201
        self.result.items = 4

    # --- the database, read directly (the daemon may be dead) ------------------------------------------
    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(host="127.0.0.1", port=self.env.pg.port, user="postgres", dbname=self.dbname,
                                connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def statuses(self) -> dict[int, str]:
        return dict(self.rows("SELECT id, status FROM processing_item"))

    # --- kills ------------------------------------------------------------------------------------------
    def kill_in(self, stage: str, window_s: float, timeout: float = 90) -> None:
        """Wait for an item to enter ``stage``, let a random part of ``window_s`` pass, SIGKILL the daemon,
        start it again and time how long the caught items take to move on."""
        assert self.daemon is not None
        wanted = STAGES[stage]
        deadline = time.monotonic() + timeout
        hit = False
        while time.monotonic() < deadline:
            statuses = self.statuses()
            if wanted in statuses.values():
                hit = True
                break
            if statuses and all(s == "COMPLETED" for s in statuses.values()):
                break
            time.sleep(0.02)
        time.sleep(self.rng.uniform(0, window_s))
        caught = {i: s for i, s in self.statuses().items() if s in STAGES.values()}
        killed_at = time.monotonic()
        self.daemon.kill()
        self.daemon.start(migrate=False)
        restart_s = time.monotonic() - killed_at
        self.result.kills.append(Kill(stage, hit, restart_s, self.recovered(caught, killed_at)))

    def recovered(self, caught: dict[int, str], since: float, timeout: float = 90) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.statuses()
            if all(now.get(i) != s for i, s in caught.items()):
                return time.monotonic() - since
            time.sleep(0.05)
        return None

    # --- the end ----------------------------------------------------------------------------------------
    def finish(self, timeout: float = 150) -> TrialResult:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses()
            if len(statuses) == 4 and all(s in ("COMPLETED", "FAILED", "CANCELLED") for s in statuses.values()):
                break
            time.sleep(0.2)
        self.settle()
        self.check()
        return self.result

    def settle(self) -> None:
        """Temporary files a kill left are removed at the deliverer's polls: give them a moment, then stop."""
        assert self.daemon is not None
        try:
            wait_until(lambda: not self.leftovers(), timeout=20, what="leftover temp files removed")
        except AssertionError:
            pass  # reported by check()
        code = self.daemon.stop()
        if code != 0:
            self.result.problems.append(f"the daemon exited with {code}")

    def leftovers(self) -> list[Path]:
        roots = (self.library, self.nas, self.root / "state" / "encode")
        return [p for r in roots if r.exists() for p in r.rglob("*")
                if p.name.startswith(".annexd-") or ".partial" in p.name]

    def check(self) -> None:
        r = self.result
        statuses = self.statuses()
        r.lost = 4 - len(statuses)
        r.stuck = sum(1 for s in statuses.values() if s != "COMPLETED")
        if r.stuck:
            r.problems.append(f"items not COMPLETED: {self.rows('SELECT id, status, last_error FROM processing_item')}")
        logs = self.daemon.logs() if self.daemon else []
        completed = Counter(e.get("item_id") for e in logs if e.get("event") == "delivered" and "item_id" in e)
        added = Counter(e.get("info_hash") for e in logs if e.get("event") == "qbittorrent.added")
        commits = Counter(e.get("remote_path") for e in logs if e.get("event") == "delivered"
                          and "remote_path" in e and not e.get("skipped"))
        twice = {**{f"item {k}": v for k, v in completed.items() if v > 1},
                 **{f"torrent {k}": v for k, v in added.items() if v > 1},
                 **{f"file {k}": v for k, v in commits.items() if v > 1}}
        files = {t: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
                 for t, root in (("library", self.library), ("nas", self.nas))}
        for target, names in files.items():
            real = [n for n in names if not Path(n).name.startswith(".")]
            if len(real) != FILES_PER_TARGET:
                twice[f"{target} holds {len(real)} files"] = len(real)
        r.duplicated = len(twice)
        if twice:
            r.problems.append(f"done more than once: {twice}")
        if self.leftovers():
            r.problems.append(f"temporary files left: {self.leftovers()}")
        orphans = ffmpeg_under(self.root)
        if orphans:
            r.problems.append(f"ffmpeg left running: {orphans}")


def ffmpeg_under(root: Path) -> list[int]:
    """ffmpeg processes working on files under ``root`` (only this test's, whatever else runs on the machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("ffmpeg") and str(root) in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def summary(results: list[TrialResult]) -> str:
    """The chaos figures: trials, kills per stage, items lost / duplicated / stuck, recovery times."""
    kills = [k for r in results for k in r.kills]
    lines = [f"chaos: {len(results)} trial(s), {len(kills)} SIGKILLs, "
             f"{sum(r.items for r in results)} items; lost {sum(r.lost for r in results)}, "
             f"duplicated {sum(r.duplicated for r in results)}, stuck {sum(r.stuck for r in results)}"]
    for stage in STAGES:
        at = [k for k in kills if k.stage == stage]
        hits = [k for k in at if k.hit]
        rec = [k.recovery_s for k in hits if k.recovery_s is not None]
        restarts = [k.restart_s for k in at]
        lines.append(
            f"  {stage:<8} kills {len(at):>3} (item in stage: {len(hits):>3})  restart to /health 200 "
            f"{_stats(restarts)}  caught items moving on {_stats(rec)}")
    durations = [r.seconds for r in results]
    lines.append(f"  trial duration {_stats(durations)}")
    return "\n".join(lines)


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"median {statistics.median(values):.1f} s, max {max(values):.1f} s" if len(values) > 1
            else f"{values[0]:.1f} s")


def run_trial(env: Components, root: Path, n: int, seed: int, daemon_factory: Callable[..., DaemonProcess],
              windows: dict[str, float] | None = None) -> TrialResult:
    """Start the daemon, request four items, SIGKILL it once in every stage (restarting it each time), and
    check the end state."""
    windows = windows or {"search": 0.3, "download": 1.0, "encode": 0.6, "deliver": 0.6}
    started = time.monotonic()
    trial = Trial(env, root, n, seed, daemon_factory)
    trial.start()
    trial.request()
    for stage in STAGES:
        trial.kill_in(stage, windows[stage])
    result = trial.finish()
    result.seconds = time.monotonic() - started
    return result


def dump(results: list[TrialResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.__dict__ | {"kills": [k.__dict__ for k in r.kills]} for r in results],
                               indent=2, default=str))


