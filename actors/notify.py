"""NotifyWorker: drains the notification outbox. Never in a stage's way: stages only write an event row in their
own transaction; this actor fans events out to the destinations whose filters take them, claims due rows (one
daemon per row: SKIP LOCKED and a lease), sends them with no pooled connection held, and records the outcome.

A failed send is tried again with backoff (annexd.domain.notifications.RETRY) up to MAX_ATTEMPTS; a destination
that fails once in a round has its other rows of that round put off, so a dead destination costs at most one
timeout per round and never holds up the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from actors.context import ActorContext
from actors.worker import DB_UNAVAILABLE, Worker
from annexd import metrics
from annexd.clients.notify import Destination
from annexd.domain.notifications import RETRY
from annexd.errors import ProviderError
from store import queries
from store.models import Notification

LEASE_SECONDS = 300.0
BATCH = 20
PRUNE_EVERY_POLLS = 1000


class NotifyWorker(Worker):
    name = "notify"

    def __init__(self, ctx: ActorContext, interval_ms: int, destinations: Mapping[str, Destination],
                 routes: Mapping[str, Sequence[str]]):
        super().__init__(ctx, interval_ms)
        self.destinations = dict(destinations)
        self.routes = dict(routes)

    def prepare(self) -> None:
        """Notification rows carry their own leases (no item claims to release)."""

    def run_once(self) -> int:
        """Claim due rows, then send each outside any connection; a database that is away is waited out, like
        every worker does (the rows stay claimed under their lease and go out once it is back)."""
        now = self.ctx.clock()
        try:
            with self.ctx.db.connection_context():
                queries.fan_out(self.routes, now)
                rows = queries.claim_notifications(self.ctx.instance_id, now, LEASE_SECONDS, BATCH)
                if self.polls % PRUNE_EVERY_POLLS == 0:
                    queries.prune_notifications(now - timedelta(days=self.ctx.config.notify.retention_days))
            failed: set[str] = set()
            for row in rows:
                self.deliver(row, failed)
        except DB_UNAVAILABLE as exc:
            self.log.warning("database_unavailable", error=str(exc).strip()[:200])
            rows = []
        self.polls += 1
        return len(rows)

    def deliver(self, row: Notification, failed: set[str]) -> None:
        """Send one claimed row (its connection taken only to record the outcome)."""
        destination = self.destinations.get(row.destination)
        event = row.event
        log = self.log.bind(destination=row.destination, event=event.kind, notification_id=row.id)
        if destination is None or row.destination in failed:
            # Not configured here (another daemon's config, or removed): leave it for later; a failing one: next round.
            with self.ctx.db.connection_context():
                queries.notification_deferred(row.id, self.ctx.instance_id,
                                              self.ctx.clock() + timedelta(seconds=RETRY.base_seconds))
            return
        try:
            destination.send(event.kind, event.facts or {})
        except ProviderError as exc:
            failed.add(destination.name)
            with self.ctx.db.connection_context():
                status = queries.notification_failed(row.id, self.ctx.instance_id, str(exc), self.ctx.clock())
            outcome = "gave_up" if status == "failed" else "retry"
            metrics.NOTIFICATIONS.labels(destination.name, outcome).inc()
            log.warning("notification_failed", error=str(exc), outcome=outcome)
            return
        with self.ctx.db.connection_context():
            queries.notification_sent(row.id, self.ctx.instance_id, self.ctx.clock())
        metrics.NOTIFICATIONS.labels(destination.name, "sent").inc()
        log.info("notification_sent")

    def poll(self) -> int:  # run_once does the work (it holds a connection only around the store calls)
        return 0
