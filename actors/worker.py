"""The Worker base: a pykka actor driven by a Ticker that polls the store for work it can claim."""

from __future__ import annotations

import time
from typing import Any

import pykka
import structlog

from actors.context import ActorContext
from actors.messages import ChildFailed, Tick, Wake
from actors.ticker import Ticker
from annexd.errors import ProviderError


class Worker(pykka.ThreadingActor):
    """Subclasses set ``name`` and implement :meth:`poll`; one poll runs per Tick or Wake.

    A poll holds one pooled connection for its duration only. Expected provider errors are logged and
    counted by the subclass; anything unexpected escapes, pykka stops the actor, and :meth:`on_failure`
    reports it to the supervisor, which restarts the worker.
    """

    name = "worker"

    def __init__(self, ctx: ActorContext, interval_ms: int):
        super().__init__()
        self.ctx = ctx
        self.interval_s = interval_ms / 1000.0
        self.log = structlog.get_logger(f"annexd.{self.name}").bind(actor=self.name)
        self._ticker: Ticker | None = None
        self.polls = 0

    def on_start(self) -> None:
        self._ticker = Ticker(self.actor_ref, self.interval_s, Tick, self.name).start()
        self.actor_ref.tell(Tick(time.monotonic()))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick | Wake):
            self.run_once()
            return None
        return self.handle(message)

    def handle(self, message: Any) -> Any:
        """Other messages; subclasses override. Unknown messages are a programming error."""
        raise TypeError(f"{self.name}: unexpected message {message!r}")

    def run_once(self) -> int:
        with self.ctx.db.connection_context():
            try:
                done = self.poll()
            except ProviderError as exc:
                self.log.warning("provider_error", error=str(exc))
                done = 0
        self.polls += 1
        return done

    def poll(self) -> int:
        """Do one round of work; return how many items were handled."""
        raise NotImplementedError

    def on_stop(self) -> None:
        if self._ticker:
            self._ticker.stop()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._ticker:
            self._ticker.stop()
        self.log.error("worker_failed", error=repr(exception_value))
        if self.ctx.supervisor is not None and self.ctx.supervisor.is_alive():
            self.ctx.supervisor.tell(ChildFailed(self.name, repr(exception_value)))
