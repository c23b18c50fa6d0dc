"""Tiny timer threads whose only job is to tell an actor a Tick (no sleeping inside actors)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

# A slow actor must not pile up ticks: skip a tick while this many messages are already waiting.
MAX_QUEUED_TICKS = 2


class Ticker:
    def __init__(self, actor_ref: pykka.ActorRef[Any], interval_s: float, message: Callable[[float], Any], name: str):
        self.actor_ref = actor_ref
        self.interval_s = interval_s
        self.message = message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ticker-{name}", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.actor_ref.is_alive():
                return
            if inbox_depth(self.actor_ref) < MAX_QUEUED_TICKS:
                self.actor_ref.tell(self.message(time.monotonic()))


def inbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """Messages waiting for an actor (pykka's threading inbox is a queue.Queue)."""
    return int(getattr(ref.actor_inbox, "qsize", lambda: 0)())


def tell_later(actor_ref: pykka.ActorRef[Any], delay_s: float, message: Any, name: str) -> threading.Timer:
    """Tell ``message`` to ``actor_ref`` after ``delay_s`` from a timer thread (used for restart backoff)."""

    def fire() -> None:
        if actor_ref.is_alive():
            actor_ref.tell(message)

    timer = threading.Timer(delay_s, fire)
    timer.name = f"timer-{name}"
    timer.daemon = True
    timer.start()
    return timer
