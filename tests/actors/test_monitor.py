"""Show monitoring end to end on PostgreSQL: a TMDB refresh adds a newly announced episode to a followed show
(AWAITING until it airs) and updates listings; once it airs (an injected clock), it is searched and grabbed by a
real qBittorrent."""

from datetime import date, datetime, timedelta

import pytest

from actors.awaiting import AwaitingWorker
from actors.context import ActorContext
from actors.download import DownloadWorker
from actors.monitor import ShowRefreshWorker
from actors.search import SearchWorker
from annexd.clients.qbittorrent import QbtClient
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.clients.tmdb import TmdbClient, TmdbSettings
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config import Config
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries
from tests.fakes import tmdb as fake_tmdb
from tests.fakes.tmdb import FakeTmdb
from tests.fakes.torznab import FakeItem, FakeTorznab

NOW = datetime(2026, 6, 1, 12, 0)
SHOW_ID = 4242
AIRS = date(2026, 6, 4)
HASH = "c0ffee" + "0" * 34
GB = 1_000_000_000


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def tmdb(monkeypatch):
    monkeypatch.setitem(fake_tmdb.SHOWS, SHOW_ID, {
        "id": SHOW_ID, "name": "Followed Show", "first_air_date": "2026-05-01", "number_of_seasons": 1,
        "seasons": [{"season_number": 1, "episode_count": 2, "name": "Season 1", "air_date": "2026-05-01"}],
        "external_ids": {}})
    monkeypatch.setitem(fake_tmdb.SEASONS, (SHOW_ID, 1), [
        {"episode_number": 1, "name": "Pilot", "air_date": "2026-05-01"},
        {"episode_number": 2, "name": "TBA", "air_date": "2026-05-08"}])
    fake = FakeTmdb().start()
    yield fake
    fake.stop()


def followed_request(db, monitor="future"):
    spec = RequestSpec(kind="tv", title="Followed Show", tmdb_id=SHOW_ID, monitor=monitor, episodes=(
        EpisodeSpec(1, 1, "Pilot", date(2026, 5, 1)), EpisodeSpec(1, 2, "TBA", date(2026, 5, 8))))
    with db.connection_context():
        return queries.create_request(spec, NOW - timedelta(days=1)).id


def items(db, request_id):
    with db.connection_context():
        return {(i.season, i.episode): i for i in queries.request_items(request_id)}


def test_a_refresh_adds_a_newly_announced_episode_which_is_grabbed_once_it_airs(pg, tmdb, qbt_downloader):
    clock = Clock()
    ctx = ActorContext(db=pg, config=Config(), clock=clock)
    refresher = ShowRefreshWorker(ctx, 60_000, TmdbClient(TmdbSettings(api_key=tmdb.api_key,
                                                                        base_url=tmdb.base_url)), 720.0)
    request_id = followed_request(pg)
    unfollowed = followed_request(pg, monitor="none")
    fake_tmdb.SEASONS[(SHOW_ID, 1)] = [
        {"episode_number": 1, "name": "Pilot", "air_date": "2026-05-01"},
        {"episode_number": 2, "name": "The Second One", "air_date": "2026-05-08"},
        {"episode_number": 3, "name": "Newly Announced", "air_date": AIRS.isoformat()}]

    assert refresher.run_once() == 1
    listed = items(pg, request_id)
    new = listed[(1, 3)]
    assert (new.title, new.air_date, new.status) == ("Newly Announced", AIRS, S.AWAITING)
    assert new.next_retry_at == datetime(2026, 6, 4)
    assert listed[(1, 2)].title == "The Second One"
    assert sorted(items(pg, unfollowed)) == [(1, 1), (1, 2)]  # monitor = none: nothing added
    calls = tmdb.count(f"/3/tv/{SHOW_ID}")
    assert refresher.run_once() == 0 and tmdb.count(f"/3/tv/{SHOW_ID}") == calls  # not due again yet

    indexer = FakeTorznab(api_key="k", items=[FakeItem("Followed.Show.S01E03.1080p.WEB-DL.x264-GRP", 2 * GB,
                                                       info_hash=HASH)]).start()
    qbt = QbtClient(QbtClientSettings(name="qbt", url=qbt_downloader.url, category="annexd-monitor-test"))
    try:
        search = SearchWorker(ctx, 60_000, [TorznabClient(TorznabIndexer(name="i", url=indexer.base_url,
                                                                         api_key="k", min_interval=0.0))])
        AwaitingWorker(ctx, 60_000).run_once()
        assert items(pg, request_id)[(1, 3)].status == S.AWAITING  # not aired: not searched

        clock.now = datetime(2026, 6, 4, 1, 0)  # it aired
        AwaitingWorker(ctx, 60_000).run_once()
        search.run_once()
        assert items(pg, request_id)[(1, 3)].status == S.FOUND
        DownloadWorker(ctx, 60_000, {"qbt": qbt}).run_once()
        grabbed = items(pg, request_id)[(1, 3)]
        assert grabbed.status == S.DOWNLOADING and grabbed.download_id is not None
        assert HASH in {t.hash for t in qbt_downloader.api().torrents_info(category="annexd-monitor-test")}
    finally:
        qbt_downloader.api().torrents_delete(delete_files=True, torrent_hashes=HASH)
        indexer.stop()
