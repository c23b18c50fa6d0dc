"""Upgrades until cutoff, in the store: what an UPGRADE, a failed upgrade and a landed upgrade write besides the
item's status, always in the transaction of that transition (store.queries.items.apply_transition calls these).

* UPGRADE (COMPLETED -> FOUND): the item is ``upgrading``; its history gets a running entry (from the delivered
  release to the new one); the download, source and encoded files of the old release are forgotten (the new
  release brings its own); each target's delivered file is recorded as the one the next transfer ``replaces``
  (the row stays ``done``: the file is still there).
* UPGRADE_FAILED (any stage -> COMPLETED, in place of FAIL): the release is blocklisted, the item takes its
  delivered release back, the history entry records the reason; targets not reached keep their old file.
* DELIVERED of an upgrading item: the history entry is closed; every target now holds the new file.
* A transfer that replaced a file: the history records which file replaced which on that target.

Not pure: reads and writes the database bound to store.db.database_proxy, in the caller's connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from annexd.domain import upgrades
from annexd.domain.pipeline import Event, ProcessingStatus as S
from store.models import Blocklist, Delivery, MediaRequest, ProcessingItem


def transition_fields(event: Event, item: ProcessingItem, fields: dict[str, Any], now: datetime,
                      error: str | None) -> dict[str, Any]:
    """The item fields an upgrade's transition writes besides those the caller gave; {} for other events."""
    if event is Event.UPGRADE:
        history = upgrades.started(item.upgrade_history, item.release, fields.get("release") or {},
                                   fields.get("detail"), now)
        return {"upgrading": True, "upgrade_history": history, "download": None, "source_file_path": None,
                "encoded_file_path": None, "encoded_files": None}
    if event is Event.UPGRADE_FAILED:
        release = upgrades.delivered_release(item.upgrade_history) or item.release
        return {"upgrading": False, "release": release, "download": None,
                "upgrade_history": upgrades.finished(item.upgrade_history, now, error or "upgrade failed"),
                "detail": f"upgrade failed, the delivered file is kept: {error or 'no reason given'}"}
    if event is Event.DELIVERED and item.upgrading:
        return {"upgrading": False, "upgrade_history": upgrades.finished(item.upgrade_history, now)}
    return {}


def after_transition(event: Event, item: ProcessingItem, now: datetime, error: str | None) -> None:
    """The rows an upgrade's transition changes besides the item (inside its transaction)."""
    if event is Event.UPGRADE:
        Delivery.update(replaces=Delivery.remote_path).where(
            (Delivery.item == item.id) & (Delivery.status == "done")).execute()
    elif event is Event.UPGRADE_FAILED:
        _blocklist(item, error or "upgrade failed", now)
        Delivery.update(status="done", remote_path=Delivery.replaces, replaces=None, owner=None, progress=100.0,
                        updated_at=now).where((Delivery.item == item.id) & Delivery.replaces.is_null(False)).execute()


def _blocklist(item: ProcessingItem, reason: str, now: datetime) -> None:
    release = item.release or {}
    key = release.get("info_hash") or release.get("guid")
    if key:
        Blocklist.insert(release_key=str(key)[:100], title=str(release.get("title") or "")[:1000],
                         reason=f"upgrade failed: {reason}", request=item.request_id,
                         created_at=now).on_conflict_ignore().execute()


def record_replaced(item_id: int, target: str, new_path: str, now: datetime) -> None:
    """A transfer of an upgrading item committed its verified file on ``target`` (and removed the old one when
    its name differs): the history says which replaced which, and the row replaces nothing any more."""
    row = Delivery.get_or_none((Delivery.item == item_id) & (Delivery.target == target))
    if row is None or row.replaces is None:
        return
    item = ProcessingItem.get_by_id(item_id)
    history = upgrades.replaced_on(item.upgrade_history, target, row.replaces, new_path, now)
    ProcessingItem.update(upgrade_history=history).where(ProcessingItem.id == item_id).execute()
    Delivery.update(replaces=None).where(Delivery.id == row.id).execute()


def replaced_files(item_ids: list[int], target: str) -> list[str]:
    """The files a transfer of these items to ``target`` replaces (renamed over, or removed once the new file is
    verified there): their rows' old files that no other item's delivery on that target still uses."""
    old = {r.replaces for r in Delivery.select(Delivery.replaces).where(
        Delivery.item.in_(item_ids) & (Delivery.target == target) & Delivery.replaces.is_null(False))}
    used = {r.remote_path for r in Delivery.select(Delivery.remote_path).where(
        Delivery.item.not_in(item_ids) & (Delivery.target == target) & Delivery.remote_path.in_(list(old) or [""]))}
    return sorted(p for p in old if p and p not in used)


def completed_items_after(after_id: int, limit: int) -> list[tuple[MediaRequest, ProcessingItem]]:
    """The next ``limit`` COMPLETED items by id after ``after_id``, with their requests (the upgrade search
    walks through them batch by batch)."""
    items = list(ProcessingItem.select().where((ProcessingItem.status == S.COMPLETED) & (ProcessingItem.id > after_id))
                 .order_by(ProcessingItem.id).limit(limit))
    requests = {r.id: r for r in MediaRequest.select().where(MediaRequest.id.in_([i.request_id for i in items] or [0]))}
    return [(requests[i.request_id], i) for i in items]
