"""Overseerr's calls to annexd as its Radarr, end to end through the daemon with real components: the settings
test, then a movie request exactly as Overseerr sends it (the key in the query string, the lookup, then the add
with a profile, a root folder and a tag). The request is created, downloaded by real qBittorrent (throttled,
so the queue shows its progress meanwhile), encoded by real ffmpeg, delivered to a local target and
``hasFile`` turns true; the key never reaches the logs."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.fakes.tmdb import FakeTmdb
from tests.fakes.torznab import FakeItem
from tests.media import make_clip
from tests.scenario import TorrentIndexer
from tests.servers.annexd import API_KEY
from tests.servers.qbittorrent import PeerIntroducer
from tests.util import wait_until

INDEXER_KEY = "arr-e2e-indexer-key-77"
TMDB_KEY = "arr-e2e-tmdb-key-4242"
NAME = "The.Matrix.1999.1080p.WEB-DL.AAC.x264-ARR"
HEADERS = {"Accept": "application/json, text/plain, */*", "Content-Type": "application/json"}


def _config(root, indexer_url, qbt_url, tmdb_url):
    text = f"""
[worker]
poll_interval = 300
download_poll_interval = 300
encoder_poll_interval = 300

[writer]
flush_interval_ms = 200
progress_min_interval_ms = 200

[tmdb]
api_key = "env:ARR_E2E_TMDB"
base_url = "{tmdb_url}"

[[indexers]]
name = "indexer"
url = "{indexer_url}"
api_key = "env:ARR_E2E_INDEXER"
min_interval = 0.0

[[quality_profiles]]
name = "hd"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"
movie_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 50000}}, "720p webdl" = {{min_mb = 0, max_mb = 50000}}}}

[[download_clients]]
name = "qbittorrent"
url = "{qbt_url}"
category = "annexd-arr-e2e"

[[encode_profiles]]
name = "fast"
codec = "libx264"
crf = 30
preset = "ultrafast"
max_height = 240
audio = "aac"

[[targets]]
name = "library"
protocol = "local"
movie_root = "{root}/library/movies"
tv_root = "{root}/library/tv"
encode_profile = "fast"
"""
    (root / "library" / "movies").mkdir(parents=True)
    (root / "library" / "tv").mkdir(parents=True)
    path = root / "annexd.toml"
    path.write_text(text)
    return path


class Overseerr:
    """Calls shaped as Overseerr's servarr client sends them: ``?apikey=`` on every call, JSON headers."""

    def __init__(self, base: str, key: str):
        self.base, self.key = base, key

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> tuple[int, Any]:
        params = urllib.parse.urlencode({**(query or {}), "apikey": self.key})
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/api/v3/{path}?{params}", data=data, method=method,
                                     headers=HEADERS)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, json.loads(raw) if raw else None


def test_overseerr_requests_a_movie_from_annexd_as_radarr_and_it_completes(
        tmp_path, qbt_pair, ffmpeg, postgres_server, daemon_factory):
    content = tmp_path / "content" / NAME
    content.mkdir(parents=True)
    make_clip(content / f"{NAME}.mkv", seconds=4, size="320x240")
    torrent, info_hash = qbt_pair.seed(content)
    size = sum(f.stat().st_size for f in content.iterdir())
    indexer = TorrentIndexer(api_key=INDEXER_KEY)
    indexer.torrents = {0: torrent}
    indexer.items = [FakeItem(NAME, size, seeders=1, info_hash=info_hash, magnet=False)]
    indexer.start()
    tmdb = FakeTmdb(api_key=TMDB_KEY).start()
    peers = PeerIntroducer(qbt_pair.downloader, qbt_pair.seeder, interval=0.5).start()
    downloader = qbt_pair.downloader.api()
    # Slow enough that the queue is read while the movie downloads (loopback peers are limited too).
    downloader.app_set_preferences({"limit_lan_peers": True, "dl_limit": max(20_000, size // 6)})
    config = _config(tmp_path, indexer.base_url, qbt_pair.downloader.url, tmdb.base_url)
    daemon = daemon_factory(tmp_path / "state", env={
        "ANNEX_CONFIG": str(config), "ARR_E2E_INDEXER": INDEXER_KEY, "ARR_E2E_TMDB": TMDB_KEY},
        database_url=postgres_server.url(postgres_server.create_database()))
    overseerr = Overseerr(f"{daemon.url}/radarr", API_KEY)
    try:
        daemon.start()
        # Settings "Test": status (for urlBase), profiles, root folders, tags.
        status, system = overseerr.call("GET", "system/status")
        assert status == 200 and system["urlBase"] == "/radarr" and system["appName"] == "Radarr"
        status, profiles = overseerr.call("GET", "qualityProfile")
        assert status == 200 and [p["name"] for p in profiles] == ["hd"]
        status, roots = overseerr.call("GET", "rootfolder")
        assert status == 200 and [r["path"] for r in roots] == [f"{tmp_path}/library/movies"]
        assert roots[0]["freeSpace"] > 0 and roots[0]["accessible"] is True
        assert overseerr.call("GET", "tag")[0] == 200
        # The request: tag, lookup, add.
        status, tag = overseerr.call("POST", "tag", body={"label": "1 - Admin"})
        assert status == 201 and tag["label"] == "1 - admin"
        status, found = overseerr.call("GET", "movie/lookup", {"term": "tmdb:603"})
        assert status == 200 and found[0]["tmdbId"] == 603 and "id" not in found[0]
        assert found[0]["added"] == "0001-01-01T00:00:00Z" and found[0]["title"] == "The Matrix"
        status, movie = overseerr.call("POST", "movie", body={
            "title": "The Matrix", "qualityProfileId": profiles[0]["id"], "profileId": profiles[0]["id"],
            "titleSlug": "603", "minimumAvailability": "released", "tmdbId": 603, "year": 1999,
            "rootFolderPath": roots[0]["path"], "monitored": True, "tags": [tag["id"]],
            "addOptions": {"searchForMovie": True}})
        assert status == 201, movie
        movie_id = movie["id"]
        assert movie["titleSlug"] == "603" and movie["monitored"] is True and movie["tags"] == [tag["id"]]
        assert movie["hasFile"] is False and movie["path"] == f"{tmp_path}/library/movies/The Matrix (1999)"
        # Asked again, it has already been added.
        status, refused = overseerr.call("POST", "movie", body={**movie, "id": 0})
        assert status == 400 and refused[0]["errorMessage"] == "This movie has already been added"

        def downloading() -> dict[str, Any] | None:
            page = overseerr.call("GET", "queue", {"includeEpisode": "true"})[1]
            return next((r for r in page["records"] if r.get("movieId") == movie_id
                         and r["status"] == "downloading" and 0 < r["sizeleft"] < r["size"]
                         and "timeleft" in r), None)  # timeleft: once qBittorrent reports an ETA

        try:
            record = wait_until(downloading, timeout=90, interval=0.1, what="the queue shows the download's progress")
        except AssertionError:
            items = daemon.get(f"/api/v1/requests/{movie_id}/items")
            raise AssertionError(f"{items} {overseerr.call('GET', 'queue')} {daemon.logs()[-30:]}") from None
        assert record["downloadId"] == info_hash.upper() and record["title"] == NAME and record["size"] == size
        assert record["protocol"] == "torrent" and record["downloadClient"] == "qbittorrent"
        assert record["estimatedCompletionTime"].endswith("Z") and record["trackedDownloadState"] == "downloading"
        downloader.app_set_preferences({"dl_limit": 0})

        def has_file() -> dict[str, Any] | None:
            status, got = overseerr.call("GET", f"movie/{movie_id}")
            assert status == 200
            return got if got["hasFile"] else None

        done = wait_until(has_file, timeout=180, what="the movie delivered: hasFile")
        assert done["sizeOnDisk"] > 0 and done["movieFile"]["path"].startswith(f"{tmp_path}/library/movies/")
        status, again = overseerr.call("GET", "movie/lookup", {"term": "tmdb:603"})
        assert again[0]["id"] == movie_id and again[0]["hasFile"] is True and again[0]["monitored"] is True
        assert overseerr.call("GET", "queue")[1]["totalRecords"] == 0
        status, listed = overseerr.call("GET", "movie")
        assert [(m["id"], m["tmdbId"], m["hasFile"]) for m in listed] == [(movie_id, 603, True)]
        assert tmdb.count("/3/movie/603") >= 1
        logs = json.dumps(daemon.logs())
        assert API_KEY not in logs and TMDB_KEY not in logs and INDEXER_KEY not in logs
        assert "apikey=********" in logs  # the access lines name the call, with the key masked
    finally:
        downloader.app_set_preferences({"limit_lan_peers": False, "dl_limit": 0})
        daemon.stop()
        peers.stop()
        tmdb.stop()
        indexer.stop()
