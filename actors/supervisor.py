"""Supervisor: starts the writer then the workers, restarts a failed child with backoff within a budget,
and past the budget asks the daemon to shut down with a non-zero exit (the service manager restarts it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

from actors.context import ActorContext
from actors.messages import ChildFailed, RestartChild
from actors.ticker import tell_later
from annexd import metrics
from annexd.domain.retry import RetryPolicy

log = structlog.get_logger("annexd.supervisor")


@dataclass(frozen=True)
class ChildSpec:
    name: str
    start: Callable[[ActorContext], pykka.ActorRef[Any]]


@dataclass
class ChildState:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None
    restarts: deque[float] = field(default_factory=deque)
    failures: int = 0
    last_error: str | None = None


class Supervisor(pykka.ThreadingActor):
    name = "supervisor"

    def __init__(self, ctx: ActorContext, children: list[ChildSpec], on_give_up: Callable[[str], None]):
        super().__init__()
        self.ctx = ctx
        self.children = {spec.name: ChildState(spec) for spec in children}
        self.order = [spec.name for spec in children]
        self.on_give_up = on_give_up
        cfg = ctx.config.supervisor
        self.budget = cfg.restart_budget
        self.window_s = cfg.restart_window_seconds
        self.backoff = RetryPolicy(base_seconds=cfg.restart_backoff_seconds, factor=2.0, cap_seconds=60.0, jitter=0.1)
        self.gave_up = False

    def on_start(self) -> None:
        self.ctx.supervisor = self.actor_ref
        for name in self.order:
            self._start_child(name)

    def _start_child(self, name: str) -> None:
        state = self.children[name]
        try:
            state.ref = state.spec.start(self.ctx)
        except Exception as exc:  # a constructor that raised: the same as a failed start
            log.error("child_start_failed", child=name, error=repr(exc))
            self.actor_ref.tell(ChildFailed(name, repr(exc)))
            return
        if name == "writer":
            self.ctx.writer = state.ref
        else:
            self.ctx.workers[name] = state.ref
        metrics.ACTOR_UP.labels(name).set(1)
        log.info("child_started", child=name)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildFailed):
            return self._child_failed(message)
        if isinstance(message, RestartChild):
            if not self.gave_up:
                self._start_child(message.name)
            return None
        if message == "status":
            return self.status()
        raise TypeError(f"supervisor: unexpected message {message!r}")

    def _child_failed(self, message: ChildFailed) -> None:
        state = self.children.get(message.name)
        if state is None or self.gave_up:
            return
        metrics.ACTOR_UP.labels(message.name).set(0)
        state.failures += 1
        state.last_error = message.error
        now = time.monotonic()
        while state.restarts and now - state.restarts[0] > self.window_s:
            state.restarts.popleft()
        if len(state.restarts) >= self.budget:
            self.gave_up = True
            log.error("restart_budget_exhausted", child=message.name, error=message.error, budget=self.budget)
            self.on_give_up(f"{message.name} failed {len(state.restarts) + 1} times: {message.error}")
            return
        delay = self.backoff.delay(len(state.restarts))
        state.restarts.append(now)
        metrics.ACTOR_RESTARTS.labels(message.name).inc()
        log.warning("child_failed_restarting", child=message.name, error=message.error, in_s=round(delay, 2))
        tell_later(self.actor_ref, delay, RestartChild(message.name), message.name)

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "alive": bool(state.ref and state.ref.is_alive()),
                "restarts": len(state.restarts),
                "failures": state.failures,
                "last_error": state.last_error,
            }
            for name, state in self.children.items()
        }

    def child_refs(self) -> dict[str, pykka.ActorRef[Any]]:
        return {name: s.ref for name, s in self.children.items() if s.ref is not None}

    def stop_children(self, timeout: float) -> list[str]:
        """Stop workers in reverse start order, the writer last (its on_stop is the final flush)."""
        self.gave_up = True  # no restarts once shutdown has begun
        deadline = time.monotonic() + timeout
        not_stopped = []
        for name in reversed(self.order):
            ref = self.children[name].ref
            if ref is None or not ref.is_alive():
                continue
            remaining = max(0.1, deadline - time.monotonic())
            try:
                ref.stop(block=True, timeout=remaining)
            except pykka.Timeout:
                not_stopped.append(name)
            metrics.ACTOR_UP.labels(name).set(0)
        return not_stopped
