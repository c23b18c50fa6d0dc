"""Progress coalescing for the DB writer (pure): latest wins per item, small changes are not written."""

from __future__ import annotations

from collections.abc import Iterable
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


@dataclass
class Coalescer(Generic[U]):
    """Holds at most one pending update per item and remembers what was last written.

    An update is worth writing when its progress moved at least ``threshold`` percentage points from the
    last written value, when it reaches 0 or 100, or when the item's status differs from the last write.
    """

    threshold: float = 1.0
    pending: dict[int, U] = field(default_factory=dict)
    written: dict[int, tuple[str, float]] = field(default_factory=dict)
    coalesced: int = 0

    def offer(self, update: U) -> None:
        if update.item_id in self.pending:
            self.coalesced += 1
        self.pending[update.item_id] = update

    def worth_writing(self, update: U) -> bool:
        last = self.written.get(update.item_id)
        if last is None or last[0] != update.status:
            return True
        if update.progress in (0.0, 100.0) and update.progress != last[1]:
            return True
        return abs(update.progress - last[1]) >= self.threshold

    def drain(self) -> list[U]:
        """Take the pending updates that are worth writing; the rest are dropped (and counted)."""
        batch = [u for u in self.pending.values() if self.worth_writing(u)]
        self.coalesced += len(self.pending) - len(batch)
        self.pending.clear()
        return batch

    def restore(self, batch: Iterable[U]) -> None:
        """Put back a batch whose write failed, unless a newer update for the item arrived meanwhile."""
        for update in batch:
            self.pending.setdefault(update.item_id, update)

    def mark_written(self, batch: Iterable[U]) -> None:
        for update in batch:
            self.written[update.item_id] = (str(update.status), update.progress)

    def forget(self, item_id: int, status: str, progress: float) -> None:
        """After a status change the item's progress restarts: remember the new baseline."""
        self.written[item_id] = (status, progress)

    def take_coalesced(self) -> int:
        n, self.coalesced = self.coalesced, 0
        return n
