"""FeedWorker: polls each feed (an indexer's recent releases, a plain RSS/Atom feed) on its own interval and
matches the new releases to the wanted items (FEED_MATCH -> FOUND; the DownloadWorker grabs them as any found
release).

A poll runs in phases so no pooled connection is held across the network: claim the feed's task row (one daemon
polls a feed at a time, each feed once per interval), read pages back to the cursor without a connection, then
match and write in one short connection. Matching is the pure ``annexd.domain.feed_match``, read and applied
by ``actors.matching`` (shared with the IRC AnnounceWorkers). An indexer's rate limit postpones the feed's
task to its deadline, and the worker wakes itself then (no sleep in this thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.context import ActorContext
from actors.matching import match_and_apply
from actors.messages import SyncFeeds
from actors.worker import Worker
from annexd import metrics
from annexd.clients.feeds import FeedSource
from annexd.domain.feeds import MAX_CATCHUP_ITEMS, Catchup, Cursor, catch_up
from annexd.errors import InvalidInputError, NotYetError, ProviderError
from store import queries

LEASE_SECONDS = 900.0  # a daemon that dies mid-poll holds a feed at most this long


def task_name(feed: str) -> str:
    return f"feed:{feed}"


class FeedWorker(Worker):
    name = "feeds"

    def __init__(self, ctx: ActorContext, interval_ms: int, sources: Sequence[FeedSource],
                 max_items: int = MAX_CATCHUP_ITEMS):
        super().__init__(ctx, interval_ms)
        self.sources = list(sources)
        self.max_items = max_items

    def handle(self, message: Any) -> Any:
        if isinstance(message, SyncFeeds):
            self.log.info("feeds_sync_requested", reason=message.reason)
            return sum(self.poll_feed(source, force=True) for source in self.sources)
        return super().handle(message)

    def run_once(self) -> int:
        done = sum(self.poll_feed(source) for source in self.sources)
        self.export_last_polls()
        self.polls += 1
        return done

    def export_last_polls(self) -> None:
        """The last successful poll of each feed, by whichever daemon polled it (the task rows are shared)."""
        with self.ctx.db.connection_context():
            states = {s.name: s for s in queries.task_states("feed:")}
        for source in self.sources:
            state = states.get(task_name(source.name))
            if state is not None and state.last_ok_at is not None:
                metrics.FEED_LAST_POLL.labels(source.name).set(_epoch(state.last_ok_at))

    # --- one feed ------------------------------------------------------------------------------------
    def poll_feed(self, source: FeedSource, force: bool = False) -> int:
        """Claim, read back to the cursor, match; returns how many items moved to FOUND."""
        now = self.ctx.clock()
        with self.ctx.db.connection_context():
            if not queries.claim_task(task_name(source.name), self.ctx.instance_id, now, LEASE_SECONDS, force=force):
                return 0
            cursor = Cursor.from_dict(_task_data(source.name))
        log = self.log.bind(feed=source.name)
        try:
            caught = catch_up(source.page, cursor, pageable=source.pageable, max_items=self.max_items)
        except NotYetError as exc:  # the indexer's rate limit: read again at its deadline (the pages read are kept)
            with self.ctx.db.connection_context():
                queries.postpone_task(task_name(source.name), self.ctx.instance_id,
                                      now + timedelta(seconds=exc.retry_in))
            self.wake_in(exc.retry_in, f"feed {source.name} waits for its rate limit")
            return 0
        except (ProviderError, InvalidInputError) as exc:
            self._finish(source, now, error=str(exc))
            metrics.FEED_POLLS.labels(source.name, "error").inc()
            log.warning("feed_poll_failed", error=str(exc))
            return 0
        if caught.gap and not cursor.empty:
            metrics.FEED_POLLS.labels(source.name, "gap").inc()
            log.warning("feed_gap", since=_iso(cursor.published), oldest_read=_iso(caught.oldest),
                        read=caught.seen, pages=caught.pages,
                        reason="the feed does not go back to the last poll" if caught.seen < self.max_items
                        else f"stopped after {self.max_items} releases")
        else:
            metrics.FEED_POLLS.labels(source.name, "ok").inc()
        moved = self._apply(source.name, caught, now)
        self._finish(source, now, data=caught.cursor(cursor).to_dict())
        log.info("feed_polled", read=caught.seen, new=len(caught.new), pages=caught.pages, matched=moved)
        if moved:
            self.ctx.wake("download", f"{moved} item(s) found in feed {source.name}")
        return moved

    def _finish(self, source: FeedSource, now: datetime, *, error: str | None = None,
                data: dict[str, Any] | None = None) -> None:
        next_run = now + timedelta(minutes=source.interval_minutes)
        with self.ctx.db.connection_context():
            queries.finish_task(task_name(source.name), self.ctx.instance_id, now, next_run, error=error, data=data)

    # --- matching ------------------------------------------------------------------------------------
    def _apply(self, feed: str, caught: Catchup, now: datetime) -> int:
        if not caught.new:
            return 0
        with self.ctx.db.connection_context():
            batch, moved = match_and_apply(self.ctx, caught.new, now)
        for _, decision in batch.per_release:
            metrics.FEED_RELEASES.labels(feed, decision.outcome.value).inc()
        return moved


def _task_data(feed: str) -> dict[str, Any] | None:
    states = queries.task_states(task_name(feed))
    return next((s.data for s in states if s.name == task_name(feed)), None)


def _epoch(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
