"""Claims: who holds an item (``<daemon instance>:<worker>:<start counter>``), their heartbeats, taking over or
releasing an earlier incarnation's claims, and the snapshot the reconciler checks against the invariant
(annexd.domain.stranded)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import peewee as pw

from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import CLAIM_STATUSES, Event, ProcessingStatus as S
from annexd.domain.stranded import CHECKED, WAITING_FOR_TIME, ItemState
from store.db import write_transaction
from store.models import DaemonInstance, Delivery, Download, EncodeJob, ProcessingItem
from store.queries.encode_jobs import abandon_jobs_of
from store.queries.items import apply_transition

OPEN_JOB_STATES = ("queued", "running")
_CLAIMS = [s.value for s in CLAIM_STATUSES]


def _owned_by_prefix(column: pw.Field, prefix: str) -> Any:
    """``column`` starts with ``prefix`` (SUBSTR, not LIKE: an instance id may hold LIKE's wildcards)."""
    return pw.fn.SUBSTR(column, 1, len(prefix)) == prefix


def release_claim(item_id: int, status: S, owner: str | None, now: datetime, reason: str) -> bool:
    """Return a claimed item to where it was claimed from, if ``owner`` still holds it; the reason is kept.
    In ENCODING and DELIVERING, the items sharing its source file under the same claim (a multi-episode file)
    are released with it, in the same transaction: released one by one, the next claim could take one of them
    without its siblings, and the file would be encoded and delivered once per episode."""
    guard = ProcessingItem.claimed_by.is_null() if owner is None else ProcessingItem.claimed_by == owner
    fields: dict[str, Any] = {"detail": f"released: {reason}"[:500]}
    if status is S.DOWNLOADING:
        fields["download"] = None  # back to its release: the next grab finds (or makes) its Download again
    with write_transaction():
        released = False
        for member in _claim_group(item_id, status, owner):
            if apply_transition(member, status, Event.RELEASE_CLAIM, now, error=reason, guard=guard, fields=fields):
                released = released or member == item_id
                _released(member, status, now, reason)
    return released


def _claim_group(item_id: int, status: S, owner: str | None) -> list[int]:
    """The item, and in ENCODING/DELIVERING the other items of its source file held by the same claim."""
    if status not in (S.ENCODING, S.DELIVERING) or owner is None:
        return [item_id]
    row = ProcessingItem.get_or_none(ProcessingItem.id == item_id)
    if row is None or not row.source_file_path:
        return [item_id]
    siblings = ProcessingItem.select(ProcessingItem.id).where(
        (ProcessingItem.source_file_path == row.source_file_path) & (ProcessingItem.status == status)
        & (ProcessingItem.claimed_by == owner) & (ProcessingItem.id != item_id))
    return [item_id, *sorted(i.id for i in siblings)]


def _released(item_id: int, status: S, now: datetime, reason: str) -> None:
    if status is S.ENCODING:
        abandon_jobs_of(item_id, now)
    if status is S.DELIVERING:
        # Its transfers stop counting; a temporary file one of them left is removed by its name.
        Delivery.update(status="failed", last_error=f"released: {reason}"[:500], updated_at=now).where(
            (Delivery.item == item_id) & (Delivery.status == "pending")).execute()


def release_stale_incarnations(instance: str, worker: str, current_owner: str, now: datetime) -> int:
    """Release the claims that earlier incarnations of ``worker`` in this daemon left behind."""
    stale = ProcessingItem.select(ProcessingItem.id, ProcessingItem.status, ProcessingItem.claimed_by).where(
        _owned_by_prefix(ProcessingItem.claimed_by, f"{instance}:{worker}:")
        & (ProcessingItem.claimed_by != current_owner) & ProcessingItem.status.in_(_CLAIMS))
    return sum(release_claim(i.id, S(i.status), i.claimed_by, now, f"{i.claimed_by} was restarted")
               for i in list(stale))


def adopt_claims(instance: str, worker: str, owner: str, now: datetime) -> list[int]:
    """Take over the claims of earlier incarnations of ``worker`` in this daemon (their rows carry the work):
    the items, their open encode jobs and their pending transfers now name ``owner``."""
    prefix = f"{instance}:{worker}:"
    with write_transaction():
        items = [i.id for i in ProcessingItem.select(ProcessingItem.id).where(
            _owned_by_prefix(ProcessingItem.claimed_by, prefix) & (ProcessingItem.claimed_by != owner)
            & ProcessingItem.status.in_(_CLAIMS))]
        if items:
            ProcessingItem.update(claimed_by=owner, heartbeat_at=now).where(ProcessingItem.id.in_(items)).execute()
        EncodeJob.update(owner=owner, heartbeat_at=now).where(
            _owned_by_prefix(EncodeJob.owner, prefix) & EncodeJob.state.in_(OPEN_JOB_STATES)).execute()
        Delivery.update(owner=owner, heartbeat_at=now).where(
            _owned_by_prefix(Delivery.owner, prefix) & (Delivery.status == "pending")).execute()
    return items


def beat_claims(owner: str, now: datetime) -> int:
    """The owner is alive and working: its claims' heartbeat is now."""
    return ProcessingItem.update(heartbeat_at=now).where(
        (ProcessingItem.claimed_by == owner) & ProcessingItem.status.in_(_CLAIMS)).execute()


def claimed_by(owner: str, status: S) -> list[ProcessingItem]:
    return list(ProcessingItem.select().where((ProcessingItem.claimed_by == owner) & (ProcessingItem.status == status))
                .order_by(ProcessingItem.id))


def live_instances(since: datetime) -> frozenset[str]:
    """Daemons that beat since ``since``."""
    return frozenset(d.id for d in DaemonInstance.select(DaemonInstance.id).where(DaemonInstance.last_seen >= since))


def _open_job_items() -> set[int]:
    covered: set[int] = set()
    for job in EncodeJob.select(EncodeJob.items).where(EncodeJob.state.in_(OPEN_JOB_STATES)):
        covered.update(int(i) for i in job.items or [])
    return covered


def _pending_transfer_items(item_ids: Iterable[int]) -> set[int]:
    ids = list(item_ids)
    if not ids:
        return set()
    query = Delivery.select(Delivery.item).where(Delivery.item.in_(ids) & (Delivery.status == "pending"))
    return {row.item_id for row in query}


def claim_states(limit: int = 10_000) -> list[ItemState]:
    """Every item the invariant must be checked for (claims, DOWNLOADING, waits without a due time)."""
    checked = [s.value for s in CHECKED - WAITING_FOR_TIME]
    waits = [s.value for s in WAITING_FOR_TIME]
    rows = cast(list[dict[str, Any]], list(ProcessingItem.select(
        ProcessingItem.id, ProcessingItem.status, ProcessingItem.claimed_by, ProcessingItem.heartbeat_at,
        ProcessingItem.next_retry_at, Download.state.alias("phase"),
    ).join(Download, pw.JOIN.LEFT_OUTER, on=(ProcessingItem.download == Download.id)).where(
        ProcessingItem.status.in_(checked)
        | (ProcessingItem.status.in_(waits) & ProcessingItem.next_retry_at.is_null())
    ).order_by(ProcessingItem.id).limit(limit).dicts()))
    encoding = _open_job_items() if any(r["status"] == S.ENCODING for r in rows) else set()
    delivering = _pending_transfer_items(r["id"] for r in rows if r["status"] == S.DELIVERING)
    return [ItemState(
        id=r["id"], status=S(r["status"]), claimed_by=r["claimed_by"], heartbeat_at=r["heartbeat_at"],
        next_retry_at=r["next_retry_at"], download_phase=DownloadPhase(r["phase"]) if r["phase"] else None,
        has_open_work=r["id"] in encoding or r["id"] in delivering) for r in rows]


def remap_download_of(item_id: int) -> bool:
    """The item's Download was marked mapped without a file for it: map it again (COMPLETED)."""
    item = ProcessingItem.get_or_none(ProcessingItem.id == item_id)
    if item is None or item.download_id is None:
        return False
    return bool(Download.update(state=DownloadPhase.COMPLETED).where(
        (Download.id == item.download_id) & (Download.state == DownloadPhase.MAPPED)).execute())
