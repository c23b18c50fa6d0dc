"""Deliveries: one row per item and target, so only the targets that failed are retried. A transfer in flight
is the row too (owner, heartbeat, progress, the temporary name it writes), so a restarted deliverer or daemon
finds every transfer, and a crash leftover is removed by its recorded name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from annexd.domain.pipeline import TERMINAL, Event, ProcessingStatus as S
from store.db import write_transaction
from store.models import Delivery, ProcessingItem, utcnow
from store.queries.items import apply_transition, claim_items
from store.queries.upgrades import record_replaced


def deliveries_by_item(item_ids: Sequence[int]) -> dict[int, list[Delivery]]:
    out: dict[int, list[Delivery]] = defaultdict(list)
    if item_ids:
        for row in Delivery.select().where(Delivery.item.in_(list(item_ids))).order_by(Delivery.target):
            out[row.item_id].append(row)
    return out


def delivered_targets(item_id: int) -> set[str]:
    """The targets that have the item's current file (during an upgrade, a file still to be replaced does not
    count)."""
    return {d.target for d in Delivery.select().where((Delivery.item == item_id) & (Delivery.status == "done")
                                                      & Delivery.replaces.is_null())}


def start_delivery(item_id: int, target: str, owner: str | None = None, now: datetime | None = None) -> None:
    """The item's delivery to ``target`` is pending (again), held by ``owner``."""
    now = now or utcnow()
    values = {"status": "pending", "owner": owner, "heartbeat_at": now, "progress": 0.0, "updated_at": now}
    Delivery.insert(item=item_id, target=target, **values).on_conflict(
        conflict_target=[Delivery.item, Delivery.target], update=values).execute()


def claim_deliveries(owner: str, now: datetime, limit: int, targets_for: Callable[[ProcessingItem], list[str]]
                     ) -> list[list[ProcessingItem]]:
    """Claim ENCODED items, with the ENCODED items sharing their file (a multi-episode file is delivered once),
    and make each target's transfer row pending, in one transaction. Returns the groups, lead first."""
    with write_transaction():
        claimed = claim_items(S.ENCODED, Event.START_DELIVERY, now, limit, owner=owner)
        if not claimed:
            return []
        items = list(ProcessingItem.select().where(ProcessingItem.id.in_(claimed)))
        items += _claim_siblings(items, owner, now)
        groups: dict[str, list[ProcessingItem]] = defaultdict(list)
        for item in sorted(items, key=lambda i: (i.season, i.episode, i.id)):
            groups[item.source_file_path or f"item:{item.id}"].append(item)
        for item in items:
            done = delivered_targets(item.id)
            for target in targets_for(item):
                if target not in done:
                    start_delivery(item.id, target, owner, now)
    return list(groups.values())


def _claim_siblings(items: list[ProcessingItem], owner: str, now: datetime) -> list[ProcessingItem]:
    sources = {i.source_file_path for i in items if i.source_file_path}
    if not sources:
        return []
    ids = {i.id for i in items}
    siblings = ProcessingItem.select().where(ProcessingItem.source_file_path.in_(list(sources))
                                             & (ProcessingItem.status == S.ENCODED) & ProcessingItem.id.not_in(ids))
    return [ProcessingItem.get_by_id(s.id) for s in list(siblings)
            if apply_transition(s.id, S.ENCODED, Event.START_DELIVERY, now, attempts=s.attempts,
                                fields={"claimed_by": owner})]


def delivering_group(item: ProcessingItem, owner: str) -> list[ProcessingItem]:
    """The DELIVERING items of ``owner`` sharing ``item``'s file (``item`` alone when it has none)."""
    if not item.source_file_path:
        return [item]
    return list(ProcessingItem.select().where(
        (ProcessingItem.source_file_path == item.source_file_path) & (ProcessingItem.status == S.DELIVERING)
        & (ProcessingItem.claimed_by == owner)).order_by(ProcessingItem.season, ProcessingItem.episode))


def start_transfer(item_ids: Sequence[int], target: str, owner: str, temp_path: str, now: datetime) -> list[str]:
    """A transfer begins: its temporary name is recorded before anything is written. Returns the temporary
    names an earlier transfer of these rows left (the caller removes them first: their names are replaced)."""
    rows = Delivery.select(Delivery.temp_path).where(
        Delivery.item.in_(list(item_ids)) & (Delivery.target == target) & Delivery.temp_path.is_null(False))
    earlier = sorted({r.temp_path for r in rows if r.temp_path and r.temp_path != temp_path})
    Delivery.update(temp_path=temp_path, owner=owner, heartbeat_at=now, updated_at=now).where(
        Delivery.item.in_(list(item_ids)) & (Delivery.target == target) & (Delivery.status == "pending")).execute()
    return earlier


def pending_transfers(owner: str) -> list[Delivery]:
    return list(Delivery.select().where((Delivery.owner == owner) & (Delivery.status == "pending"))
                .order_by(Delivery.item, Delivery.target))


def beat_deliveries(owner: str, now: datetime) -> None:
    """The deliverer is alive: its pending transfers and their items beat."""
    Delivery.update(heartbeat_at=now).where((Delivery.owner == owner) & (Delivery.status == "pending")).execute()
    ProcessingItem.update(heartbeat_at=now).where(
        (ProcessingItem.claimed_by == owner) & (ProcessingItem.status == S.DELIVERING)).execute()


def transfer_progress(item_ids: Sequence[int], target: str, percent: float) -> None:
    Delivery.update(progress=percent).where(
        Delivery.item.in_(list(item_ids)) & (Delivery.target == target) & (Delivery.status == "pending")).execute()


def finish_delivery(item_id: int, target: str, now: datetime, *, rescan: str | None, remote_path: str | None = None,
                    size: int = 0, checksum: str | None = None, error: str | None = None,
                    retriable: bool = True) -> None:
    """One attempt answered: done at ``remote_path`` (no ``error``), or failed with ``error`` (``retriable``
    False: retrying cannot help). Its temporary file is gone either way (committed, or removed on failure)."""
    row: dict[str, Any] = {"updated_at": now, "rescan": rescan, "attempts": Delivery.attempts + 1, "temp_path": None,
                           "retriable": retriable}
    with write_transaction():
        if error is None:
            record_replaced(item_id, target, remote_path or "", now)  # an upgrade's new file replaced the old one
            row.update(status="done", remote_path=remote_path, size=size, checksum=checksum, delivered_at=now,
                       last_error=None, progress=100.0)
        else:
            row.update(status="failed", last_error=error)
        Delivery.update(row).where((Delivery.item == item_id) & (Delivery.target == target)).execute()


def leftover_temp_files() -> list[Delivery]:
    """Transfers that recorded a temporary file and did not finish (failed, released, or in flight)."""
    return list(Delivery.select().where(Delivery.temp_path.is_null(False) & Delivery.status.in_(["pending", "failed"])))


def temp_files_removed(removed: Sequence[tuple[int, str]]) -> None:
    """These (row, temporary name) are gone; a row that recorded a new name since keeps it."""
    for row_id, path in removed:
        Delivery.update(temp_path=None).where((Delivery.id == row_id) & (Delivery.temp_path == path)).execute()


def file_still_needed(item: ProcessingItem) -> bool:
    """Whether another item sharing ``item``'s source file may still deliver it (not COMPLETED/CANCELLED)."""
    if not item.source_file_path:
        return False
    others = ProcessingItem.select(ProcessingItem.status).where(
        (ProcessingItem.source_file_path == item.source_file_path) & (ProcessingItem.id != item.id))
    return any(S(o.status) not in TERMINAL for o in others)
