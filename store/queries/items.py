"""Work items: the one compare-and-set status write (:func:`apply_transition`), atomic claims, and the status
rules a person or a worker invokes by name (retry a FAILED item, accept a kept release, move a download to its
next alternative, record an encode)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import peewee as pw

from annexd import metrics
from annexd.domain.pipeline import STAGE_OF, Event, ProcessingStatus, transition
from annexd.errors import InvalidInputError, NotFoundError, StateConflictError
from store.db import database_proxy, is_postgres, write_transaction
from store.models import MediaRequest, ProcessingItem
from store.queries.notifications import record_transition_events, transition_kinds
from store.queries.request_status import request_touched, status_batch

if TYPE_CHECKING:
    from annexd.config import DownloadConfig

S = ProcessingStatus


def apply_transition(
    item_id: int,
    expected: ProcessingStatus,
    event: Event,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
    fields: dict[str, Any] | None = None,
    attempts: int | None = None,
) -> bool:
    """Move one item with ``event`` if it is still in ``expected``; False when someone else moved it first.
    The request's derived status is refreshed in the same transaction (see store.queries.request_status)."""
    row = ProcessingItem.select(ProcessingItem.attempts, ProcessingItem.status_changed_at,
                                ProcessingItem.request).where(ProcessingItem.id == item_id).first()
    if row is None:
        return False
    result = transition(expected, event, now, attempts=row.attempts if attempts is None else attempts, error=error,
                        retry_at=retry_at)
    updates = {getattr(ProcessingItem, k): v for k, v in {**result.updates, **(fields or {})}.items()}
    updates[ProcessingItem.updated_at] = now
    notable = transition_kinds(expected, result.to_status, event)
    db = database_proxy.obj
    # The request's derived status, and what the transition causes for people (grabbed, available, failed) in
    # the notification outbox, are written in the transition's own transaction.
    with contextlib.nullcontext() if db.in_transaction() else write_transaction(db):
        changed = (
            ProcessingItem.update(updates)
            .where((ProcessingItem.id == item_id) & (ProcessingItem.status == expected))
            .execute()
        )
        if changed:
            request_touched(row.request_id)
            if notable:
                record_transition_events(item_id, notable, now)
    if changed:
        metrics.TRANSITIONS.labels(result.to_status.value).inc()
        stage = STAGE_OF[expected]
        if STAGE_OF[result.to_status] != stage and row.status_changed_at is not None:
            metrics.STAGE_SECONDS.labels(stage).observe(max(0.0, (now - row.status_changed_at).total_seconds()))
    else:
        metrics.TRANSITION_CONFLICTS.inc()
    return bool(changed)


def claim_items(
    from_status: ProcessingStatus, event: Event, now: datetime, limit: int, *, due_only: bool = True,
    owner: str | None = None,
) -> list[int]:
    """Atomically move up to ``limit`` items from ``from_status`` with ``event``; returns the ids won.

    Higher-priority requests go first, then the oldest due items.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so several daemons sharing one
    database never claim the same item; on SQLite the database lock serialises writers. Either way the
    final UPDATE is a compare-and-set on the status.
    """
    db = database_proxy.obj
    with write_transaction(db), status_batch():
        query = (ProcessingItem.select(ProcessingItem.id, ProcessingItem.attempts)
                 .join(MediaRequest).where(ProcessingItem.status == from_status))
        if due_only:
            query = query.where(ProcessingItem.next_retry_at.is_null() | (ProcessingItem.next_retry_at <= now))
        query = query.order_by(MediaRequest.priority.desc(), ProcessingItem.next_retry_at.asc(nulls="first"),
                               ProcessingItem.id).limit(limit)
        if is_postgres(db):
            query = query.for_update(of=ProcessingItem, skip_locked=True)
        fields = {"claimed_by": owner} if owner else None
        won = [
            row.id for row in list(query)
            if apply_transition(row.id, from_status, event, now, attempts=row.attempts, fields=fields)
        ]
    return won


def get_item(item_id: int) -> ProcessingItem:
    """The item, or NotFoundError."""
    item = ProcessingItem.get_or_none(ProcessingItem.id == item_id)
    if item is None:
        raise NotFoundError(f"item {item_id} not found")
    return cast(ProcessingItem, item)


def items_by_ids(item_ids: Sequence[int]) -> list[ProcessingItem]:
    """The items with these ids, in id order (what a claim returned)."""
    if not item_ids:
        return []
    return list(ProcessingItem.select().where(ProcessingItem.id.in_(list(item_ids))).order_by(ProcessingItem.id))


def items_by_status() -> dict[str, int]:
    query = ProcessingItem.select(ProcessingItem.status, pw.fn.COUNT(ProcessingItem.id).alias("n")).group_by(
        ProcessingItem.status
    )
    rows = cast(Iterable[tuple[str, int]], query.tuples())
    return {str(status): int(n) for status, n in rows}


def due_retries(statuses: Iterable[ProcessingStatus], now: datetime, limit: int) -> list[ProcessingItem]:
    return list(
        ProcessingItem.select()
        .where(
            ProcessingItem.status.in_([s.value for s in statuses])
            & ProcessingItem.next_retry_at.is_null(False)
            & (ProcessingItem.next_retry_at <= now)
        )
        .order_by(ProcessingItem.next_retry_at)
        .limit(limit)
    )


def set_detail(item_id: int, status: ProcessingStatus, detail: str) -> None:
    """The line a person reads about what is happening to the item, while it is still in ``status``."""
    ProcessingItem.update(detail=detail).where(
        (ProcessingItem.id == item_id) & (ProcessingItem.status == status)).execute()


def retry_item(item_id: int, now: datetime) -> ProcessingStatus:
    """A person retries a FAILED item: it goes back to PENDING. NotFoundError, or StateConflictError when the
    item is not FAILED or changed meanwhile."""
    item = get_item(item_id)
    if item.status != S.FAILED:
        raise StateConflictError(f"only FAILED items can be retried; this one is {item.status}")
    if not apply_transition(item_id, S.FAILED, Event.RETRY, now):
        raise StateConflictError("the item changed meanwhile; reload and try again")
    return S.PENDING


def accept_release(item_id: int, release_id: str, now: datetime) -> ProcessingStatus:
    """A person takes one of the kept lower-quality releases of a QUALITY_UNAVAILABLE or AWAITING item (by guid
    or info hash): it becomes FOUND with that release. NotFoundError, StateConflictError, or InvalidInputError
    when the release is not among the item's alternatives."""
    item = get_item(item_id)
    status = S(item.status)
    if status not in (S.QUALITY_UNAVAILABLE, S.AWAITING):
        raise StateConflictError(f"only QUALITY_UNAVAILABLE or AWAITING items take a release; this one is {status}")
    alternatives = item.available_releases or []
    chosen = next((r for r in alternatives if release_id in (r.get("guid"), r.get("info_hash"))), None)
    if chosen is None:
        raise InvalidInputError(f"release {release_id!r} is not among this item's available releases")
    rest = [r for r in alternatives if r is not chosen]
    fields = {"release": chosen, "available_releases": rest, "quality_met": False}
    if not apply_transition(item_id, status, Event.ACCEPT_RELEASE, now, fields=fields):
        raise StateConflictError("the item changed meanwhile; reload and try again")
    return S.FOUND


def retry_download_or_fail(item: ProcessingItem, reason: str, now: datetime, policy: DownloadConfig,
                           blocklist: set[str]) -> bool:
    """Move a DOWNLOADING item to its next alternative release (FOUND), or FAIL it when none is left."""
    alternatives = [r for r in (item.available_releases or [])
                    if r.get("guid") not in blocklist and r.get("info_hash") not in blocklist]
    if alternatives and item.attempts + 1 < policy.max_attempts:
        delays = policy.retry_delays_minutes or (0.0,)
        delay = 60 * delays[min(item.attempts, len(delays) - 1)]
        fields = {"release": alternatives[0], "available_releases": alternatives[1:], "download": None,
                  "next_retry_at": now + timedelta(seconds=delay)}
        return apply_transition(item.id, S.DOWNLOADING, Event.DOWNLOAD_RETRY, now, error=reason,
                                fields=fields, attempts=item.attempts)
    why = f"{reason}; no alternative release left after {item.attempts + 1} attempt(s)"
    return apply_transition(item.id, S.DOWNLOADING, Event.FAIL, now, error=why, attempts=item.attempts)


def record_encoded_file(item_id: int, profile: str | None, output_path: str, agent_id: str) -> None:
    """One profile's encode of an ENCODING item is done: remember its output (the item moves on once every
    profile is)."""
    item = get_item(item_id)
    files = dict(item.encoded_files or {})
    if profile is not None:
        files[profile] = output_path
    ProcessingItem.update(encoded_files=files, encoded_file_path=output_path,
                          detail=f"encoded on {agent_id}").where(
        (ProcessingItem.id == item_id) & (ProcessingItem.status == S.ENCODING)).execute()
