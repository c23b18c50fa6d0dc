from __future__ import annotations

import logging
import time
import traceback
from datetime import UTC, datetime

import pytest
import structlog

from annexd import metrics
from annexd.clients.torznab import (
    ANSWER_TTL_S,
    TorznabClient,
    normalize_info_hash,
    parse_results,
    parse_retry_after,
    parse_xml,
    redact,
)
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.domain.quality import rank
from annexd.errors import InvalidInputError, NotYetError, ProviderAuthError, ProviderError
from tests.fakes.torznab import CAPS_QUERY_ONLY, FakeItem, FakeTorznab

KEY = "s3cr3t-key-DO-NOT-LEAK"


def h(n: int) -> str:
    return f"{n:040x}"


ITEMS = [
    FakeItem("Severance.S02.1080p.ATVP.WEB-DL.DDP5.1.H.264-NTb", 30_000_000_000, 120, 140, h(1)),
    FakeItem("Severance.S02E01.1080p.ATVP.WEB-DL.DDP5.1.H.264-NTb", 3_000_000_000, 80, 90, h(2)),
    FakeItem("Severance.S02E02.720p.ATVP.WEB-DL.DDP5.1.H.264-NTb", 1_500_000_000, 40, 45, h(3)),
    FakeItem("Severance.S02E03E04.1080p.ATVP.WEB-DL.DDP5.1.H.264-FLUX", 6_000_000_000, 20, 25, h(4)),
    FakeItem("Severance.S02E05.480p.HDTV.x264-mSD", 300_000_000, 10, 12, h(5), magnet=False),
]


@pytest.fixture
def fake():
    server = FakeTorznab(KEY, items=list(ITEMS)).start()
    yield server
    server.stop()


def client_for(fake: FakeTorznab, **kw) -> TorznabClient:
    settings = dict(name="fake", url=fake.base_url, api_key=fake.api_key, min_interval=0.0, timeout=5.0)
    settings.update(kw)
    return TorznabClient(TorznabIndexer(**settings))


def count(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# --- caps -------------------------------------------------------------------------------------------------------

def test_caps_parsed_and_cached(fake):
    fake.max_limit, fake.default_limit = 50, 20
    client = client_for(fake)
    caps = client.caps()
    assert (caps.default_limit, caps.max_limit) == (20, 50)
    assert caps.supports("tv-search", "tvdbid") and caps.supports("movie-search", "imdbid")
    assert not caps.supports("movie-search", "tvdbid")
    assert caps.categories[5000] == "TV" and caps.categories[2040] == "Movies/HD"
    client.search_tv("Severance", 2)
    assert sum(1 for q in fake.queries if q["t"] == "caps") == 1


def test_caps_refetched_after_ttl(fake):
    now = [0.0]
    client = TorznabClient(TorznabIndexer("fake", fake.base_url, KEY, min_interval=0, caps_ttl=100),
                           clock=lambda: now[0])
    client.caps()
    now[0] = 50
    client.caps()
    now[0] = 200
    client.caps()
    assert sum(1 for q in fake.queries if q["t"] == "caps") == 2


# --- search parameters ------------------------------------------------------------------------------------------

def test_tv_search_uses_supported_id_without_q(fake):
    found = client_for(fake).search_tv("Severance", 2, 3, tvdbid=371980, imdbid="tt11280740")
    (query,) = fake.searches()
    assert query["t"] == "tvsearch" and query["tvdbid"] == "371980" and "q" not in query
    assert (query["season"], query["ep"], query["cat"]) == ("2", "3", "5000")
    assert "imdbid" not in query and len(found) == len(ITEMS)


def test_tv_search_falls_back_to_query_when_ids_unsupported(fake):
    fake.modes = dict(CAPS_QUERY_ONLY)
    client_for(fake).search_tv("Severance", 2, tvdbid=371980)
    (query,) = fake.searches()
    assert query["q"] == "Severance" and query["season"] == "2" and "tvdbid" not in query and "ep" not in query


def test_plain_search_folds_season_episode_into_q(fake):
    fake.modes = {"search": "q"}
    client_for(fake).search_tv("Severance", 2, 3)
    (query,) = fake.searches()
    assert query["t"] == "search" and query["q"] == "Severance S02E03" and "season" not in query


def test_id_search_without_results_retries_as_text(fake):
    fake.results = lambda p: [] if "tvdbid" in p else fake.items
    found = client_for(fake).search_tv("Severance", 2, tvdbid=1)
    assert [("tvdbid" in q, q.get("q")) for q in fake.searches()] == [(True, None), (False, "Severance")]
    assert len(found) == len(ITEMS)


def test_movie_search_by_imdb_then_q_and_year(fake):
    fake.results = lambda p: []
    client = client_for(fake, movie_categories=(2000, 2040))
    assert client.search_movie("The Matrix", 1999, imdbid="tt0133093", tmdbid=603) == []
    first, second = fake.searches()
    assert first["t"] == "movie" and first["imdbid"] == "tt0133093" and "q" not in first
    assert first["cat"] == "2000,2040"
    assert second["q"] == "The Matrix 1999" and "imdbid" not in second


# --- paging and dedupe ------------------------------------------------------------------------------------------

def many(n: int) -> list[FakeItem]:
    return [FakeItem(f"Show.S01E{i % 99 + 1:02d}.1080p.WEB-DL.x264-G{i}", 2_000_000_000, i, i, h(1000 + i))
            for i in range(n)]


def test_paging_uses_max_limit_and_offsets(fake):
    fake.items, fake.max_limit = many(25), 10
    found = client_for(fake).search_tv("Show", 1)
    assert [(q["limit"], q["offset"]) for q in fake.searches()] == [("10", "0"), ("10", "10"), ("10", "20")]
    assert len(found) == 25


def test_paging_is_bounded(fake):
    fake.items, fake.max_limit = many(100), 10
    found = client_for(fake, max_pages=3).search_tv("Show", 1)
    assert len(fake.searches()) == 3 and len(found) == 30


def test_indexer_ignoring_offset_stops(fake):
    fake.items, fake.max_limit = many(10), 10
    fake.results = lambda p: fake.items * 5 if p.get("offset") == "0" else fake.items
    found = client_for(fake).search_tv("Show", 1)
    assert len(found) == 10 and len(fake.searches()) == 2


def test_dedupe_by_info_hash(fake):
    dup = FakeItem("Severance.S02E01.1080p.WEB-DL.x264-OTHER", 3_000_000_000, 1, 1, h(2))
    fake.items = [*ITEMS, dup]
    found = client_for(fake).search_tv("Severance", 2)
    assert len(found) == len(ITEMS) and len({r.info_hash for r in found}) == len(ITEMS)


def test_result_fields(fake):
    found = {r.info_hash: r for r in client_for(fake).search_tv("Severance", 2)}
    r = found[h(1)]
    assert (r.title, r.size, r.seeders, r.peers, r.categories) == (ITEMS[0].title, 30_000_000_000, 120, 140, (5000,))
    assert r.guid == h(1) and r.indexer == "fake" and r.magnet.startswith("magnet:?xt=urn:btih:" + h(1))
    assert r.published == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert r.download_url.startswith(fake.base_url + "/dl/")
    assert found[h(5)].magnet is None and r.parsed.season == 2


# --- failures ---------------------------------------------------------------------------------------------------

def test_malformed_xml(fake):
    client = client_for(fake)
    client.caps()
    before = count("annexd_indexer_malformed_total", indexer="fake")
    fake.mode = "malformed"
    with pytest.raises(InvalidInputError, match="invalid XML"):
        client.search_tv("Severance", 2)
    assert count("annexd_indexer_malformed_total", indexer="fake") == before + 1
    assert count("annexd_indexer_requests_total", indexer="fake", outcome="malformed") >= 1


def test_entity_bomb_rejected_quickly(fake):
    client = client_for(fake)
    client.caps()
    fake.mode = "bomb"
    started = time.monotonic()
    with pytest.raises(InvalidInputError):
        client.search_movie("The Matrix", 1999)
    assert time.monotonic() - started < 2


def test_http_429_with_retry_after(fake):
    client = client_for(fake)
    client.caps()
    fake.mode, fake.retry_after = "http429", "120"
    with pytest.raises(ProviderError) as info:
        client.search_tv("Severance", 2)
    assert info.value.retry_after == 120 and not isinstance(info.value, ProviderAuthError)
    assert count("annexd_indexer_requests_total", indexer="fake", outcome="rate_limited") >= 1


def test_torznab_error_codes(fake):
    client = client_for(fake)
    client.caps()
    fake.mode = "error100"
    with pytest.raises(ProviderAuthError):
        client.search_tv("Severance", 2)
    fake.mode = "error429"
    with pytest.raises(ProviderError, match="request limit") as info:
        client.search_tv("Severance", 2)
    assert not isinstance(info.value, ProviderAuthError)
    fake.mode = "error500"
    with pytest.raises(ProviderError, match="HTTP 500"):
        client.search_tv("Severance", 2)


def test_wrong_api_key_is_auth_error(fake):
    client = TorznabClient(TorznabIndexer("fake", fake.base_url, "wrong-key", min_interval=0))
    with pytest.raises(ProviderAuthError) as info:
        client.caps()
    assert "wrong-key" not in str(info.value)


def test_slow_response_times_out(fake):
    client = client_for(fake, timeout=0.3)
    client.caps()
    fake.mode, fake.slow_seconds = "slow", 5
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out"):
        client.search_tv("Severance", 2)
    assert time.monotonic() - started < 3
    assert count("annexd_indexer_requests_total", indexer="fake", outcome="timeout") >= 1


def test_connection_refused_is_provider_error():
    client = TorznabClient(TorznabIndexer("gone", "http://127.0.0.1:9", KEY, min_interval=0, timeout=2))
    with pytest.raises(ProviderError) as info:
        client.caps()
    assert KEY not in str(info.value)


def test_api_key_never_leaks(fake, caplog):
    caplog.set_level(logging.DEBUG)
    # qbittorrent-api raises the urllib3 logger to INFO process-wide when a client is made: lower it again.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    client = client_for(fake, timeout=0.3)
    texts = [repr(client.indexer), repr(client)]
    with structlog.testing.capture_logs() as events:
        found = client.search_tv("Severance", 2)
        texts += [repr(r) for r in found]
        for mode in ("malformed", "bomb", "http429", "error100", "error429", "slow"):
            fake.mode = mode
            try:
                client.search_tv("Severance", 2)
            except Exception as exc:  # noqa: BLE001 - we inspect every error
                texts.append("".join(traceback.format_exception(exc)))
                assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    assert any("urllib3" in r.name for r in caplog.records), "debug logging was not captured"
    texts += [r.getMessage() for r in caplog.records] + [str(e) for e in events]
    assert all(KEY not in t for t in texts)


# --- rate limit -------------------------------------------------------------------------------------------------

def test_min_interval_is_a_deadline_and_a_resumed_search_replays_what_it_asked(fake):
    now = [1000.0]
    client = TorznabClient(TorznabIndexer("fake", fake.base_url, KEY, min_interval=2.0), clock=lambda: now[0])
    with pytest.raises(NotYetError) as first:
        client.search_tv("Severance", 2)  # caps is asked; the search itself would come too soon
    assert first.value.retry_in == 2.0 and len(fake.queries) == 1
    now[0] += 0.5
    started = time.monotonic()
    with pytest.raises(NotYetError) as second:
        client.search_tv("Severance", 2)
    assert second.value.retry_in == 1.5 and time.monotonic() - started < 0.1  # told, not put to sleep
    assert len(fake.queries) == 1
    now[0] += 1.5
    found = client.search_tv("Severance", 2)
    assert found and [q["t"] for q in fake.queries] == ["caps", "tvsearch"]
    now[0] += 10
    assert client.search_tv("Severance", 2) == found  # the same search again: replayed, no request
    assert len(fake.queries) == 2
    now[0] += ANSWER_TTL_S
    client.search_tv("Severance", 2)
    assert len(fake.queries) == 3  # too old to replay: asked again


def test_without_a_min_interval_nothing_is_replayed(fake):
    client = client_for(fake)
    client.search_tv("Severance", 2)
    client.search_tv("Severance", 2)
    assert [q["t"] for q in fake.queries] == ["caps", "tvsearch", "tvsearch"]


# --- pure helpers -----------------------------------------------------------------------------------------------

def test_redact():
    assert redact("http://x/api?t=caps&apikey=abc123&q=x") == "http://x/api?t=caps&apikey=REDACTED&q=x"
    assert redact("api_key=zzz") == "api_key=REDACTED"


def test_normalize_info_hash():
    assert normalize_info_hash("ABCDEF" + "0" * 34) == "abcdef" + "0" * 34
    assert normalize_info_hash("MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U") == "616263646566676869" + "6a6b6c6d6e6f7071727374"
    assert normalize_info_hash("nothex") is None and normalize_info_hash(None) is None


def test_parse_retry_after():
    assert parse_retry_after("30", 0) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412450) == 30
    assert parse_retry_after("soon", 0) is None and parse_retry_after(None, 0) is None


def stub(title):
    from annexd.domain.releases import parse_release

    return parse_release(title)


def test_items_missing_fields_are_skipped_or_tolerated():
    body = (
        '<rss xmlns:torznab="http://torznab.com/schemas/2015/feed"><channel>'
        "<item><title></title><link>http://x/1</link></item>"
        "<item><title>No.Link.S01E01.720p.HDTV</title></item>"
        '<item><title>Ok.S01E01.720p.HDTV</title><link>http://x/2</link>'
        '<torznab:attr name="size" value="lots"/><torznab:attr name="seeders" value="-4"/>'
        '<torznab:attr name="infohash" value="zz"/><pubDate>garbage</pubDate></item>'
        '<item><title>Mag.S01E02.720p.HDTV</title><link>magnet:?xt=urn:btih:' + "A" * 40 + '&amp;dn=x</link></item>'
        "</channel></rss>"
    ).encode()
    found = parse_results(parse_xml(body, "t"), "t", stub)
    assert [r.title for r in found] == ["Ok.S01E01.720p.HDTV", "Mag.S01E02.720p.HDTV"]
    ok, mag = found
    assert (ok.size, ok.seeders, ok.info_hash, ok.published) == (0, 0, None, None)
    assert ok.guid.startswith("sha1:")
    assert mag.info_hash == "a" * 40 and mag.download_url is None and mag.magnet.startswith("magnet:")


def test_non_rss_root_is_invalid():
    with pytest.raises(InvalidInputError):
        parse_results(parse_xml(b"<html><body/></html>", "t"), "t", stub)


# --- end to end: search, rank, choose -----------------------------------------------------------------------

def test_search_rank_choose_flow(fake):
    from annexd.domain.quality import choose_for_season

    found = client_for(fake).search_tv("Severance", 2, tvdbid=371980)
    ranked = rank(found, episodes_wanted=10)
    choice = choose_for_season(2, set(range(1, 11)), ranked.accepted)
    assert choice.pack is not None and choice.pack.info_hash == h(1)
    singles = [r for r in ranked.accepted if not r.parsed.full_season]
    choice = choose_for_season(2, {1, 2, 3, 4, 5}, singles)
    assert {e: r.info_hash for e, r in choice.picks.items()} == {1: h(2), 2: h(3), 3: h(4), 4: h(4)}
    assert choice.missing == {5}
    assert [r.info_hash for r in ranked.below_profile] == [h(5)]


def test_oversized_response_rejected(fake):
    fake.items = many(50)
    client = client_for(fake, max_response_bytes=4096)
    client.caps()
    with pytest.raises(InvalidInputError, match="larger than"):
        client.search_tv("Show", 1)


def test_no_text_fallback_when_disabled(fake):
    fake.results = lambda p: []
    assert client_for(fake, id_fallback_to_query=False).search_tv("Show", 1, tvdbid=5) == []
    assert len(fake.searches()) == 1


def test_concurrent_callers_are_serialised(fake):
    import threading

    client = client_for(fake)
    client.caps()
    errors: list[BaseException] = []

    def work():
        try:
            assert len(client.search_tv("Severance", 2)) == len(ITEMS)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors and not any(t.is_alive() for t in threads) and len(fake.searches()) == 4
