"""SearchWorker end to end on a real PostgreSQL against a fake Torznab indexer."""

import time
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from actors.context import ActorContext
from actors.messages import Wake
from actors.search import SearchWorker
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config import Config
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.domain.search import SearchConfig
from store import queries
from store.models import ProcessingItem, ProviderHealth
from tests.fakes.torznab import FakeItem, FakeTorznab
from tests.util import wait_until

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
KEY = "idx-key-5551234"


def _hash(n):
    return f"{n:040x}"


@pytest.fixture
def indexer():
    fake = FakeTorznab(api_key=KEY).start()
    yield fake
    fake.stop()


def _worker(db, fake, min_interval=0.0, **search):
    idx = TorznabIndexer(name="fake", url=fake.base_url, api_key=KEY, min_interval=min_interval, timeout=2.0)
    cfg = replace(Config(), search=replace(SearchConfig(), **search))
    ctx = ActorContext(db=db, config=cfg, clock=lambda: NOW)
    return SearchWorker.start(ctx, 60_000, [TorznabClient(idx)])


def _settled(db, request_id):
    def check():
        with db.connection_context():
            items = queries.request_items(request_id)
        if all(i.status not in (S.PENDING, S.SEARCHING) for i in items):
            return {(i.season, i.episode): i for i in items}
        return None
    return wait_until(check, timeout=20, what="items leave PENDING/SEARCHING")


def _request(db, spec):
    with db.connection_context():
        return queries.create_request(spec, NOW - timedelta(days=1)).id


def test_movie_found_with_alternatives(pg, indexer):
    indexer.items = [
        FakeItem("Dune.2021.1080p.WEB-DL.DDP5.1.x264-GRP", 5 * GB, seeders=50, info_hash=_hash(1), category=2000),
        FakeItem("Dune.2021.720p.WEB-DL.x264-OTHER", 3 * GB, seeders=80, info_hash=_hash(2), category=2000),
        FakeItem("Dune.Part.Two.2024.1080p.WEB-DL.x264-GRP", 5 * GB, info_hash=_hash(3), category=2000),
    ]
    rid = _request(pg, RequestSpec(kind="movie", title="Dune", year=2021, imdb_id="tt1160419"))
    _worker(pg, indexer)
    item = _settled(pg, rid)[(0, 0)]
    assert item.status == S.FOUND and item.quality_met is True
    assert item.release["title"].startswith("Dune.2021.1080p")
    assert [r["title"] for r in item.available_releases] == ["Dune.2021.720p.WEB-DL.x264-OTHER"]
    assert any(q.get("imdbid") == "tt1160419" for q in indexer.searches())


def test_season_pack_preferred_and_unaired_episodes_await(pg, indexer):
    future = NOW.date() + timedelta(days=14)
    indexer.items = [
        FakeItem("The.Show.S01E01.1080p.WEB-DL.x264-GRP", 2 * GB, seeders=90, info_hash=_hash(10)),
        FakeItem("The.Show.S01.1080p.WEB-DL.x264-PACK", 6 * GB, seeders=20, info_hash=_hash(11)),
        FakeItem("Other.Show.S01.1080p.WEB-DL.x264-PACK", 6 * GB, seeders=99, info_hash=_hash(12)),
    ]
    eps = tuple(EpisodeSpec(1, e, f"E{e}", date(2026, 1, e)) for e in (1, 2, 3))
    eps += (EpisodeSpec(1, 4, "E4", future),)
    rid = _request(pg, RequestSpec(kind="tv", title="The Show", tvdb_id=777, episodes=eps))
    with pg.connection_context():  # the unaired one must be due now to be searched at all
        ProcessingItem.update(status=S.PENDING, next_retry_at=None).where(ProcessingItem.episode == 4).execute()
    _worker(pg, indexer)
    items = _settled(pg, rid)
    packs = {items[(1, e)].release["title"] for e in (1, 2, 3)}
    assert packs == {"The.Show.S01.1080p.WEB-DL.x264-PACK"}
    assert all(items[(1, e)].status == S.FOUND for e in (1, 2, 3))
    assert items[(1, 4)].status == S.AWAITING and "not aired" in items[(1, 4)].last_error
    tv_queries = [q for q in indexer.searches() if q.get("t") == "tvsearch"]
    assert len(tv_queries) == 1 and tv_queries[0]["tvdbid"] == "777" and tv_queries[0]["season"] == "1"


def test_per_episode_fallback_and_multi_episode_releases(pg, indexer):
    indexer.items = [
        FakeItem("Show.Two.S02E01E02.1080p.WEB-DL.x264-GRP", 4 * GB, info_hash=_hash(20)),
        FakeItem("Show.Two.S02E03.1080p.WEB-DL.x264-GRP", 2 * GB, info_hash=_hash(21)),
    ]
    eps = tuple(EpisodeSpec(2, e) for e in (1, 2, 3))
    rid = _request(pg, RequestSpec(kind="tv", title="Show Two", episodes=eps))
    _worker(pg, indexer)
    items = _settled(pg, rid)
    assert items[(2, 1)].release["title"] == items[(2, 2)].release["title"] == "Show.Two.S02E01E02.1080p.WEB-DL.x264-GRP"
    assert items[(2, 3)].release["title"] == "Show.Two.S02E03.1080p.WEB-DL.x264-GRP"


def test_below_profile_only_goes_to_quality_unavailable(pg, indexer):
    indexer.items = [FakeItem("Old.Film.1999.DVDRip.XviD-OLD", 700_000_000, info_hash=_hash(30), category=2000)]
    rid = _request(pg, RequestSpec(kind="movie", title="Old Film", year=1999))
    _worker(pg, indexer)
    item = _settled(pg, rid)[(0, 0)]
    assert item.status == S.QUALITY_UNAVAILABLE and item.quality_met is False
    assert item.available_releases[0]["title"] == "Old.Film.1999.DVDRip.XviD-OLD"
    assert item.next_retry_at > NOW and "below the quality profile" in item.last_error


def test_nothing_found_waits_with_a_reason_and_backoff(pg, indexer):
    indexer.items = []
    rid = _request(pg, RequestSpec(kind="movie", title="Nowhere", year=2020))
    _worker(pg, indexer, retry_hours=6.0)
    item = _settled(pg, rid)[(0, 0)]
    assert item.status == S.AWAITING and item.attempts == 1
    assert "no results" in item.last_error
    assert timedelta(hours=5) < item.next_retry_at - NOW < timedelta(hours=7)


def test_blocklisted_release_is_never_grabbed(pg, indexer):
    indexer.items = [
        FakeItem("Dune.2021.1080p.WEB-DL.x264-BAD", 5 * GB, seeders=99, info_hash=_hash(40), category=2000),
        FakeItem("Dune.2021.1080p.WEB-DL.x264-GOOD", 5 * GB, seeders=5, info_hash=_hash(41), category=2000),
    ]
    with pg.connection_context():
        queries.add_to_blocklist(_hash(40), "Dune.2021.1080p.WEB-DL.x264-BAD", "stalled", None, NOW)
    rid = _request(pg, RequestSpec(kind="movie", title="Dune", year=2021))
    _worker(pg, indexer)
    assert _settled(pg, rid)[(0, 0)].release["title"] == "Dune.2021.1080p.WEB-DL.x264-GOOD"


def test_an_indexer_that_is_down_backs_off_and_items_wait(pg, indexer):
    indexer.mode = "error500"
    rid = _request(pg, RequestSpec(kind="movie", title="Dune", year=2021))
    _worker(pg, indexer)
    item = _settled(pg, rid)[(0, 0)]
    assert item.status == S.AWAITING and "fake" in item.last_error
    with pg.connection_context():
        health = ProviderHealth.get((ProviderHealth.kind == "indexer") & (ProviderHealth.name == "fake"))
    assert health.state["level"] == 1 and health.state["disabled_until"] is not None
    assert KEY not in (health.last_error or "") and KEY not in item.last_error


def test_a_search_that_raises_mid_poll_is_restarted_and_its_claims_released(pg, indexer):
    """The first incarnation dies after claiming; the supervisor restarts it, the new incarnation releases the
    old claims at once and searches them: every item completes its search."""
    import threading

    from actors.supervisor import ChildSpec, Supervisor
    from annexd.config import SupervisorConfig

    indexer.items = [FakeItem(f"Film.{i}.2020.1080p.WEB-DL.x264-GRP", 4 * GB, info_hash=_hash(100 + i), category=2000)
                     for i in range(3)]
    ids = [_request(pg, RequestSpec(kind="movie", title=f"Film {i}", year=2020)) for i in range(3)]
    boom = {"left": 1}

    class DiesOnce(SearchWorker):
        def search_request(self, request, items, now, blocklist):
            if boom["left"]:
                boom["left"] -= 1
                raise RuntimeError("mid-poll boom")
            return super().search_request(request, items, now, blocklist)

    idx = TorznabIndexer(name="fake", url=indexer.base_url, api_key=KEY, min_interval=0.0, timeout=2.0)
    cfg = replace(Config(), supervisor=replace(SupervisorConfig(), restart_backoff_seconds=0.01))
    ctx = ActorContext(db=pg, config=cfg, clock=lambda: NOW)
    gave_up = threading.Event()
    Supervisor.start(ctx, [ChildSpec("search", lambda c: DiesOnce.start(c, 60_000, [TorznabClient(idx)]))],
                     on_give_up=lambda reason: gave_up.set())
    items = [_settled(pg, rid)[(0, 0)] for rid in ids]
    assert [i.status for i in items] == [S.FOUND] * 3 and not gave_up.is_set()
    assert ctx.starts["search"] == 2 and all(i.claimed_by is None for i in items)


def test_a_slow_indexer_search_holds_no_pooled_connection(postgres_url, indexer):
    """A pool of one connection: while the poll waits on a slow indexer, another thread (the API, another
    worker) still gets the connection at once; the poll takes one again to write its outcome."""
    import time

    from tests.servers.postgres import migrated

    indexer.items = [FakeItem("Dune.2021.1080p.WEB-DL.DDP5.1.x264-GRP", 5 * GB, seeders=50, info_hash=_hash(1),
                              category=2000)]
    indexer.mode, indexer.slow_seconds = "slow", 3.0
    with migrated(postgres_url, max_connections=1) as db:
        rid = _request(db, RequestSpec(kind="movie", title="Dune", year=2021))
        idx = TorznabIndexer(name="fake", url=indexer.base_url, api_key=KEY, min_interval=0.0, timeout=10.0)
        ctx = ActorContext(db=db, config=Config(), clock=lambda: NOW)
        SearchWorker.start(ctx, 60_000, [TorznabClient(idx)])
        wait_until(lambda: indexer.searches() or None, timeout=20, what="the search reached the indexer")
        started = time.monotonic()
        with db.connection_context():
            assert queries.request_items(rid)[0].status == S.SEARCHING
        waited = time.monotonic() - started
        assert waited < 1.0, f"waited {waited:.2f}s for the pool's only connection"
        assert _settled(db, rid)[(0, 0)].status == S.FOUND


def test_a_rate_limited_indexer_postpones_the_search_instead_of_sleeping_in_the_worker(pg, indexer):
    indexer.items = [
        FakeItem("Dune.2021.1080p.WEB-DL.DDP5.1.x264-GRP", 5 * GB, seeders=50, info_hash=_hash(1), category=2000),
        FakeItem("Arrival.2016.1080p.WEB-DL.DDP5.1.x264-GRP", 5 * GB, seeders=50, info_hash=_hash(2), category=2000),
    ]
    dune = _request(pg, RequestSpec(kind="movie", title="Dune", year=2021))
    arrival = _request(pg, RequestSpec(kind="movie", title="Arrival", year=2016))
    started = time.monotonic()
    ref = _worker(pg, indexer, min_interval=2.0)  # ticks every 60 s: only its own deadline wakes it sooner

    def postponed():
        with pg.connection_context():
            items = queries.request_items(dune) + queries.request_items(arrival)
        return all(i.status == S.PENDING and "rate limit" in (i.detail or "") for i in items)
    wait_until(postponed, timeout=10, what="the searches postponed after the caps call")
    asked = time.monotonic()
    ref.ask(Wake("probe while rate-limited"))
    handled = time.monotonic() - asked
    assert handled < 0.5, f"a poll took {handled:.3f} s while the indexer was rate-limited"  # it slept 2 s before
    items = {**_settled(pg, dune), **{("arrival",): _settled(pg, arrival)[(0, 0)]}}
    assert {i.status for i in items.values()} == {S.FOUND}
    assert [q.get("q") or q.get("imdbid") for q in indexer.searches()] == ["Dune 2021", "Arrival 2016"]
    assert time.monotonic() - started >= 4.0  # caps, then each search a full interval after the call before
    ref.stop()
