"""Two real daemons on one PostgreSQL share the work: every request is searched exactly once."""

import json
from collections import Counter

from tests.fakes.torznab import FakeItem, FakeTorznab
from tests.util import wait_until

KEY = "shared-indexer-key-77"
GB = 1_000_000_000


def test_two_daemons_never_search_one_request_twice(tmp_path, postgres_server, daemon_factory):
    titles = [f"Shared Film {i}" for i in range(24)]
    indexer = FakeTorznab(api_key=KEY, items=[
        FakeItem(f"Shared.Film.{i}.2020.1080p.WEB-DL.x264-GRP", 4 * GB, info_hash=f"{i + 1:040x}", category=2000)
        for i in range(24)]).start()
    # Each film's search returns only its own release, so a second search of one request would show.
    indexer.results = lambda params: [
        it for it in indexer.items
        if it.title.startswith(params.get("q", "").split(" 2020")[0].replace(" ", ".") + ".2020")]
    url = postgres_server.url(postgres_server.create_database())
    env = {"ANNEX_INDEXERS": json.dumps([{"name": "shared", "url": indexer.base_url, "api_key": KEY,
                                          "min_interval": 0.0}]),
           "ANNEX_WORKER_POLL_INTERVAL": "50", "ANNEX_WORKER_CLAIM_BATCH": "2"}
    first = daemon_factory(tmp_path / "a", env=env, database_url=url)
    second = daemon_factory(tmp_path / "b", env=env, database_url=url)
    try:
        first.start()
        second.start(migrate=False)
        for title in titles:
            daemon = first if len(title) % 2 else second
            assert daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": title, "year": 2020})[0] == 201

        def all_found():
            rows = first.get("/api/v1/requests?per_page=100")[1]["requests"]
            return len(rows) == 24 and all(r["status"] == "FOUND" for r in rows)

        wait_until(all_found, timeout=60, what="every request FOUND")
        # (Queries without "q" are the indexer's recent-releases feed, polled by one daemon.)
        searched = Counter(q["q"] for q in indexer.searches() if q.get("q"))
        assert sorted(searched) == sorted(f"{t} 2020" for t in titles)
        assert set(searched.values()) == {1}, searched
        per_daemon = [sum(1 for e in d.logs() if e.get("event") == "searched") for d in (first, second)]
        # Both took part (each was woken by the requests posted to it), and together once per request.
        assert sum(per_daemon) == 24 and min(per_daemon) >= 1, per_daemon
    finally:
        first.stop()
        second.stop()
        indexer.stop()


def test_two_daemons_map_each_completed_download_once(tmp_path, postgres_server, qbt_pair, daemon_factory):
    """Real qbittorrent-nox downloads: each Download is claimed by one daemon, which adds, polls and maps it."""
    from store.db import open_database
    from store.models import Download, DownloadFile, ProcessingItem
    from tests.scenario import TorrentIndexer
    from tests.servers.qbittorrent import PeerIntroducer, make_content

    films = [f"Claimed.Film.{i}.2020.1080p.WEB-DL.x264-GRP" for i in range(6)]
    indexer = TorrentIndexer(api_key=KEY)
    indexer.torrents, indexer.items = {}, []
    for idx, name in enumerate(films):
        torrent, info_hash = qbt_pair.seed(make_content(qbt_pair.content_root / name, {f"{name}.mkv": 1_000_000}))
        indexer.torrents[idx] = torrent
        indexer.items.append(FakeItem(name, 1_000_000, seeders=1, info_hash=info_hash, category=2000, magnet=False))
    indexer.start()  # every search lists every film (download links are by position): annexd picks by title
    peers = PeerIntroducer(qbt_pair.downloader, qbt_pair.seeder, interval=0.3).start()
    url = postgres_server.url(postgres_server.create_database())
    profile = {"name": "any", "allowed": ["1080p webdl"], "cutoff": "1080p webdl", "min_seeders": 1,
               "movie_sizes": {"1080p webdl": {"min_mb": 0, "max_mb": 50000}}}
    env = {"ANNEX_INDEXERS": json.dumps([{"name": "shared", "url": indexer.base_url, "api_key": KEY,
                                          "min_interval": 0.0}]),
           "ANNEX_QUALITY_PROFILES": json.dumps([profile]),
           "ANNEX_DOWNLOAD_CLIENTS": json.dumps([{"name": "qbt", "url": qbt_pair.downloader.url,
                                                  "category": "annexd-two"}]),
           "ANNEX_ENCODERS_LOCAL": "false", "ANNEX_WORKER_POLL_INTERVAL": "100",
           "ANNEX_DOWNLOAD_POLL_INTERVAL": "200", "ANNEX_WORKER_CLAIM_BATCH": "1"}
    first = daemon_factory(tmp_path / "a", env=env, database_url=url)
    second = daemon_factory(tmp_path / "b", env=env, database_url=url)
    db = open_database(url)
    try:
        first.start()
        second.start(migrate=False)
        for i, name in enumerate(films):
            title = name.split(".2020")[0].replace(".", " ")
            daemon = (first, second)[i % 2]
            assert daemon.call("POST", "/api/v1/requests", {"type": "movie", "title": title, "year": 2020})[0] == 201

        def all_downloaded():
            rows = first.get("/api/v1/requests?per_page=100")[1]["requests"]
            return len(rows) == 6 and all(r["status"] == "DOWNLOADED" for r in rows)

        wait_until(all_downloaded, timeout=120, what="every film DOWNLOADED")
        with db.connection_context():
            files = Counter(f.item_id for f in DownloadFile.select().where(DownloadFile.role == "video"))
            assert sorted(files.values()) == [1] * 6, files  # each item mapped once
            assert ProcessingItem.select().where(ProcessingItem.source_file_path.is_null()).count() == 0
            holders = Counter(d.claimed_by for d in Download.select())
    finally:
        first.stop()
        second.stop()
        peers.stop()
        indexer.stop()
        db.close_all()
    # Read once stopped: the logs are complete then.
    mapped = [Counter(e["info_hash"] for e in d.logs() if e.get("event") == "files_mapped") for d in (first, second)]
    assert sum(mapped, Counter()) == Counter({h: 1 for h in (it.info_hash for it in indexer.items)}), mapped
    completed = sum((Counter(e["info_hash"] for e in d.logs() if e.get("event") == "download_complete")
                     for d in (first, second)), Counter())
    assert set(completed.values()) == {1}, completed  # each torrent polled to completion by one daemon
    assert len(holders) == 2 and all(mapped), (holders, mapped)  # both took part, each with its own
