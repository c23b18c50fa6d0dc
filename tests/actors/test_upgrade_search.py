"""The slow upgrade search: SearchWorker on a real PostgreSQL against a fake Torznab indexer walks the COMPLETED
items batch by batch, searches only those below their cutoff, and moves one to FOUND only for a real upgrade."""

from dataclasses import replace
from datetime import datetime, timedelta

from actors.context import ActorContext
from actors.search import UPGRADE_TASK, SearchWorker
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config import Config
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.quality import QualityProfile
from annexd.domain.request_specs import RequestSpec
from annexd.domain.search import SearchConfig
from store import queries
from store.models import ProcessingItem, TaskState
from tests.fakes.torznab import FakeItem, FakeTorznab
from tests.util import wait_until

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
KEY = "idx-key-5551234"
PROFILE = QualityProfile(name="default", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")


def _completed(db, title, year, delivered):
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title=title, year=year), NOW - timedelta(days=3))
        item_id = queries.request_items(req.id)[0].id
        ProcessingItem.update(status=S.COMPLETED, delivered_at=NOW - timedelta(days=1), release={
            "guid": delivered, "title": delivered, "size": GB, "indexer": "old"}).where(
            ProcessingItem.id == item_id).execute()
    return item_id


def test_the_upgrade_search_upgrades_items_below_cutoff_only_batch_by_batch(pg):
    fake = FakeTorznab(api_key=KEY).start()
    try:
        fake.items = [
            FakeItem("Dune.2021.1080p.WEB-DL.x264-GRP", 5 * GB, seeders=50, info_hash="1" * 40, category=2000),
            FakeItem("Heat.1995.1080p.WEB-DL.x264-GRP", 5 * GB, seeders=50, info_hash="2" * 40, category=2000),
        ]
        below = _completed(pg, "Dune", 2021, "Dune.2021.720p.WEB-DL.x264-OLD")
        at_cutoff = _completed(pg, "Heat", 1995, "Heat.1995.1080p.WEB-DL.x264-OLD")
        idx = TorznabIndexer(name="fake", url=fake.base_url, api_key=KEY, min_interval=0.0, timeout=2.0)
        cfg = replace(Config(), quality_profiles=(PROFILE,),
                      search=replace(SearchConfig(), upgrade_search_hours=24.0, upgrade_search_batch=1))
        SearchWorker.start(ActorContext(db=pg, config=cfg, clock=lambda: NOW), 200, [TorznabClient(idx)])

        def pass_done():
            with pg.connection_context():
                task = TaskState.get_or_none(TaskState.name == UPGRADE_TASK)
                return task if task and task.next_run_at and task.next_run_at > NOW and not task.claimed_by else None

        task = wait_until(pass_done, timeout=30, what="one pass of the upgrade search")
        with pg.connection_context():
            upgraded, kept = ProcessingItem.get_by_id(below), ProcessingItem.get_by_id(at_cutoff)
        assert (upgraded.status, upgraded.upgrading) == (S.FOUND, True)
        assert upgraded.release["title"] == "Dune.2021.1080p.WEB-DL.x264-GRP"
        assert upgraded.delivered_at == NOW - timedelta(days=1)
        assert (kept.status, kept.upgrading) == (S.COMPLETED, False)
        assert task.next_run_at == NOW + timedelta(hours=24) and task.data == {"after": 0}
        searched = [q.get("q", "") for q in fake.searches()]
        assert any("Dune" in q for q in searched) and not any("Heat" in q for q in searched)  # at cutoff: not asked
    finally:
        fake.stop()
