"""AnnounceWorker: one IRC network's announces into the pipeline (one worker per ``[[irc]]`` network).

Holding the network: with several daemons on one database exactly one is connected to each network. The worker
holds it through a leased task row (``irc:<name>``) renewed on every tick; the hold passes to another daemon
when this one stops cleanly (released at once), dies (its heartbeat stops, or it is found gone on its host) or
cannot renew it within the lease. A daemon takes a hold only once its own heartbeat is recorded, so another
daemon never mistakes a fresh holder for a dead one. While it holds the network the worker runs the IRC client
(annexd.clients.irc); a lost hold disconnects it.

An announce: the client's channel thread tells the worker each complete announce. It becomes a release without
its secret link (annexd.domain.announce.grab), is matched to the wanted items and judged by their profiles,
the blocklist and the size limits exactly as a feed release (actors.matching), and an accepted one moves the
items to FOUND by compare-and-set, so two networks announcing one release grab it once. The DownloadWorker
grabs it, building the link again with the network's settings.

What each network is doing (state, reason, channels, who holds it) is published on an :class:`IrcBoard` that
/health reads without asking the actor, and exported as metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import peewee

from actors.context import ActorContext
from actors.matching import match_and_apply
from actors.messages import AnnounceReceived
from actors.worker import Worker
from annexd import metrics
from annexd.clients.irc import Announce, IrcAnnounceClient, LinkState, Resolver
from annexd.clients.irc_settings import IrcSettings
from annexd.domain.announce.grab import AnnounceSource, announce_release
from annexd.domain.announce.release import ReleaseError
from annexd.domain.feed_match import FeedOutcome
from annexd.domain.reconnect import ReconnectPolicy
from annexd.domain.releases import parse_release
from store import queries

MIN_LEASE_SECONDS = 60.0
DB_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def child_name(network: str) -> str:
    """The worker's name under the supervisor (and in the actor metrics)."""
    return f"irc:{network}"


def task_name(network: str) -> str:
    return f"irc:{network}"


class IrcBoard:
    """What each IRC network is doing, written by its AnnounceWorker and read by /health (no actor is asked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {}

    def publish(self, network: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._states[network] = state

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(state) for name, state in sorted(self._states.items())}


def health_check(board: IrcBoard) -> tuple[bool, Any]:
    """Failed while a network has stopped for good (a wrong password, a ban) or paused after a reconnect storm:
    no announce will come until a person acts or the pause ends. Each network's state and reason is shown."""
    states = board.snapshot()
    stuck = {name: s for name, s in states.items() if s.get("state") in (LinkState.FATAL, LinkState.CIRCUIT_OPEN)}
    if stuck:
        return False, {"problem": "; ".join(f"{name}: {s['state']}: {s.get('reason')}" for name, s in stuck.items()),
                       "networks": states}
    return True, {"networks": states}


class AnnounceWorker(Worker):
    def __init__(self, ctx: ActorContext, interval_ms: int, settings: IrcSettings, source: AnnounceSource,
                 board: IrcBoard, resolve: Resolver, policy: ReconnectPolicy | None = None,
                 client_factory: Callable[..., IrcAnnounceClient] = IrcAnnounceClient):
        self.name = child_name(settings.name)
        super().__init__(ctx, interval_ms)
        self.settings, self.source, self.board = settings, source, board
        self.resolve, self.policy, self.client_factory = resolve, policy, client_factory
        self.lease_seconds = max(MIN_LEASE_SECONDS, 4 * self.interval_s)
        self.client: IrcAnnounceClient | None = None
        self.lease_until: datetime | None = None
        self.holder: str | None = None
        self.log = self.log.bind(network=settings.name)

    # --- holding the network --------------------------------------------------------------------------
    def run_once(self) -> int:
        held = self.hold(self.ctx.clock())
        if held and self.client is None:
            self.connect()
        elif not held and self.client is not None:
            self.disconnect(f"the network is held by {self.holder or 'another daemon'} now")
        self.publish()
        self.polls += 1
        return 0

    def hold(self, now: datetime) -> bool:
        """Take or renew the hold; while the database cannot answer, keep a hold whose lease has not run out."""
        task = task_name(self.settings.name)
        live_since = now - timedelta(seconds=self.ctx.config.worker.claim_stale_seconds)
        try:
            with self.ctx.db.connection_context():
                if not queries.instance_live(self.ctx.instance_id, live_since):
                    self.holder = None  # this daemon's heartbeat is not recorded yet
                    return False
                if queries.hold_task(task, self.ctx.instance_id, now, self.lease_seconds, live_since):
                    self.holder, self.lease_until = self.ctx.instance_id, now + timedelta(seconds=self.lease_seconds)
                    return True
                self.holder = next((s.claimed_by for s in queries.task_states(task) if s.name == task), None)
                return False
        except DB_ERRORS as exc:
            self.log.warning("irc_hold_unknown", error=str(exc)[:200])
            return self.client is not None and self.lease_until is not None and now < self.lease_until

    def connect(self) -> None:
        self.log.info("irc_network_held", instance=self.ctx.instance_id)
        self.client = self.client_factory(self.settings, self.source.definition, self.received,
                                          resolve=self.resolve, policy=self.policy)
        self.client.start()

    def disconnect(self, why: str) -> None:
        client, self.client = self.client, None
        if client is not None:
            self.log.info("irc_network_released", reason=why)
            client.stop()
        metrics.IRC_CONNECTED.labels(self.settings.name).set(0)

    def received(self, announce: Announce) -> None:
        """From the client's channel thread: hand the announce to the actor (a tell, never a call up)."""
        self.actor_ref.tell(AnnounceReceived(announce.network, announce.channel, tuple(announce.vars.items()),
                                             announce.received_at))

    def status(self) -> dict[str, Any]:
        if self.client is None:
            why = (f"held by {self.holder}" if self.holder else "this daemon's heartbeat is not recorded yet")
            return {"state": "standby", "reason": why, "held_by": self.holder}
        return {**self.client.health(), "held_by": self.ctx.instance_id}

    def publish(self) -> None:
        status = self.status()
        self.board.publish(self.settings.name, status)
        joined = {c.lower() for c in status.get("joined", ())}
        connected = status.get("state") == LinkState.CONNECTED and joined >= {c.lower() for c in
                                                                              self.settings.channels}
        metrics.IRC_CONNECTED.labels(self.settings.name).set(1 if connected else 0)

    # --- announces --------------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, AnnounceReceived):
            return self.announce(message)
        return super().handle(message)

    def announce(self, message: AnnounceReceived) -> int:
        """Match one announce; returns how many items moved to FOUND."""
        network = self.settings.name
        metrics.IRC_ANNOUNCES_PARSED.labels(network).inc()
        metrics.IRC_LAST_ANNOUNCE.labels(network, message.channel).set(message.received_at)
        log = self.log.bind(channel=message.channel)
        now = self.ctx.clock()
        try:
            release = announce_release(dict(message.vars), self.source, parse_release, now)
        except ReleaseError as exc:
            log.warning("irc_announce_invalid", error=str(exc))
            return 0
        try:
            with self.ctx.db.connection_context():
                batch, moved = match_and_apply(self.ctx, [release], now)
        except DB_ERRORS as exc:  # an announce is not repeated: say what was lost
            log.error("irc_announce_lost", release=release.title, error=str(exc)[:200])
            return 0
        decision = batch.per_release[0][1]
        if decision.outcome is FeedOutcome.MATCHED:
            metrics.IRC_ANNOUNCES_MATCHED.labels(network).inc()
        if moved:
            metrics.IRC_ANNOUNCES_GRABBED.labels(network).inc()
            self.ctx.wake("download", f"{moved} item(s) found in an announce on {network}")
        log.info("irc_announce", release=release.title, outcome=decision.outcome.value, reason=decision.reason,
                 found=moved, seconds=round(time.time() - message.received_at, 3))
        return moved

    # --- stopping ---------------------------------------------------------------------------------------
    def on_stop(self) -> None:
        super().on_stop()
        self.disconnect("stopping")
        try:
            with self.ctx.db.connection_context():
                queries.release_task(task_name(self.settings.name), self.ctx.instance_id)
        except DB_ERRORS:
            pass  # the lease runs out instead
        self.board.publish(self.settings.name, {"state": "stopped", "reason": "the daemon is stopping"})

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self.disconnect(f"the worker failed: {exception_value!r}")  # its replacement connects again
        super().on_failure(exception_type, exception_value, traceback)
