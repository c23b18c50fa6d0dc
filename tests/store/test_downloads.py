"""Download rows: claimed per daemon, revived when reused, a vanished torrent's outcome, and the migration that
removed credentials from stored releases (SQLite and PostgreSQL)."""

import importlib
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from annexd.config import DownloadConfig
from annexd.domain.download_states import DownloadPhase as P, ReuseAction, VanishedOutcome
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import RequestSpec
from store import queries
from store.models import Blocklist, Download, ProcessingItem

NOW = datetime(2026, 3, 1, 12, 0, 0)
LIVE_SINCE = NOW - timedelta(seconds=90)
ALL = [P.ADDING, P.DOWNLOADING, P.COMPLETED, P.MAPPED]


def _download(n: int, state: P = P.DOWNLOADING, owner: str | None = None, owned: bool = True) -> Download:
    download, _ = queries.get_or_create_download(f"{n:040x}", "qbt", f"T{n}", {"title": f"T{n}"}, NOW, owner)
    Download.update(state=state, owned=owned).where(Download.id == download.id).execute()
    return Download.get_by_id(download.id)


def _downloading_item(download: Download, title: str = "Film", release: dict | None = None,
                      alternatives: list | None = None) -> ProcessingItem:
    req = queries.create_request(RequestSpec(kind="movie", title=title, year=2020), NOW)
    ProcessingItem.update(status=S.DOWNLOADING, download=download.id, release=release or {"title": download.name},
                          available_releases=alternatives or []).where(ProcessingItem.request == req.id).execute()
    return queries.request_items(req.id)[0]


def test_each_download_is_held_by_one_daemon(db):
    for n in range(30):
        _download(n + 1)
    for i in range(3):
        queries.heartbeat(f"d{i}", "h", i, NOW)  # live daemons: none takes another's downloads
    held: dict[str, list[int]] = {}
    lock = threading.Lock()

    def daemon(name: str) -> None:
        with db.connection_context():
            for _ in range(6):
                rows = queries.claim_downloads(name, LIVE_SINCE, ALL, 4)
                with lock:
                    held[name] = [d.id for d in rows]

    threads = [threading.Thread(target=daemon, args=(f"d{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everyone = [i for ids in held.values() for i in ids]
    assert len(everyone) == len(set(everyone)) == 30  # every torrent polled, none by two daemons
    assert {d.claimed_by for d in Download.select()} <= set(held)


def test_a_live_daemons_downloads_stay_its_own_and_a_dead_ones_are_taken(db):
    queries.heartbeat("alive", "h", 1, NOW)
    queries.heartbeat("dead", "h", 2, NOW - timedelta(minutes=10))
    mine, theirs, orphan = _download(1, owner="alive"), _download(2, owner="dead"), _download(3)
    taken = queries.claim_downloads("other", LIVE_SINCE, ALL, 10)
    assert {d.id for d in taken} == {theirs.id, orphan.id}
    assert Download.get_by_id(mine.id).claimed_by == "alive"


def test_mapped_torrents_annexd_owns_are_left_out_unless_asked(db):
    owned, reused = _download(1, P.MAPPED, owned=True), _download(2, P.MAPPED, owned=False)
    assert [d.id for d in queries.claim_downloads("me", LIVE_SINCE, ALL, 10, mapped_owned=False)] == [reused.id]
    assert {d.id for d in queries.claim_downloads("me", LIVE_SINCE, ALL, 10)} == {owned.id, reused.id}


def test_download_added_records_ownership_only_while_adding(db):
    row = _download(1, P.ADDING, owned=False)
    assert queries.download_added(row.id, "qbt", owned=True)
    assert Download.get_by_id(row.id).owned and Download.get_by_id(row.id).state == P.DOWNLOADING
    assert not queries.download_added(row.id, "qbt", owned=False)  # it left ADDING: nothing changes
    assert Download.get_by_id(row.id).owned


def test_reusing_a_mapped_or_removed_row_revives_it(db):
    mapped, removed = _download(1, P.MAPPED, owner="a"), _download(2, P.REMOVED, owner="a")
    assert queries.reuse_download(mapped, ReuseAction.REMAP, {"title": "T1"}, "b", NOW)
    assert queries.reuse_download(removed, ReuseAction.READD, {"title": "T2"}, "b", NOW)
    again_mapped, again_removed = Download.get_by_id(mapped.id), Download.get_by_id(removed.id)
    assert (again_mapped.state, again_mapped.owned, again_mapped.claimed_by) == (P.COMPLETED, True, "b")
    assert (again_removed.state, again_removed.owned, again_removed.removed_at) == (P.ADDING, False, None)
    assert not queries.reuse_download(mapped, ReuseAction.REMAP, {}, "b", NOW)  # compare-and-set on the phase


def test_a_vanished_torrent_is_grabbed_again_once_then_the_next_release(db):
    policy = replace(DownloadConfig().retry, max_attempts=5, base_seconds=0.0, cap_seconds=0.0)
    download = _download(1)
    alternative = {"guid": "b" * 40, "info_hash": "b" * 40, "title": "Film.2020.720p"}
    item = _downloading_item(download, release={"guid": download.info_hash, "title": "T1"},
                             alternatives=[alternative])
    assert queries.torrent_vanished(download.id, "qbt", NOW, policy) is VanishedOutcome.REGRAB
    item = ProcessingItem.get_by_id(item.id)
    assert (item.status, item.release["title"], item.download_id) == (S.FOUND, "T1", None)
    assert "removed from qbt outside annexd" in item.last_error
    assert queries.torrent_vanished(download.id, "qbt", NOW, policy) is None  # handled once
    # grabbed again, and removed again
    Download.update(state=P.DOWNLOADING).where(Download.id == download.id).execute()
    ProcessingItem.update(status=S.DOWNLOADING, download=download.id).where(ProcessingItem.id == item.id).execute()
    assert queries.torrent_vanished(download.id, "qbt", NOW, policy) is VanishedOutcome.NEXT_RELEASE
    item = ProcessingItem.get_by_id(item.id)
    assert (item.status, item.release["title"]) == (S.FOUND, "Film.2020.720p")
    assert "again; taking the next alternative" in item.last_error
    assert Blocklist.get_or_none(Blocklist.release_key == download.info_hash) is not None
    assert Download.get_by_id(download.id).vanished == 2


def test_the_credentials_migration_scrubs_releases_stored_before_it(db):
    key = "stored-indexer-key-31"
    link = f"http://prowlarr:9696/1/download?apikey={key}&file=Film"
    download = _download(1)
    Download.update(release={"title": "T", "download_url": link, "indexer": "p"}).where(
        Download.id == download.id).execute()
    item = _downloading_item(download, release={"title": "T", "download_url": link, "indexer": "p"},
                             alternatives=[{"title": "U", "download_url": link, "magnet": None}])
    migration = importlib.import_module("migrations.021_remove_credentials_from_stored_releases")
    for table, columns in migration.COLUMNS.items():
        migration._scrub_table(db, table, columns)
    item, download = ProcessingItem.get_by_id(item.id), Download.get_by_id(download.id)
    for release in (item.release, item.available_releases[0], download.release):
        assert key not in json.dumps(release) and release["credentials_removed"] == ["apikey"]
        assert release["download_url"] == "http://prowlarr:9696/1/download?file=Film"


def test_a_download_stays_completed_while_an_item_that_joined_waits(db):
    download = _download(1, P.COMPLETED)
    item = _downloading_item(download)  # joined while the mapping ran
    assert not queries.download_mapped(download.id)
    assert Download.get_by_id(download.id).state == P.COMPLETED
    ProcessingItem.update(status=S.DOWNLOADED).where(ProcessingItem.id == item.id).execute()
    assert queries.download_mapped(download.id) and Download.get_by_id(download.id).state == P.MAPPED
