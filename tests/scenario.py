"""The whole pipeline on one machine with real components: `make demo` runs it with live output, and
tests/e2e/test_demo_scenario.py runs the same scenario quietly inside `make test`.

Real: a throwaway PostgreSQL, qbittorrent-nox (seeder + downloader), ffmpeg through the built-in encoder
agent, a loopback sshd for the rsync target, and the annexd daemon itself as a subprocess. Fake (they cannot
run here): the Torznab indexer serving torrents of generated clips, and Plex recording the rescans.
Requested: one movie and three episodes of a season, served as a season pack. The two targets ask for
different encode profiles (x264 360p for the local library, HEVC 240p for the NAS), so each item is encoded
twice.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.mediaservers import FakePlex
from tests.fakes.torznab import FakeItem, FakeTorznab, serve_in_thread
from tests.media import make_clip
from tests.servers.annexd import DaemonProcess
from tests.servers.postgres import PostgresServer, start_postgres
from tests.servers.qbittorrent import PeerIntroducer, QbtInstance, make_torrent, start_instance
from tests.servers.sshd import SshdServer
from tests.util import wait_until

INDEXER_KEY = "demo-indexer-key-8822"
PLEX_TOKEN = "demo-plex-token-4411"
MOVIE = "Big.Buck.Demo.2024.1080p.WEB-DL.AAC.x264-DEMO"
PACK = "Demo.Show.S01.1080p.WEB-DL.AAC.x264-DEMO"


class TorrentIndexer(FakeTorznab):
    """The fake Torznab indexer, plus the download links it hands out (a .torrent per release)."""

    torrents: dict[int, bytes]

    def start(self) -> TorrentIndexer:
        app = web.Application()
        app.router.add_get("/api", self._handle)
        app.router.add_get("/dl/{idx}", self._download)
        self.base_url, self._stop = serve_in_thread(app)
        return self

    async def _download(self, request: web.Request) -> web.Response:
        if request.query.get("apikey") != self.api_key:
            return web.Response(status=401)
        data = self.torrents.get(int(request.match_info["idx"]))
        return web.Response(body=data, content_type="application/x-bittorrent") if data else web.Response(status=404)


@dataclass
class Scenario:
    root: Path
    say: Callable[[str], None] = print
    stack: list[Callable[[], None]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.monotonic()
        value = fn()
        self.timings[name] = time.monotonic() - started
        return value

    # --- components ------------------------------------------------------------------------------------
    def start_components(self) -> None:
        self.pg: PostgresServer = self.timed("postgresql", start_postgres)
        self.stack.append(self.pg.destroy)
        self.seeder: QbtInstance = start_instance(self.root / "qbt", "seeder")
        self.stack.append(self.seeder.stop)
        self.downloader: QbtInstance = start_instance(self.root / "qbt", "downloader")
        self.stack.append(self.downloader.stop)
        self.sshd = SshdServer(self.root / "sshd", self.root / "nas")
        self.sshd.root.mkdir(parents=True)
        self.sshd.setup()
        self.sshd.start()
        self.stack.append(self.sshd.stop)
        self.plex = FakePlex(PLEX_TOKEN, sections=[
            ("1", "movie", "Movies", [str(self.root / "library/movies")]),
            ("2", "show", "TV Shows", [str(self.root / "library/tv")]),
        ]).start()
        self.stack.append(self.plex.stop)
        self.say(f"components up: postgresql :{self.pg.port}, qbittorrent seeder :{self.seeder.port} and "
                 f"downloader :{self.downloader.port}, sshd :{self.sshd.port}, fake plex {self.plex.url}")

    def make_releases(self) -> None:
        """Clips made with ffmpeg, seeded as real torrents, listed by the fake indexer."""
        content = self.root / "content"
        for folder in (MOVIE, PACK):
            (content / folder).mkdir(parents=True, exist_ok=True)
        movie = make_clip(content / MOVIE / f"{MOVIE}.mkv", seconds=3, size="640x360")
        pack = content / PACK
        for ep in (1, 2, 3):
            make_clip(pack / f"Demo.Show.S01E0{ep}.1080p.WEB-DL.AAC.x264-DEMO.mkv", seconds=2, size="640x360")
        (pack / "Demo.Show.S01.nfo").write_text("release notes\n")
        self.indexer = TorrentIndexer(api_key=INDEXER_KEY)
        self.indexer.torrents = {}
        items = []
        for idx, (path, category) in enumerate(((movie.parent, 2000), (pack, 5000))):
            data, info_hash = make_torrent(path)
            self.seeder.api().torrents_add(torrent_files={"t.torrent": data}, save_path=str(path.parent),
                                           is_paused=False, is_skip_checking=True)
            self.indexer.torrents[idx] = data
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            items.append(FakeItem(path.name, size, seeders=1, info_hash=info_hash, category=category, magnet=False))
        self.indexer.items = items
        self.indexer.start()
        self.stack.append(self.indexer.stop)

    # --- annexd ------------------------------------------------------------------------------------------
    def config(self) -> Path:
        lib, nas = self.root / "library", self.sshd.root
        text = f"""
[worker]
poll_interval = 300
download_poll_interval = 500
encoder_poll_interval = 300
awaiting_poll_interval = 1000

[writer]
flush_interval_ms = 250

[[indexers]]
name = "demo-indexer"
url = "{self.indexer.base_url}"
api_key = "env:DEMO_INDEXER_KEY"
min_interval = 0.0

[[quality_profiles]]
name = "demo"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"
min_seeders = 1
tv_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 5000}}, "720p webdl" = {{min_mb = 0, max_mb = 5000}}}}
movie_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 50000}}, "720p webdl" = {{min_mb = 0, max_mb = 50000}}}}

[[download_clients]]
name = "qbittorrent"
url = "{self.downloader.url}"
category = "annexd"

[encoders]
local = true
local_max_jobs = 2

[[encode_profiles]]
name = "demo-x264"
codec = "libx264"
crf = 28
preset = "ultrafast"
max_height = 360
audio = "aac"

[[encode_profiles]]
name = "demo-hevc"
codec = "libx265"
crf = 32
preset = "ultrafast"
max_height = 240
audio = "opus"

[[targets]]
name = "library"
protocol = "local"
movie_root = "{lib}/movies"
tv_root = "{lib}/tv"
media_server = "plex"
encode_profile = "demo-x264"

[[targets]]
name = "nas"
protocol = "rsync"
host = "127.0.0.1"
port = {self.sshd.port}
user = "root"
key_file = "{self.sshd.key_file}"
encode_profile = "demo-hevc"
movie_root = "{nas}/movies"
tv_root = "{nas}/tv"

[[media_servers]]
name = "plex"
kind = "plex"
url = "{self.plex.url}"
token = "secret:plex_token"
"""
        path = self.root / "annexd.toml"
        path.write_text(text)
        for sub in ("library/movies", "library/tv"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("movies", "tv"):
            (self.sshd.root / sub).mkdir(parents=True, exist_ok=True)
        return path

    def start_daemon(self) -> DaemonProcess:
        config = self.config()
        db = self.database = self.pg.create_database()
        daemon = DaemonProcess(self.root / "state", database_url=self.pg.url(db),
                               env={"ANNEX_CONFIG": str(config), "DEMO_INDEXER_KEY": INDEXER_KEY})
        daemon.state_dir.mkdir(parents=True, exist_ok=True)
        daemon.cli("migrate")
        stored = __import__("subprocess").run(
            [*daemon_cli(), "secret", "set", "plex_token"], input=PLEX_TOKEN, env=daemon.env, text=True,
            capture_output=True, timeout=60, check=True)
        self.say(stored.stdout.strip())
        daemon.start(migrate=False)
        self.stack.append(daemon.stop)
        self.daemon = daemon
        self.say(f"annexd running at {daemon.url} (logs: {daemon.log_path})")
        return daemon

    def request(self) -> tuple[int, int]:
        code, movie = self.daemon.call("POST", "/api/v1/requests", {
            "type": "movie", "title": "Big Buck Demo", "year": 2024, "targets": ["library", "nas"]})
        assert code == 201, movie
        code, show = self.daemon.call("POST", "/api/v1/requests", {
            "type": "tv", "title": "Demo Show", "year": 2024, "targets": ["library", "nas"], "episodes": [
                {"season": 1, "episode": e, "title": f"Episode {e}", "air_date": f"2024-0{e}-01"} for e in (1, 2, 3)]})
        assert code == 201, show
        return movie["id"], show["id"]

    def watch(self, request_ids: tuple[int, ...], timeout: float) -> list[dict[str, Any]]:
        """Print each change of an item's status or progress until every item is COMPLETED (or FAILED)."""
        seen: dict[int, tuple[str, int]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = [i for rid in request_ids for i in self.daemon.get(f"/api/v1/requests/{rid}/items")[1]["items"]]
            for item in items:
                key = (item["status"], int(item["progress"] // 25))
                if seen.get(item["id"]) != key:
                    seen[item["id"]] = key
                    label = item["title"] or f"S{item['season']:02}E{item['episode']:02}"
                    self.say(f"  item {item['id']:>2} {label:<16} {item['status']:<12} {item['progress']:5.1f}%  "
                             f"{item.get('detail') or ''}")
            if all(i["status"] in ("COMPLETED", "FAILED", "CANCELLED") for i in items):
                return items
            time.sleep(0.3)
        raise AssertionError(f"the pipeline did not finish in {timeout}s: {seen}")

    def report(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for item in items:
            created = _parse(item["created_at"])
            row = {"id": item["id"], "title": item["title"], "status": item["status"],
                   "download_s": _delta(created, item["downloaded_at"]),
                   "encode_s": _delta(item["downloaded_at"], item["encoded_at"]),
                   "deliver_s": _delta(item["encoded_at"], item["delivered_at"]),
                   "total_s": _delta(created, item["delivered_at"]), "deliveries": item["deliveries"]}
            rows.append(row)
            self.say(f"{item['title'] or 'movie'}: {item['status']} in {row['total_s']} s "
                     f"(search+download {row['download_s']} s, encode {row['encode_s']} s, "
                     f"deliver {row['deliver_s']} s)")
            for d in item["deliveries"]:
                self.say(f"    {d['target']:<8} -> {d['remote_path']}")
        refreshed = self.plex.refreshes() if hasattr(self.plex, "refreshes") else []
        self.say(f"plex rescans recorded: {len(refreshed)}")
        return rows

    def close(self) -> None:
        while self.stack:
            try:
                self.stack.pop()()
            except Exception as exc:  # keep tearing down the rest
                self.say(f"teardown: {exc!r}")


def daemon_cli() -> list[str]:
    return [sys.executable, "-m", "annexd.cli"]


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.rstrip("Z")) if value else None


def _delta(start: Any, end: Any) -> float | None:
    a = _parse(start) if isinstance(start, str) else start
    b = _parse(end) if isinstance(end, str) else end
    return round((b - a).total_seconds(), 1) if a and b else None


def run(root: Path, say: Callable[[str], None] = print, timeout: float = 300,
        inspect: Callable[[Scenario], Any] | None = None) -> dict[str, Any]:
    """The scenario; ``inspect`` looks at the finished pipeline (database, API) before the daemon stops."""
    scenario = Scenario(root, say)
    try:
        scenario.start_components()
        scenario.make_releases()
        scenario.start_daemon()
        peers = PeerIntroducer(scenario.downloader, scenario.seeder, interval=0.5).start()
        scenario.stack.append(peers.stop)
        started = time.monotonic()
        ids = scenario.request()
        say(f"requested: movie #{ids[0]}, season 1 episodes 1-3 #{ids[1]}")
        items = scenario.watch(ids, timeout)
        say(f"pipeline finished in {time.monotonic() - started:.1f} s")
        rows = scenario.report(items)
        wait_until(lambda: scenario.daemon.get("/health")[0] == 200, timeout=10, what="healthy at the end")
        inspected = inspect(scenario) if inspect else None
        scenario.daemon.signal(signal.SIGTERM)
        exit_code = scenario.daemon.wait(60)
        return {"items": rows, "exit_code": exit_code, "plex": scenario.plex.refreshes(),
                "root": root, "daemon_logs": scenario.daemon.logs(), "inspected": inspected,
                "log_text": scenario.daemon.log_path.read_text()}
    finally:
        scenario.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="annexd end to end with real components")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="annexd-demo-"))
    try:
        result = run(root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    ok = all(r["status"] == "COMPLETED" for r in result["items"]) and result["exit_code"] == 0
    print("demo OK" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
