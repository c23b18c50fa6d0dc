"""Progress coalescing for the DB writer (pure): latest wins per item, small or too-frequent changes wait."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Progressish(Protocol):
    @property
    def item_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def progress(self) -> float: ...


U = TypeVar("U", bound="Progressish")


class WriteVerdict(enum.Enum):
    WRITE = "write"
    DEFER = "defer"  # worth writing, but this item was written less than min_interval ago: keep it pending
    DROP = "drop"  # moved less than the threshold: nothing to write


@dataclass
class Coalescer(Generic[U]):
    """Holds at most one pending update per item and remembers what was last written, and when.

    An update is written when the item's status differs from the last write, when it reaches 0 or 100, or when
    its progress moved at least ``threshold`` percentage points and the item was last written at least
    ``min_interval_s`` ago (until then it stays pending, so the latest value is never lost). The live value is
    served from memory (annexd.domain.live); the database copy is a checkpoint, so it need not follow every point.
    """

    threshold: float = 1.0
    min_interval_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    pending: dict[int, U] = field(default_factory=dict)  # offered since the last drain
    deferred: dict[int, U] = field(default_factory=dict)  # waiting only for their item's interval
    written: dict[int, tuple[str, float, float]] = field(default_factory=dict)  # id -> (status, progress, at)
    coalesced: int = 0

    def offer(self, update: U) -> None:
        if update.item_id in self.pending or self.deferred.pop(update.item_id, None) is not None:
            self.coalesced += 1
        self.pending[update.item_id] = update

    def verdict(self, update: U, now: float) -> WriteVerdict:
        last = self.written.get(update.item_id)
        if last is None or last[0] != update.status:
            return WriteVerdict.WRITE
        if update.progress in (0.0, 100.0) and update.progress != last[1]:
            return WriteVerdict.WRITE
        if abs(update.progress - last[1]) < self.threshold:
            return WriteVerdict.DROP
        return WriteVerdict.WRITE if now - last[2] >= self.min_interval_s else WriteVerdict.DEFER

    def drain(self, force: bool = False) -> list[U]:
        """Take the updates to write now; deferred ones wait for their interval (``force`` takes them too), the
        rest are dropped (and counted)."""
        now = self.clock()
        batch: list[U] = []
        deferred: dict[int, U] = {}
        candidates = {**self.deferred, **self.pending}
        for update in candidates.values():
            verdict = self.verdict(update, now)
            if verdict is WriteVerdict.WRITE or (verdict is WriteVerdict.DEFER and force):
                batch.append(update)
            elif verdict is WriteVerdict.DEFER:
                deferred[update.item_id] = update
        self.coalesced += len(candidates) - len(batch) - len(deferred)
        self.pending, self.deferred = {}, deferred
        return batch

    def restore(self, batch: Iterable[U]) -> None:
        """Put back a batch whose write failed, unless a newer update for the item arrived meanwhile."""
        for update in batch:
            self.pending.setdefault(update.item_id, update)

    def mark_written(self, batch: Iterable[U]) -> None:
        now = self.clock()
        for update in batch:
            self.written[update.item_id] = (str(update.status), update.progress, now)

    def remember(self, baseline: dict[int, tuple[str, float]]) -> None:
        """Start from what the database already holds, so an unchanged item is not written again (but one
        that moved is written at once: nothing of ours is recent)."""
        for item_id, (status, progress) in baseline.items():
            self.written.setdefault(item_id, (status, progress, -math.inf))

    def forget(self, item_id: int, status: str, progress: float) -> None:
        """After a status change the item's progress restarts: remember the new baseline."""
        self.written[item_id] = (status, progress, self.clock())

    def take_coalesced(self) -> int:
        n, self.coalesced = self.coalesced, 0
        return n
