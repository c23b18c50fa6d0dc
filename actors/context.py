"""What every actor is given: the database, the config, the clock and the refs it may tell."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee
import pykka

from annexd.config import Config
from annexd.domain.live import LiveProgress
from store.models import utcnow


@dataclass
class ActorContext:
    db: peewee.Database
    config: Config
    clock: Callable[[], datetime] = utcnow
    writer: pykka.ActorRef[Any] | None = None
    supervisor: pykka.ActorRef[Any] | None = None
    # Named worker refs, filled in by the supervisor as it starts them, for event-driven hand-offs.
    workers: dict[str, pykka.ActorRef[Any]] = field(default_factory=dict)
    # Who this daemon is in the shared database: claims carry it, a heartbeat keeps it alive.
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    instance_id: str = ""
    # The latest progress of every item (published by the writer, read by the HTTP API).
    live: LiveProgress = field(default_factory=LiveProgress)
    # When each ticking actor last handled a tick (monotonic seconds): what the systemd watchdog looks at.
    beats: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.instance_id:
            self.instance_id = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"

    def beat(self, name: str) -> None:
        """Actor ``name`` is ticking (a plain dict write: safe from any thread)."""
        self.beats[name] = time.monotonic()

    def wake(self, name: str, reason: str) -> None:
        """Tell worker ``name`` that work may be waiting (hand-off without waiting for its next tick)."""
        from actors.messages import Wake

        ref = self.workers.get(name)
        if ref is not None and ref.is_alive():
            ref.tell(Wake(reason))
