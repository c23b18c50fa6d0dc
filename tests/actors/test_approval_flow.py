"""A requester's request waits for approval and nothing searches it; an admin's approval starts the search at
once. Search polls once an hour here, so only the approval's wake-up can start it (real PostgreSQL, the HTTP
app in-process sharing the daemon's actor context, a fake Torznab indexer)."""

import time

import pytest

from actors.context import ActorContext
from actors.messages import Wake
from actors.search import SearchWorker
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config import Config
from annexd.domain.users import Role
from annexd.http.app import HttpDeps, make_app
from store import queries
from store.models import utcnow
from tests.fakes.torznab import FakeItem, FakeTorznab
from tests.util import wait_until

KEY = "idx-key-approval-0123"
ADMIN_KEY = "admin-key-approval-0123"
HOUR_MS = 3_600_000
GB = 1_000_000_000


@pytest.fixture
def indexer():
    fake = FakeTorznab(api_key=KEY).start()
    fake.items = [FakeItem("The.Show.S01.1080p.WEB-DL.x264-PACK", 6 * GB, seeders=20, info_hash="11" * 20),
                  FakeItem("The.Show.S02.1080p.WEB-DL.x264-PACK", 6 * GB, seeders=20, info_hash="22" * 20)]
    yield fake
    fake.stop()


@pytest.fixture
async def setup(pg, indexer, aiohttp_client):
    from dataclasses import replace

    from annexd.config import HttpConfig

    ctx = ActorContext(db=pg, config=replace(Config(), http=replace(HttpConfig(), api_key=ADMIN_KEY)))
    idx = TorznabIndexer(name="fake", url=indexer.base_url, api_key=KEY, min_interval=0.0, timeout=2.0)
    search = SearchWorker.start(ctx, HOUR_MS, [TorznabClient(idx)])
    ctx.workers["search"] = search
    client = await aiohttp_client(make_app(HttpDeps(ctx=ctx)))
    yield ctx, client
    search.stop()


def _items(db, request_id):
    with db.connection_context():
        return {(i.season, i.episode): i.status for i in queries.request_items(request_id)}


async def test_approval_starts_the_search_at_once(pg, indexer, setup):
    ctx, client = setup
    with pg.connection_context():
        alice = {"X-Api-Key": queries.add_user("alice", Role.REQUESTER, frozenset(), utcnow())}
    body = {"type": "tv", "title": "The Show", "episodes": [{"season": s, "episode": e, "air_date": "2020-01-01"}
                                                             for s in (1, 2) for e in (1, 2)]}
    resp = await client.post("/api/v1/requests", json=body, headers=alice)
    rid = (await resp.json())["id"]
    assert resp.status == 201
    # A poll now (as at any tick) finds nothing to search: PENDING_APPROVAL is no stage's input.
    polls = ctx.workers["search"].proxy().polls.get(timeout=10)
    ctx.workers["search"].tell(Wake("test"))
    wait_until(lambda: ctx.workers["search"].proxy().polls.get(timeout=10) > polls, timeout=20, what="a poll")
    assert set(_items(pg, rid).values()) == {"PENDING_APPROVAL"} and indexer.searches() == []

    started = time.monotonic()
    resp = await client.post(f"/api/v1/requests/{rid}/approve", json={"seasons": [1]},
                             headers={"X-Api-Key": ADMIN_KEY})
    assert resp.status == 200 and len((await resp.json())["approved_items"]) == 2
    wait_until(lambda: {_items(pg, rid)[(1, e)] for e in (1, 2)} == {"FOUND"}, timeout=60,
               what="season 1 searched and found after the approval")
    latency = time.monotonic() - started
    print(f"approval -> FOUND latency: {latency:.3f} s (search polls every {HOUR_MS // 1000} s)")
    assert latency < 60  # an hour's poll could not have done it
    items = _items(pg, rid)
    assert items[(2, 1)] == items[(2, 2)] == "PENDING_APPROVAL"
    seasons = {q.get("season") for q in indexer.searches() if q.get("t") == "tvsearch"}
    assert seasons == {"1"}  # the unapproved season was never asked for
