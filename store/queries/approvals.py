"""Approvals and quotas: a request submitted as a user (its quota checked and its items created waiting for
approval in one transaction), approve and decline (items move through the transition table; the Approval table
keeps the history; the outbox gets the event), approvals that time out, and what a requester may see.

Whether a request waits for approval is derived from its items: it does while any is PENDING_APPROVAL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import cast

import peewee as pw

from annexd.domain import quotas
from annexd.domain.notifications import Kind
from annexd.domain.pipeline import Event, ProcessingStatus
from annexd.domain.request_specs import RequestSpec, SubmitOutcome
from annexd.domain.users import Caller, Quota
from annexd.errors import InvalidInputError, QuotaExceededError, StateConflictError
from store.db import database_proxy, is_postgres, write_transaction
from store.models import Approval, ProcessingItem
from store.queries.items import apply_transition
from store.queries.media_requests import get_request, submit_request
from store.queries.notifications import record_request_event
from store.queries.request_status import status_batch

S = ProcessingStatus
APPROVE, DECLINE = "approve", "decline"


# --- submitting as a user ---------------------------------------------------------------------------------------
def submit_as(caller: Caller, spec: RequestSpec, now: datetime, movie_quota: Quota, season_quota: Quota
              ) -> tuple[SubmitOutcome, bool]:
    """Submit ``spec`` as ``caller`` (one request per title: :func:`submit_request`): QuotaExceededError past a
    requester's quota; what it adds waits for approval when the caller does not auto-approve the type. Returns
    the outcome and whether it waits.

    The quota is checked on what the submission actually added (the caller's units in the period after it,
    less those before), in the same transaction, so a refused request leaves nothing behind."""
    spec = replace(spec, requested_by=caller.name)
    waits = caller.needs_approval(spec.kind)
    quotas_of = () if caller.is_admin else (("movie", caller.movie_quota or movie_quota),
                                            ("season", caller.season_quota or season_quota))
    with write_transaction():
        _lock_user(caller.name)
        before = {unit: quota_usage(caller.name, unit, quotas.window_start(q, now))
                  for unit, q in quotas_of if q.limit is not None}
        outcome = submit_request(spec, now, pending_approval=waits)
        for unit, quota in quotas_of:
            if unit in before:
                added = len(quota_usage(caller.name, unit, quotas.window_start(quota, now))) - len(before[unit])
                _refuse_over_quota(quotas.check(quota, unit, before[unit], added, now))
    return outcome, waits


def _lock_user(name: str) -> None:
    """Two submits of one user are checked against its quota one after the other (PostgreSQL: an advisory lock
    to the end of the transaction; SQLite: BEGIN IMMEDIATE already holds the write lock)."""
    db = database_proxy.obj
    if is_postgres(db):
        lock_id = int.from_bytes(hashlib.sha256(b"user:" + name.encode()).digest()[:8], "big", signed=True)
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))


def _refuse_over_quota(verdict: quotas.Verdict) -> None:
    """Raising rolls the submission back."""
    if verdict.allowed:
        return
    if verdict.resets_at is None:
        raise InvalidInputError(verdict.reason)
    raise QuotaExceededError(verdict.reason, verdict.resets_at)


def quota_usage(name: str, unit: str, since: datetime) -> list[datetime]:
    """When each of ``name``'s movies (or seasons: the first item of each) since ``since`` was requested;
    cancelled and declined items give their place back."""
    base = ((ProcessingItem.requested_by == name) & (ProcessingItem.created_at > since)
            & (ProcessingItem.status != S.CANCELLED.value))
    if unit == "movie":
        rows = ProcessingItem.select(ProcessingItem.created_at).where(base & (ProcessingItem.kind == "movie"))
        return [row.created_at for row in rows]
    first = pw.fn.MIN(ProcessingItem.created_at)
    query = (ProcessingItem.select(first.alias("at")).where(base & (ProcessingItem.kind == "episode"))
             .group_by(ProcessingItem.request, ProcessingItem.season))
    return [_as_datetime(at) for (at,) in cast(Iterable[tuple[object]], query.tuples())]


def _as_datetime(value: object) -> datetime:
    """MIN() over a timestamp comes back as text on SQLite."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# --- approving and declining ----------------------------------------------------------------------------------
def approve(request_id: int, by: str, now: datetime, *, seasons: Sequence[int] | None = None,
            item_ids: Sequence[int] | None = None) -> list[int]:
    """Move the request's pending items (all, those of ``seasons``, or ``item_ids``) to PENDING; others stay.
    NotFoundError; InvalidInputError for items of another request; StateConflictError when nothing named
    waits. Returns the ids approved."""
    with write_transaction(), status_batch():
        req = get_request(request_id)
        items = _pending(request_id, seasons, item_ids)
        moved = [i.id for i in items if apply_transition(i.id, S.PENDING_APPROVAL, Event.APPROVE, now)]
        if not moved:
            raise StateConflictError("nothing named awaits approval")
        Approval.create(request=request_id, action=APPROVE, by=by, items=moved, created_at=now)
        record_request_event(Kind.REQUEST_APPROVED, req, now, [i for i in items if i.id in moved], by=by)
    return moved


def decline(request_id: int, by: str, now: datetime, reason: str | None = None) -> list[int]:
    """Cancel every pending item of the request, with the reason; StateConflictError when none waits."""
    why = f"declined by {by}" + (f": {reason}" if reason else "")
    with write_transaction(), status_batch():
        req = get_request(request_id)
        items = _pending(request_id, None, None)
        moved = [i.id for i in items if apply_transition(i.id, S.PENDING_APPROVAL, Event.CANCEL, now, error=why)]
        if not moved:
            raise StateConflictError("nothing awaits approval")
        Approval.create(request=request_id, action=DECLINE, by=by, items=moved, reason=reason, created_at=now)
        record_request_event(Kind.REQUEST_DECLINED, req, now, [i for i in items if i.id in moved], by=by,
                             reason=reason)
    return moved


def _pending(request_id: int, seasons: Sequence[int] | None, item_ids: Sequence[int] | None
             ) -> list[ProcessingItem]:
    if item_ids is not None:
        foreign = set(item_ids) - {row.id for row in ProcessingItem.select(ProcessingItem.id).where(
            (ProcessingItem.request == request_id) & ProcessingItem.id.in_(list(item_ids)))}
        if foreign:
            raise InvalidInputError(f"not items of request {request_id}: {', '.join(map(str, sorted(foreign)))}")
    query = ProcessingItem.select().where((ProcessingItem.request == request_id)
                                          & (ProcessingItem.status == S.PENDING_APPROVAL.value))
    if seasons is not None:
        query = query.where(ProcessingItem.season.in_(list(seasons)))
    if item_ids is not None:
        query = query.where(ProcessingItem.id.in_(list(item_ids)))
    return list(query.order_by(ProcessingItem.season, ProcessingItem.episode))


def approval_history(request_id: int) -> list[Approval]:
    return list(Approval.select().where(Approval.request == request_id).order_by(Approval.id))


def approval_state(request_id: int) -> str:
    """``pending`` while any item waits; ``declined`` when the last decision was a decline; else ``approved``.
    Items a TMDB refresh adds follow it (pending: they wait too; declined: none are added)."""
    waiting = ProcessingItem.select().where((ProcessingItem.request == request_id)
                                            & (ProcessingItem.status == S.PENDING_APPROVAL.value)).exists()
    if waiting:
        return "pending"
    last = Approval.select(Approval.action).where(Approval.request == request_id).order_by(Approval.id.desc()).first()
    return "declined" if last is not None and last.action == DECLINE else "approved"


def overdue_approvals(older_than: datetime, limit: int = 100) -> list[int]:
    """Requests with items waiting for approval since before ``older_than``."""
    query = (ProcessingItem.select(ProcessingItem.request).where(
        (ProcessingItem.status == S.PENDING_APPROVAL.value) & (ProcessingItem.status_changed_at < older_than))
        .distinct().limit(limit))
    return [row.request_id for row in query]


def expire_approvals(hours: float, action: str, now: datetime) -> dict[int, list[int]]:
    """The approval timeout: requests waiting longer than ``hours`` are approved or declined by ``timeout``."""
    done: dict[int, list[int]] = {}
    for request_id in overdue_approvals(now - timedelta(hours=hours)):
        try:
            if action == APPROVE:
                done[request_id] = approve(request_id, "timeout", now)
            else:
                done[request_id] = decline(request_id, "timeout", now, f"not approved within {hours:g} h")
        except StateConflictError:
            continue  # approved or declined meanwhile
    return done
