"""Feed cursors and catching up (pure; the page fetcher is passed in).

A feed (an indexer's recent releases, a plain RSS/Atom feed) lists releases newest first. The cursor is the
newest release a poll saw (its guid and publish time). The next poll reads pages until it reaches the cursor --
the same guid, or anything published before it -- so releases that appeared while annexd was down are not
missed; it reads at most ``max_items`` (Sonarr stops at 1,000), and when it cannot reach the cursor (the feed
does not go back that far, or the limit is hit) the poll reports a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from annexd.domain.quality import Release

MAX_CATCHUP_ITEMS = 1000
MIN_INTERVAL_MINUTES = 10.0
DEFAULT_INTERVAL_MINUTES = 15.0


def naive_utc(value: datetime | None) -> datetime | None:
    """Publish times compared as naive UTC (feeds mix zones; the store keeps naive UTC)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Cursor:
    guid: str | None = None
    published: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cursor:
        data = data or {}
        published = data.get("published")
        return cls(data.get("guid"), datetime.fromisoformat(published) if published else None)

    def to_dict(self) -> dict[str, Any]:
        return {"guid": self.guid, "published": self.published.isoformat() if self.published else None}

    @property
    def empty(self) -> bool:
        return self.guid is None and self.published is None

    def reached_by(self, release: Release) -> bool:
        """True when ``release`` is the cursor's or older: the previous poll saw it."""
        if self.guid is not None and release.guid == self.guid:
            return True
        published = naive_utc(release.published)
        return self.published is not None and published is not None and published < self.published


@dataclass(frozen=True)
class Catchup:
    new: tuple[Release, ...]  # newer than the cursor, newest first
    reached: bool  # the cursor was found (no gap)
    pages: int
    seen: int
    oldest: datetime | None  # the oldest publish time read (for the gap report)

    @property
    def gap(self) -> bool:
        return not self.reached

    def cursor(self, previous: Cursor) -> Cursor:
        """The cursor after this poll: the newest release seen, else the previous one."""
        if not self.new:
            return previous
        newest = self.new[0]
        return Cursor(newest.guid, naive_utc(newest.published))


def catch_up(fetch_page: Callable[[int], Sequence[Release]], cursor: Cursor, *, pageable: bool,
             max_items: int = MAX_CATCHUP_ITEMS) -> Catchup:
    """Read pages (``fetch_page(offset)``) until the cursor is reached, the feed ends or ``max_items`` were read.

    With no cursor (the first poll) one page is read and there is no gap to report.
    """
    new: list[Release] = []
    seen_keys: set[str] = set()
    pages = offset = 0
    oldest: datetime | None = None
    while len(seen_keys) < max_items:
        page = list(fetch_page(offset))
        pages += 1
        offset += len(page)
        fresh = [r for r in page if r.guid not in seen_keys]
        for release in fresh:
            seen_keys.add(release.guid)
            oldest = _older(oldest, naive_utc(release.published))
            if not cursor.empty and cursor.reached_by(release):
                return Catchup(tuple(new), True, pages, len(seen_keys), oldest)
            new.append(release)
        if cursor.empty or not pageable or not fresh:
            break
    return Catchup(tuple(new), cursor.empty, pages, len(seen_keys), oldest)


def _older(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b < a) else a
