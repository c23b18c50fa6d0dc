"""Deliveries: one row per item and target, so only the targets that failed are retried."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.models import Delivery, utcnow


def deliveries_by_item(item_ids: Sequence[int]) -> dict[int, list[Delivery]]:
    out: dict[int, list[Delivery]] = defaultdict(list)
    if item_ids:
        for row in Delivery.select().where(Delivery.item.in_(list(item_ids))).order_by(Delivery.target):
            out[row.item_id].append(row)
    return out


def delivered_targets(item_id: int) -> set[str]:
    return {d.target for d in Delivery.select().where((Delivery.item == item_id) & (Delivery.status == "done"))}


def start_delivery(item_id: int, target: str) -> None:
    """The item's delivery to ``target`` is pending (again)."""
    Delivery.insert(item=item_id, target=target, status="pending", updated_at=utcnow()).on_conflict(
        conflict_target=[Delivery.item, Delivery.target], update={"status": "pending"}).execute()


def finish_delivery(item_id: int, target: str, now: datetime, *, rescan: str | None, remote_path: str | None = None,
                    size: int = 0, checksum: str | None = None, error: str | None = None) -> None:
    """One attempt answered: done at ``remote_path`` (no ``error``), or failed with ``error``."""
    row: dict[str, Any] = {"updated_at": now, "rescan": rescan, "attempts": Delivery.attempts + 1}
    if error is None:
        row.update(status="done", remote_path=remote_path, size=size, checksum=checksum, delivered_at=now,
                   last_error=None)
    else:
        row.update(status="failed", last_error=error)
    Delivery.update(row).where((Delivery.item == item_id) & (Delivery.target == target)).execute()
