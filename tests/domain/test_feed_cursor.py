"""Feed cursors: reading back to the last poll, bounded, and the gap when a feed does not go back that far."""

from datetime import UTC, datetime, timedelta

from annexd.domain.feeds import Cursor, catch_up
from annexd.domain.quality import Release
from annexd.domain.releases import parse_release

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def rel(n):
    """Release n, published n minutes after T0 (higher n = newer)."""
    return Release(guid=f"{n:040x}", title=f"Show.S01E{n:02d}.720p.WEB-DL.x264-G", size=1, indexer="f",
                   parsed=parse_release("x"), published=T0 + timedelta(minutes=n))


class Feed:
    def __init__(self, newest, count, page_size=10):
        self.items = [rel(n) for n in range(newest, newest - count, -1)]
        self.page_size = page_size
        self.offsets = []

    def page(self, offset):
        self.offsets.append(offset)
        return self.items[offset: offset + self.page_size]


def test_the_first_poll_reads_one_page_and_reports_no_gap():
    feed = Feed(100, 50)
    caught = catch_up(feed.page, Cursor(), pageable=True)
    assert feed.offsets == [0] and len(caught.new) == 10 and not caught.gap
    assert caught.cursor(Cursor()) == Cursor(rel(100).guid, datetime(2026, 6, 1, 13, 40))


def test_a_poll_reads_pages_back_to_the_cursor():
    feed = Feed(100, 100)
    cursor = Cursor(rel(63).guid, (T0 + timedelta(minutes=63)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=True)
    assert [r.guid for r in caught.new] == [rel(n).guid for n in range(100, 63, -1)]
    assert feed.offsets == [0, 10, 20, 30] and not caught.gap


def test_an_older_publish_time_also_ends_the_read_when_the_cursor_release_is_gone():
    feed = Feed(100, 100)
    feed.items = [r for r in feed.items if r.guid != rel(63).guid]
    cursor = Cursor(rel(63).guid, (T0 + timedelta(minutes=63)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=True)
    assert len(caught.new) == 37 and not caught.gap


def test_a_feed_that_does_not_reach_back_reports_a_gap():
    feed = Feed(100, 25)  # keeps releases 76..100; the last poll saw 50
    cursor = Cursor(rel(50).guid, (T0 + timedelta(minutes=50)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=True)
    assert caught.gap and len(caught.new) == 25
    assert caught.oldest == (T0 + timedelta(minutes=76)).replace(tzinfo=None)


def test_reading_back_is_bounded():
    feed = Feed(5000, 5000, page_size=100)
    cursor = Cursor(rel(1).guid, (T0 + timedelta(minutes=1)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=True, max_items=1000)
    assert caught.gap and caught.seen == 1000 and len(feed.offsets) == 10


def test_a_feed_that_cannot_page_is_read_once():
    feed = Feed(100, 100)
    cursor = Cursor(rel(50).guid, (T0 + timedelta(minutes=50)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=False)
    assert feed.offsets == [0] and caught.gap and len(caught.new) == 10


def test_nothing_new_keeps_the_cursor():
    feed = Feed(100, 30)
    cursor = Cursor(rel(100).guid, (T0 + timedelta(minutes=100)).replace(tzinfo=None))
    caught = catch_up(feed.page, cursor, pageable=True)
    assert caught.new == () and not caught.gap and caught.cursor(cursor) == cursor


def test_cursor_round_trips_through_json():
    cursor = Cursor("abc", datetime(2026, 1, 2, 3, 4, 5))
    assert Cursor.from_dict(cursor.to_dict()) == cursor and Cursor.from_dict(None).empty
