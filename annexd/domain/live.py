"""The latest progress of every item, in memory: what the HTTP API shows between database checkpoints.

The DB writer publishes every progress report it receives and drops an item's entry when its status changes;
HTTP handlers read it from their own thread. An entry only counts while the item is still in the status the
report was made in and has not changed status since (a retried download starts again from its own reports),
so a stale entry never shows through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from annexd.domain.coalesce import Progressish


class Report(Progressish, Protocol):
    @property
    def speed(self) -> int | None: ...
    @property
    def eta_seconds(self) -> int | None: ...
    @property
    def detail(self) -> str | None: ...


@dataclass(frozen=True)
class LiveEntry:
    status: str
    progress: float
    speed: int | None
    eta_seconds: int | None
    detail: str | None
    at: datetime  # when it was reported, on the clock that stamps status changes


class LiveProgress:
    def __init__(self) -> None:
        self._entries: dict[int, LiveEntry] = {}
        self._lock = threading.Lock()

    def publish(self, reports: Iterable[Report], at: datetime) -> None:
        entries = {r.item_id: LiveEntry(str(r.status), round(r.progress, 2), r.speed, r.eta_seconds, r.detail, at)
                   for r in reports}
        with self._lock:
            self._entries.update(entries)

    def discard(self, item_ids: Iterable[int]) -> None:
        with self._lock:
            for item_id in item_ids:
                self._entries.pop(item_id, None)

    def get(self, item_id: int, status: str, status_changed_at: datetime | None) -> LiveEntry | None:
        """The live entry of an item still in the ``status`` it entered at ``status_changed_at``, else None (the
        database copy stands)."""
        entry = self._entries.get(item_id)
        if entry is None or entry.status != status:
            return None
        return entry if status_changed_at is None or entry.at >= status_changed_at else None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)
