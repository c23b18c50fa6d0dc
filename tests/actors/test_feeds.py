"""FeedWorker on a real PostgreSQL against fake Torznab feeds served in pages: the cursor, paging back after
downtime, the gap report, one poll per feed across two daemons, matching to waiting items (found, kept as an
alternative, blocklisted), and one release announced by two feeds at once moving an item once."""

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from actors.context import ActorContext
from actors.feeds import FeedWorker
from annexd import metrics
from annexd.clients.feeds import IndexerFeed
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config import Config
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.quality import QualityProfile
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries
from tests.fakes.torznab import FakeItem, FakeTorznab

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
KEY = "feed-key-4242"
PROFILE = QualityProfile(name="default", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


def item(n, title=None, minutes=None, size=GB):
    published = NOW.replace(tzinfo=UTC) - timedelta(minutes=minutes if minutes is not None else 10_000 - n)
    return FakeItem(title or f"Filler.Show.S01E{n % 90 + 1:02d}.720p.WEB-DL.x264-F{n}", size,
                    info_hash=f"{n:040x}", pub_date=published)


@pytest.fixture
def fakes():
    started = []

    def make(name="idx", max_limit=10):
        fake = FakeTorznab(api_key=KEY, max_limit=max_limit).start()
        fake.feed = []
        fake.name = name
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def source(fake):
    return IndexerFeed(TorznabClient(TorznabIndexer(name=fake.name, url=fake.base_url, api_key=KEY,
                                                    min_interval=0.0, timeout=5.0)))


def worker(db, clock, instance="daemon-a"):
    cfg = replace(Config(), quality_profiles=(PROFILE,))
    return FeedWorker(ActorContext(db=db, config=cfg, clock=clock, instance_id=instance), 3_600_000, [])


def awaiting_episode(db, title="The Show", episode=3):
    """A requested episode that waits (announced for tomorrow): what a feed release can satisfy."""
    spec = RequestSpec(kind="tv", title=title, episodes=(EpisodeSpec(1, episode, "", NOW.date() + timedelta(days=1)),))
    with db.connection_context():
        req = queries.create_request(spec, NOW - timedelta(days=2))
        [row] = queries.request_items(req.id)
    assert row.status == S.AWAITING
    return row.id


def load(db, item_id):
    with db.connection_context():
        return queries.get_item(item_id)


def test_the_cursor_lets_a_poll_page_back_after_downtime(pg, fakes):
    fake, clock = fakes(), Clock()
    fake.announce(*[item(n) for n in range(5, 0, -1)])
    feed, poller = source(fake), worker(pg, clock)
    poller.poll_feed(feed)
    assert [q["offset"] for q in fake.feed_reads()] == ["0"]
    with pg.connection_context():
        [state] = queries.task_states("feed:idx")
    assert state.data["guid"] == f"{5:040x}" and state.next_run_at == NOW + timedelta(minutes=15)

    clock.now = NOW + timedelta(minutes=5)  # not due yet: nothing read
    poller.poll_feed(feed)
    assert len(fake.feed_reads()) == 1

    fake.announce(*[item(n) for n in range(40, 5, -1)])  # 35 releases while annexd was down
    clock.now = NOW + timedelta(hours=6)
    with capture_logs() as logs:
        poller.poll_feed(feed)
    assert [q["offset"] for q in fake.feed_reads()[1:]] == ["0", "10", "20", "30"]
    [polled] = [e for e in logs if e["event"] == "feed_polled"]
    assert (polled["new"], polled["pages"]) == (35, 4)
    assert not [e for e in logs if e["event"] == "feed_gap"]
    with pg.connection_context():
        [state] = queries.task_states("feed:idx")
    assert state.data["guid"] == f"{40:040x}" and state.last_error is None


def test_a_feed_that_dropped_releases_since_the_last_poll_logs_a_gap(pg, fakes):
    fake, clock = fakes(), Clock()
    fake.feed_keep = 20  # the indexer lists only its 20 newest releases
    fake.announce(*[item(n) for n in range(3, 0, -1)])
    feed, poller = source(fake), worker(pg, clock)
    poller.poll_feed(feed)
    gaps = metrics.FEED_POLLS.labels("idx", "gap")
    before = gaps._value.get()
    fake.announce(*[item(n) for n in range(60, 3, -1)])
    clock.now = NOW + timedelta(hours=1)
    with capture_logs() as logs:
        poller.poll_feed(feed)
    [gap] = [e for e in logs if e["event"] == "feed_gap"]
    assert gap["read"] == 20 and gap["since"] and gap["oldest_read"] > gap["since"]
    assert "does not go back" in gap["reason"]
    assert gaps._value.get() == before + 1


def test_two_daemons_poll_each_feed_once(pg, fakes):
    feeds = [fakes("one"), fakes("two")]
    for fake in feeds:
        fake.announce(item(1))
    clock = Clock()
    daemons = [worker(pg, clock, "daemon-a"), worker(pg, clock, "daemon-b")]
    barrier = threading.Barrier(2)

    def run(poller):
        barrier.wait()
        for fake in feeds:
            poller.poll_feed(source(fake))

    threads = [threading.Thread(target=run, args=(d,)) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [len(f.feed_reads()) for f in feeds] == [1, 1]
    clock.now = NOW + timedelta(minutes=16)  # due again: whichever daemon comes first polls, once
    for poller in daemons:
        for fake in feeds:
            poller.poll_feed(source(fake))
    assert [len(f.feed_reads()) for f in feeds] == [2, 2]


def test_a_feed_release_for_an_awaiting_episode_finds_it(pg, fakes):
    item_id = awaiting_episode(pg)
    fake = fakes()
    fake.announce(item(1), item(2, "The.Show.S01E03.1080p.WEB-DL.x264-GRP", minutes=1, size=2 * GB))
    matched = metrics.FEED_RELEASES.labels("idx", "matched")
    before = matched._value.get()
    assert worker(pg, Clock()).poll_feed(source(fake)) == 1
    found = load(pg, item_id)
    assert found.status == S.FOUND and found.release["title"] == "The.Show.S01E03.1080p.WEB-DL.x264-GRP"
    assert found.quality_met is True and matched._value.get() == before + 1


def test_below_profile_is_kept_as_an_alternative_and_blocklisted_is_ignored(pg, fakes):
    item_id = awaiting_episode(pg)
    blocked = item(3, "The.Show.S01E03.1080p.WEB-DL.x264-BAD", minutes=1, size=2 * GB)
    with pg.connection_context():
        queries.add_to_blocklist(blocked.info_hash, blocked.title, "failed before", None, NOW)
    fake = fakes()
    fake.announce(item(2, "The.Show.S01E03.480p.WEB-DL.x264-SD", minutes=2, size=GB // 2), blocked)
    counts = {o: metrics.FEED_RELEASES.labels("idx", o)._value.get() for o in ("alternative", "blocklisted")}
    assert worker(pg, Clock()).poll_feed(source(fake)) == 0
    kept = load(pg, item_id)
    assert kept.status == S.AWAITING and kept.release is None and kept.quality_met is False
    assert [r["title"] for r in kept.available_releases] == ["The.Show.S01E03.480p.WEB-DL.x264-SD"]
    assert {o: metrics.FEED_RELEASES.labels("idx", o)._value.get() - n for o, n in counts.items()} == {
        "alternative": 1, "blocklisted": 1}


def test_two_feeds_announcing_one_release_at_once_move_the_item_once(pg, fakes):
    item_id = awaiting_episode(pg)
    release = item(7, "The.Show.S01E03.1080p.WEB-DL.x264-GRP", minutes=1, size=2 * GB)
    feeds = [fakes("one"), fakes("two")]
    for fake in feeds:
        fake.announce(release)
    pollers = [worker(pg, Clock(), "daemon-a"), worker(pg, Clock(), "daemon-b")]
    barrier = threading.Barrier(2)
    moved = []

    def run(poller, fake):
        barrier.wait()
        moved.append(poller.poll_feed(source(fake)))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(pollers, feeds, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(moved) == [0, 1]
    assert all(len(f.feed_reads()) == 1 for f in feeds)
    assert load(pg, item_id).status == S.FOUND
