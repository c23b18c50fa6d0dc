"""The Worker base: a pykka actor driven by a Ticker that polls the store for work it can claim."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import peewee
import pykka
import structlog

from actors.context import ActorContext
from actors.messages import ChildFailed, Tick, Wake
from actors.ticker import Ticker, tell_later
from annexd.errors import ProviderError
from store import queries

# The database is unreachable or busy right now: an expected error, the poll is simply tried again.
DB_UNAVAILABLE = (peewee.OperationalError, peewee.InterfaceError)


HELD_RETRY_S = 1.0


@dataclass(frozen=True)
class RetryHeld:
    """Try the messages held during a database outage again (one timer per worker, not one per message)."""


class Worker(pykka.ThreadingActor):
    """Subclasses set ``name`` and implement :meth:`poll`; one poll runs per Tick or Wake.

    Each start is one incarnation with its own claim owner (``self.owner``, ``<daemon instance>:<worker>:<start
    counter>``). :meth:`prepare` runs first (in ``on_start``): by default it releases the claims earlier
    incarnations of this worker left behind; workers whose claims are carried by rows (encode jobs, transfers)
    take them over instead.

    A poll holds one pooled connection for its duration only, and not even that while it waits on the network
    or a subprocess: such calls run inside :meth:`offline`, which hands the connection back to the pool (so a
    pool of a few connections serves the API and the other workers meanwhile). Expected provider errors and an unreachable
    database are logged and the poll is tried again at the next tick (a message that needed the database is
    told again after a pause); anything unexpected escapes, pykka stops the actor, and the failure reaches the
    supervisor, which restarts the worker: from ``on_failure`` while running, and from ``on_start`` itself
    (pykka hands on_start failures to its own logging, not to on_failure).
    """

    name = "worker"

    def __init__(self, ctx: ActorContext, interval_ms: int):
        super().__init__()
        self.ctx = ctx
        self.interval_s = interval_ms / 1000.0
        self.owner = ctx.begin_incarnation(self.name)
        self.log = structlog.get_logger(f"annexd.{self.name}").bind(actor=self.name)
        self._ticker: Ticker | None = None
        self._deadline: tuple[float, threading.Timer] | None = None  # the next wake_in(): when, and its timer
        self.polls = 0
        self._reported = False
        self._held: list[Any] = []  # messages waiting for the database, in arrival order
        self._retry_scheduled = False

    def on_start(self) -> None:
        try:
            with self.ctx.db.connection_context():
                self.prepare()
        except Exception as exc:
            self._report_failure(exc)
            raise
        self._ticker = Ticker(self.actor_ref, self.interval_s, Tick, self.name).start()
        self.actor_ref.tell(Tick(time.monotonic()))

    def prepare(self) -> None:
        """Before the first poll: release the claims this worker's earlier incarnations left behind."""
        released = queries.release_stale_incarnations(self.ctx.instance_id, self.name, self.owner, self.ctx.clock())
        if released:
            self.log.warning("claims_of_earlier_incarnation_released", items=released)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick | Wake):
            self.run_once()
            return None
        if isinstance(message, RetryHeld):
            self._retry_scheduled = False
            held, self._held = self._held, []
            for one in held:
                self._handle_in_order(one)
            return None
        return self._handle_in_order(message)

    def _handle_in_order(self, message: Any) -> Any:
        """Handle ``message``; while the database is away it is held, with the ones after it (kept in order),
        and all are tried again a second later by one timer: a thousand messages during an outage used to start
        a thousand timer threads a second."""
        if not self._held:
            try:
                return self.handle(message)
            except DB_UNAVAILABLE as exc:
                self.log.warning("database_unavailable", error=str(exc).strip()[:200], retry_in_s=HELD_RETRY_S)
        self._held.append(message)
        if not self._retry_scheduled:
            self._retry_scheduled = True
            tell_later(self.actor_ref, HELD_RETRY_S, RetryHeld(), f"{self.name}-retry")
        return None

    def handle(self, message: Any) -> Any:
        """Other messages; subclasses override. Unknown messages are a programming error."""
        raise TypeError(f"{self.name}: unexpected message {message!r}")

    def run_once(self) -> int:
        done = 0
        try:
            with self.ctx.db.connection_context():
                done = self.poll()
        except ProviderError as exc:
            self.log.warning("provider_error", error=str(exc))
        except DB_UNAVAILABLE as exc:
            self.log.warning("database_unavailable", error=str(exc).strip()[:200])
        self.polls += 1
        return done

    def poll(self) -> int:
        """Do one round of work; return how many items were handled."""
        raise NotImplementedError

    @contextlib.contextmanager
    def offline(self) -> Iterator[None]:
        """Network or subprocess work in the middle of a poll: this thread's pooled connection goes back to the
        pool meanwhile and is taken again after. Inside a transaction it is kept (closing would abort it)."""
        db: Any = self.ctx.db  # peewee keeps the open contexts in its (untyped) thread state
        held = not db.is_closed()
        if held and db.in_transaction():
            self.log.warning("offline_call_inside_transaction")
            held = False
        contexts = list(db._state.ctx) if held else []  # the open connection_context()s: close() forgets them
        if held:
            db.close()
        try:
            yield
        finally:
            if held:
                try:
                    db.connect(reuse_if_open=True)  # the database may be gone meanwhile: OperationalError
                finally:
                    db._state.ctx.extend(contexts)  # so the enclosing connection_context()s still unwind

    def wake_in(self, delay_s: float, reason: str) -> None:
        """Poll again in ``delay_s`` seconds: work that must wait for a deadline (an indexer's rate limit, a
        torrent add to confirm) is postponed to it instead of sleeping in this thread. The earliest wins."""
        due = time.monotonic() + max(0.0, delay_s)
        if self._deadline is not None and self._deadline[1].is_alive() and self._deadline[0] <= due:
            return
        if self._deadline is not None:
            self._deadline[1].cancel()
        self._deadline = (due, tell_later(self.actor_ref, max(0.0, delay_s), Wake(reason), f"{self.name}-deadline"))

    def on_stop(self) -> None:
        if self._ticker:
            self._ticker.stop()
        if self._deadline is not None:
            self._deadline[1].cancel()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        self._report_failure(exception_value)

    def _report_failure(self, exc: BaseException | None) -> None:
        if self._reported:
            return
        self._reported = True
        if self._ticker:
            self._ticker.stop()
        self.log.error("worker_failed", error=repr(exc), during="start" if self._ticker is None else "run")
        if self.ctx.supervisor is not None and self.ctx.supervisor.is_alive():
            self.ctx.supervisor.tell(ChildFailed(self.name, repr(exc)))


def report_start_failure(actor: pykka.Actor, ctx: ActorContext, name: str) -> None:
    """For actors that are not Workers: tell the supervisor that on_start failed (call from an except block)."""
    exc = sys.exc_info()[1]
    structlog.get_logger(f"annexd.{name}").error("actor_failed", actor=name, error=repr(exc), during="start")
    if ctx.supervisor is not None and ctx.supervisor.is_alive():
        ctx.supervisor.tell(ChildFailed(name, repr(exc)))
