"""What every actor is given: the database, the config, the clock and the refs it may tell."""

from __future__ import annotations

import os
import secrets
import socket
import threading
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
    # How many times each worker has been started in this daemon: its claims carry the counter, so a restarted
    # worker's old claims are recognisably stale.
    starts: dict[str, int] = field(default_factory=dict)
    # The daemon's HTTP address once it listens (the built-in encoder agent connects to it).
    http_url: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # When each ticking actor last handled a tick (monotonic seconds): what the systemd watchdog looks at.
    beats: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.instance_id:
            # Short enough that "<instance>:<worker>:<counter>" fits the 100-character owner column.
            self.instance_id = f"{self.host[:60]}:{self.pid}:{secrets.token_hex(3)}"

    def begin_incarnation(self, worker: str) -> str:
        """Count one more start of ``worker``; its claim owner, ``<daemon instance>:<worker>:<start counter>``."""
        with self._lock:
            self.starts[worker] = self.starts.get(worker, 0) + 1
            return f"{self.instance_id}:{worker}:{self.starts[worker]}"

    def running_workers(self) -> dict[str, int]:
        """This daemon's workers that are alive, with the start counter of the running incarnation."""
        return {name: self.starts[name] for name, ref in list(self.workers.items())
                if name in self.starts and ref.is_alive()}

    def beat(self, name: str) -> None:
        """Actor ``name`` is ticking (a plain dict write: safe from any thread)."""
        self.beats[name] = time.monotonic()

    def wake(self, name: str, reason: str) -> None:
        """Tell worker ``name`` that work may be waiting (hand-off without waiting for its next tick)."""
        from actors.messages import Wake

        ref = self.workers.get(name)
        if ref is not None and ref.is_alive():
            ref.tell(Wake(reason))
