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
