from __future__ import annotations

import logging
import time
import traceback
from datetime import date

import pytest
import structlog

from annexd import metrics
from annexd.clients.tmdb import (
    SeasonSummary,
    TmdbClient,
    TmdbEpisode,
    TmdbSettings,
    TmdbShow,
    expand_episodes,
    parse_show,
)
from annexd.domain.request_specs import EpisodeSpec
from annexd.errors import InvalidInputError, ProviderAuthError, ProviderError
from tests.fakes.tmdb import FakeTmdb

KEY = "tmdb-key-NEVER-LOGGED"


@pytest.fixture
def fake():
    server = FakeTmdb(KEY).start()
    yield server
    server.stop()


def client_for(fake: FakeTmdb, key: str = KEY, **kw) -> TmdbClient:
    return TmdbClient(TmdbSettings(api_key=key, base_url=fake.base_url, timeout=5, **kw))


def test_tv_with_external_ids(fake):
    show = client_for(fake).tv(1399)
    assert (show.name, show.year, show.number_of_seasons, show.tvdb_id, show.imdb_id) == (
        "Game of Thrones", 2011, 2, 121361, "tt0944947")
    assert [s.season_number for s in show.seasons] == [0, 1, 2]
    (path, query), = fake.requests
    assert path == "/3/tv/1399" and query["append_to_response"] == "external_ids"


def test_season_and_movie(fake):
    client = client_for(fake)
    episodes = client.season(1399, 1)
    assert [(e.episode_number, e.name, e.air_date) for e in episodes][0] == (1, "Winter Is Coming",
                                                                            date(2011, 4, 17))
    movie = client.movie(603)
    assert (movie.title, movie.year, movie.imdb_id) == ("The Matrix", 1999, "tt0133093")


def test_cache_with_ttl(fake):
    now = [0.0]
    client = TmdbClient(TmdbSettings(api_key=KEY, base_url=fake.base_url, cache_ttl=60), clock=lambda: now[0])
    client.tv(1399)
    client.tv(1399)
    assert fake.count("/3/tv/1399") == 1
    now[0] = 61
    client.tv(1399)
    assert fake.count("/3/tv/1399") == 2


BAD = "wrong-key-value"


def test_bad_key_is_auth_error_without_leaking(fake, caplog):
    caplog.set_level(logging.DEBUG)
    # qbittorrent-api raises the urllib3 logger to INFO process-wide when a client is made: lower it again.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    with structlog.testing.capture_logs() as events:
        with pytest.raises(ProviderAuthError, match="Invalid API key") as info:
            client_for(fake, key=BAD).tv(1399)
    text = "".join(traceback.format_exception(info.value))
    assert BAD not in text and info.value.__cause__ is None
    assert all(BAD not in r.getMessage() for r in caplog.records)
    assert all(BAD not in str(e) for e in events)
    assert BAD not in repr(client_for(fake, key=BAD).settings)


def test_key_not_in_logs_or_errors_on_success_and_failure(fake, caplog):
    caplog.set_level(logging.DEBUG)
    # qbittorrent-api raises the urllib3 logger to INFO process-wide when a client is made: lower it again.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    client = client_for(fake)
    client.tv(1399)
    fake.mode = "http429"
    with pytest.raises(ProviderError) as info:
        client.movie(603)
    assert info.value.retry_after == 7
    assert any("urllib3" in r.name for r in caplog.records)
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in "".join(traceback.format_exception(info.value)) and KEY not in repr(client)


def test_not_found_and_malformed(fake):
    client = client_for(fake)
    with pytest.raises(InvalidInputError, match="not found"):
        client.tv(999)
    fake.mode = "malformed"
    with pytest.raises(InvalidInputError, match="not JSON"):
        client.movie(603)
    assert metrics.REGISTRY.get_sample_value("annexd_tmdb_requests_total", {"outcome": "malformed"}) >= 1


def test_slow_response_times_out(fake):
    fake.mode, fake.slow_seconds = "slow", 5
    client = TmdbClient(TmdbSettings(api_key=KEY, base_url=fake.base_url, timeout=0.3))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out"):
        client.movie(603)
    assert time.monotonic() - started < 3


def test_unreachable():
    client = TmdbClient(TmdbSettings(api_key=KEY, base_url="http://127.0.0.1:9/3", timeout=2))
    with pytest.raises(ProviderError) as info:
        client.tv(1)
    assert KEY not in str(info.value)


def test_parse_show_rejects_garbage():
    with pytest.raises(InvalidInputError):
        parse_show({"name": "no id"})
    with pytest.raises(InvalidInputError):
        parse_show(["not", "an", "object"])


def test_expand_episodes_via_client(fake):
    client = client_for(fake)
    specs = client.episodes(1399)
    assert [(s.season, s.episode) for s in specs] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]
    assert specs[0] == EpisodeSpec(1, 1, "Winter Is Coming", date(2011, 4, 17))
    assert [(s.season, s.episode) for s in client.episodes(1399, [0, 2])] == [(0, 1), (0, 2), (2, 1), (2, 2)]
    assert len(client.episodes(1399, None, include_specials=True)) == 7


SHOW = TmdbShow(1, "S", None, 2, (SeasonSummary(0, 1), SeasonSummary(1, 2), SeasonSummary(2, 1)))


def fetch(n: int) -> list[TmdbEpisode]:
    return [TmdbEpisode(n, e, f"e{e}", None) for e in range({0: 1, 1: 2, 2: 1}[n], 0, -1)]


def test_expand_episodes_pure():
    assert [(s.season, s.episode) for s in expand_episodes(SHOW, None, fetch)] == [(1, 1), (1, 2), (2, 1)]
    assert [(s.season, s.episode) for s in expand_episodes(SHOW, {2}, fetch)] == [(2, 1)]
    with pytest.raises(InvalidInputError, match=r"\[5\]"):
        expand_episodes(SHOW, [1, 5], fetch)


def test_search_and_find_by_external_id(fake):
    client = client_for(fake)
    assert [(m.tmdb_id, m.year) for m in client.search_movie("matrix")] == [(603, 1999), (604, 2003)]
    assert [m.tmdb_id for m in client.search_movie("matrix", 2003)] == [604]
    assert client.search_movie("nothing like it") == []
    [show] = client.search_tv("thrones")
    assert (show.tmdb_id, show.name, show.seasons) == (1399, "Game of Thrones", ())
    assert [s.tmdb_id for s in client.find("121361", "tvdb_id").shows] == [1399]
    found = client.find("tt0133093", "imdb_id")
    assert [m.tmdb_id for m in found.movies] == [603] and found.shows == ()
    assert client.find("0", "tvdb_id").shows == ()
    with pytest.raises(InvalidInputError):
        client.find("1", "facebook_id")
