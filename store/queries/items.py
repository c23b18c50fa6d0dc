"""Work items: the one compare-and-set status write (:func:`apply_transition`), atomic claims, and the status
rules a person or a worker invokes by name (retry a FAILED item, accept a kept release, move a download to its
next alternative, record an encode)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import peewee as pw

from annexd import metrics
from annexd.domain.pipeline import (
    RESUMED_AT,
    STAGE_OF,
    Event,
    ProcessingStatus,
    next_status,
    resume_event,
    transition,
    upgrading_event,
)
from annexd.domain.retry import Failure
from annexd.errors import InvalidInputError, NotFoundError, StateConflictError
from store.db import database_proxy, is_postgres, write_transaction
from store.models import MediaRequest, ProcessingItem
from store.queries import upgrades
from store.queries.notifications import record_transition_events, transition_kinds
from store.queries.request_status import request_touched, status_batch

if TYPE_CHECKING:
    from annexd.domain.retry import RetryPolicy

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
    guard: Any = None,
    held_by: str | None = None,
) -> bool:
    """Move one item with ``event`` if it is still in ``expected`` (and, with ``held_by``, still claimed by that
    owner; ``guard`` is any other extra condition); False when someone else moved it first. The request's
    derived status is refreshed in the same transaction (see store.queries.request_status)."""
    if held_by is not None:
        guard = ProcessingItem.claimed_by == held_by if guard is None else guard & (ProcessingItem.claimed_by == held_by)
    row = ProcessingItem.select(ProcessingItem.id, ProcessingItem.attempts, ProcessingItem.status_changed_at,
                                ProcessingItem.request, ProcessingItem.upgrading, ProcessingItem.upgrade_history,
                                ProcessingItem.release).where(ProcessingItem.id == item_id).first()
    if row is None:
        return False
    event = upgrading_event(event, row.upgrading)  # a failed upgrade keeps its files: COMPLETED, not FAILED
    result = transition(expected, event, now, attempts=row.attempts if attempts is None else attempts, error=error,
                        retry_at=retry_at)
    given = {**result.updates, **(fields or {})}
    given.update(upgrades.transition_fields(event, row, given, now, error))
    updates = {getattr(ProcessingItem, k): v for k, v in given.items()}
    updates[ProcessingItem.updated_at] = now
    notable = transition_kinds(expected, result.to_status, event, upgrading=row.upgrading)
    db = database_proxy.obj
    # The request's derived status, and what the transition causes for people (grabbed, available, failed) in
    # the notification outbox, are written in the transition's own transaction.
    where = (ProcessingItem.id == item_id) & (ProcessingItem.status == expected)
    with contextlib.nullcontext() if db.in_transaction() else write_transaction(db):
        changed = ProcessingItem.update(updates).where(where if guard is None else where & guard).execute()
        if changed:
            upgrades.after_transition(event, row, now, error)
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


def due_items(status: ProcessingStatus, now: datetime, limit: int) -> list[ProcessingItem]:
    """Items in ``status`` whose retry time has come, higher-priority requests first (nothing is moved: the
    caller's transition is the compare-and-set)."""
    query = (ProcessingItem.select(ProcessingItem).join(MediaRequest).where(
        (ProcessingItem.status == status)
        & (ProcessingItem.next_retry_at.is_null() | (ProcessingItem.next_retry_at <= now)))
        .order_by(MediaRequest.priority.desc(), ProcessingItem.next_retry_at.asc(nulls="first"), ProcessingItem.id)
        .limit(limit))
    return list(query)


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


def retry_item(item_id: int, now: datetime, *, from_search: bool = False,
               file_exists: Callable[[str], bool] = os.path.isfile) -> tuple[ProcessingStatus, str]:
    """A person retries a FAILED item: it resumes where it failed when that stage's inputs still exist (its
    encoded files: deliver again; its source file: encode again), else (or ``from_search``) from the search.
    Returns the new status and the stage it resumed at. NotFoundError, or StateConflictError when the item is
    not FAILED or changed meanwhile."""
    item = get_item(item_id)
    if item.status != S.FAILED:
        raise StateConflictError(f"only FAILED items can be retried; this one is {item.status}")
    encoded = list((item.encoded_files or {}).values()) or ([item.encoded_file_path] if item.encoded_file_path else [])
    source: str = item.source_file_path or ""
    event = resume_event(item.failed_stage, from_search=from_search,
                         source_exists=bool(source) and file_exists(source),
                         encoded_exists=bool(encoded) and all(file_exists(p) for p in encoded))
    fields: dict[str, Any] = {"detail": f"retried by a person: resumes at {RESUMED_AT[event]}"}
    if event is Event.RETRY:
        fields.update(download=None, source_file_path=None, encoded_file_path=None, encoded_files=None)
    if not apply_transition(item_id, S.FAILED, event, now, fields=fields):
        raise StateConflictError("the item changed meanwhile; reload and try again")
    return next_status(S.FAILED, event), RESUMED_AT[event]


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


def retry_download_or_fail(item: ProcessingItem, reason: str, now: datetime, policy: RetryPolicy,
                           blocklist: set[str], status: ProcessingStatus = S.DOWNLOADING) -> bool:
    """The item's release did not work (DOWNLOADING: stalled, no file; FOUND: its torrent was refused): move to
    the next alternative release (FOUND, after the policy's pause), or FAIL when none is left or the download
    stage is out of attempts."""
    alternatives = [r for r in (item.available_releases or [])
                    if r.get("guid") not in blocklist and r.get("info_hash") not in blocklist]
    if alternatives and not policy.exhausted(item.attempts):
        fields = {"release": alternatives[0], "available_releases": alternatives[1:], "download": None}
        event = Event.DOWNLOAD_RETRY if status is S.DOWNLOADING else Event.GRAB_RETRY
        return apply_transition(item.id, status, event, now, error=reason, fields=fields, attempts=item.attempts,
                                retry_at=policy.retry_at(item.attempts, now))
    why = f"{reason}; no alternative release left after {item.attempts + 1} attempt(s)"
    return apply_transition(item.id, status, Event.FAIL, now, error=why, attempts=item.attempts)


def grab_later(item: ProcessingItem, reason: str, now: datetime, policy: RetryPolicy) -> bool:
    """The torrent of a FOUND item could not be fetched this time: try the same release again later, or FAIL
    when the download stage is out of attempts."""
    retry_at = policy.decide(item.attempts, Failure.TRANSIENT, now)
    if retry_at is None:
        return apply_transition(item.id, S.FOUND, Event.FAIL, now, attempts=item.attempts,
                                error=f"{reason}; gave up after {item.attempts + 1} attempt(s)")
    return apply_transition(item.id, S.FOUND, Event.GRAB_RETRY, now, error=reason, retry_at=retry_at,
                            attempts=item.attempts, fields={"detail": "waiting to fetch the torrent again"})


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
