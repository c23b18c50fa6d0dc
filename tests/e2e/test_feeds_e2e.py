"""A feed release for an AWAITING episode, end to end through the daemon with real components: the indexer's
recent-releases feed and a plain RSS feed both announce it, it is grabbed once (real qBittorrent), encoded (real
ffmpeg through the built-in agent), delivered to a local target and COMPLETED."""

import json
import urllib.request
from datetime import UTC, datetime

from aiohttp import web

from tests.fakes.torznab import TORZNAB_NS, FakeItem, serve_in_thread
from tests.media import make_clip
from tests.scenario import TorrentIndexer
from tests.servers.qbittorrent import PeerIntroducer
from tests.util import wait_until

KEY = "feeds-e2e-indexer-key-31"
NAME = "Feed.Show.S01E01.1080p.WEB-DL.AAC.x264-FEED"


def _config(root, indexer_url, rss_url, qbt_url):
    (root / "library").mkdir(parents=True)
    text = f"""
[worker]
poll_interval = 300
download_poll_interval = 500
encoder_poll_interval = 300

[writer]
flush_interval_ms = 250

[[indexers]]
name = "indexer"
url = "{indexer_url}"
api_key = "env:FEEDS_E2E_KEY"
min_interval = 0.0

[[feeds]]
name = "tracker-rss"
url = "{rss_url}"

[[quality_profiles]]
name = "hd"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"
tv_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 5000}}, "720p webdl" = {{min_mb = 0, max_mb = 5000}}}}

[[download_clients]]
name = "qbittorrent"
url = "{qbt_url}"
category = "annexd-feeds-e2e"

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
    path = root / "annexd.toml"
    path.write_text(text)
    return path


def test_a_feed_release_for_an_awaiting_episode_is_grabbed_once_and_completed(
        tmp_path, qbt_pair, ffmpeg, postgres_server, daemon_factory):
    content = tmp_path / "content" / NAME
    content.mkdir(parents=True)
    make_clip(content / f"{NAME}.mkv", seconds=2, size="320x240")
    torrent, info_hash = qbt_pair.seed(content)
    size = sum(f.stat().st_size for f in content.iterdir())
    release = FakeItem(NAME, size, seeders=1, info_hash=info_hash, magnet=False,
                       pub_date=datetime.now(UTC).replace(microsecond=0))
    indexer = TorrentIndexer(api_key=KEY)
    indexer.torrents = {0: torrent}
    indexer.results = lambda params: []  # searches find nothing: the episode waits for a feed
    indexer.feed = []
    indexer.start()
    rss = {"items": ""}

    async def rss_feed(request):
        return web.Response(text=f'<rss version="2.0" xmlns:torznab="{TORZNAB_NS}"><channel><title>t</title>'
                                 f'{rss["items"]}</channel></rss>', content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/rss", rss_feed)
    rss_url, stop_rss = serve_in_thread(app)
    peers = PeerIntroducer(qbt_pair.downloader, qbt_pair.seeder, interval=0.5).start()
    config = _config(tmp_path, indexer.base_url, f"{rss_url}/rss", qbt_pair.downloader.url)
    daemon = daemon_factory(tmp_path / "state", env={"ANNEX_CONFIG": str(config), "FEEDS_E2E_KEY": KEY},
                            database_url=postgres_server.url(postgres_server.create_database()))
    try:
        daemon.start()
        code, created = daemon.call("POST", "/api/v1/requests", {
            "type": "tv", "title": "Feed Show", "targets": ["library"], "quality_profile": "hd",
            "episodes": [{"season": 1, "episode": 1, "title": "Pilot", "air_date": "2024-01-01"}]})
        assert code == 201, created
        items_path = f"/api/v1/requests/{created['id']}/items"

        def item():
            return daemon.get(items_path)[1]["items"][0]

        wait_until(lambda: item()["status"] == "AWAITING", timeout=30, what="searched, nothing found: AWAITING")
        # Both feeds announce the release (same torrent): the indexer's feed and the tracker's RSS.
        indexer.announce(release)
        rss["items"] = release.to_xml(indexer.base_url, KEY, 0)
        assert daemon.call("POST", "/api/v1/feeds/sync")[0] == 202
        done = wait_until(lambda: (i := item())["status"] in ("COMPLETED", "FAILED") and i, timeout=180,
                          what="the episode COMPLETED")
        assert done["status"] == "COMPLETED", done
        [delivery] = done["deliveries"]
        assert delivery["target"] == "library" and delivery["status"] == "DONE"
        torrents = qbt_pair.downloader.api().torrents_info(category="annexd-feeds-e2e")
        assert [t.hash for t in torrents] == [info_hash]  # grabbed once
        feeds = {f["name"]: f for f in daemon.get("/api/v1/feeds")[1]["feeds"]}
        assert set(feeds) == {"indexer", "tracker-rss"} and all(f["error"] is None for f in feeds.values())
        with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        assert 'annexd_feed_releases_total{feed="indexer",outcome="matched"} 1.0' in metrics
        assert 'annexd_feed_last_poll_timestamp_seconds{feed="tracker-rss"}' in metrics
        logs = daemon.logs()
        matched = [e for e in logs if e.get("event") == "feed_polled" and e.get("matched")]
        assert sum(e["matched"] for e in matched) == 1, matched
        assert KEY not in json.dumps(logs)
    finally:
        daemon.stop()
        peers.stop()
        stop_rss()
        indexer.stop()
