"""The notification outbox: events recorded in the transaction of what caused them, fanned out to one row per
destination, claimed by one daemon at a time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite),
sent outside any transaction under a lease, then marked sent or scheduled again with backoff.

A send whose daemon dies before it is marked goes out again once the lease runs out: delivery is once in
normal operation and at least once across a crash in the middle of a send.

The reconciler records ``Kind.ITEM_STRANDED`` through :func:`item_stranded`. A landed upgrade records
``Kind.ITEM_UPGRADED`` like a transition, in its transaction (the webhook sends ``Download`` with ``isUpgrade``).
Hooks for what has not landed yet: health checks record ``Kind.HEALTH`` with ``{"level", "message", "check"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import peewee as pw

from annexd.domain.notifications import MAX_ATTEMPTS, RETRY, Kind, kinds_of_transition, merge_grabs, wants
from annexd.domain.pipeline import Event, ProcessingStatus, counted_status, request_status
from annexd.domain.quality import quality_of
from annexd.domain.releases import parse_release
from store.db import database_proxy, is_postgres, write_transaction
from store.models import MediaRequest, Notification, NotificationEvent, ProcessingItem

SENT, PENDING, FAILED = "sent", "pending", "failed"


# --- facts -------------------------------------------------------------------------------------------------
def request_facts(req: MediaRequest) -> dict[str, Any]:
    return {"id": req.id, "kind": req.kind, "title": req.title, "year": req.year, "tmdb_id": req.tmdb_id,
            "tvdb_id": req.tvdb_id, "imdb_id": req.imdb_id, "requested_by": req.requested_by}


def item_facts(item: ProcessingItem) -> dict[str, Any]:
    paths = [p for p in (item.source_file_path,) if p]
    return {"id": item.id, "kind": item.kind, "season": item.season, "episode": item.episode, "title": item.title,
            "air_date": item.air_date.isoformat() if item.air_date else None, "status": item.status,
            "error": item.last_error, "paths": paths}


def release_facts(release: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not release:
        return None
    title = str(release.get("title") or "")
    parsed = parse_release(title) if title else None
    return {"title": title or None, "indexer": release.get("indexer"), "size": release.get("size"),
            "info_hash": release.get("info_hash"), "quality": quality_of(parsed) if parsed else None,
            "group": parsed.group if parsed else None,
            "key": release.get("info_hash") or release.get("guid") or title or None}


def record_event(kind: Kind, facts: Mapping[str, Any], now: datetime) -> None:
    """Put one event in the outbox (call it inside the transaction of what caused it)."""
    NotificationEvent.create(kind=kind.value, facts=dict(facts), created_at=now)


MAX_ITEMS = 100  # items named in one event (a request of a whole show counts the rest in items_total)


def record_request_event(kind: Kind, req: MediaRequest, now: datetime, items: Sequence[ProcessingItem] = (),
                         **extra: Any) -> None:
    record_event(kind, {"request": request_facts(req), "items": [item_facts(i) for i in items[:MAX_ITEMS]],
                        "items_total": len(items), **extra}, now)


def transition_kinds(before: ProcessingStatus, after: ProcessingStatus, event: Event, *,
                     upgrading: bool = False) -> tuple[Kind, ...]:
    return kinds_of_transition(before, after, event, upgrading=upgrading)


def record_transition_events(item_id: int, kinds: Iterable[Kind], now: datetime) -> None:
    """The events of an item's transition, with the item as it is now (in the transition's transaction)."""
    item = ProcessingItem.get_or_none(ProcessingItem.id == item_id)
    if item is None:
        return
    req = MediaRequest.get_by_id(item.request_id)
    for kind in kinds:
        record_request_event(kind, req, now, [item], release=release_facts(item.release),
                             error=item.last_error if kind is Kind.ITEM_FAILED else None)
        if kind is Kind.ITEM_AVAILABLE and req.kind == "tv" and _request_completed(req.id):
            record_request_event(Kind.REQUEST_AVAILABLE, req, now, _completed_items(req.id))


def item_stranded(item_id: int, reason: str, now: datetime) -> None:
    """An item the reconciler found stranded while the daemon ran (and repaired): people hear of it."""
    item = ProcessingItem.get_or_none(ProcessingItem.id == item_id)
    if item is not None:
        record_request_event(Kind.ITEM_STRANDED, MediaRequest.get_by_id(item.request_id), now, [item], error=reason)


def _request_completed(request_id: int) -> bool:
    statuses = ProcessingItem.select(ProcessingItem.status, ProcessingItem.upgrading).where(
        ProcessingItem.request == request_id).distinct()
    return request_status(counted_status(ProcessingStatus(row.status), bool(row.upgrading))
                          for row in statuses).value == "COMPLETED"


def _completed_items(request_id: int) -> list[ProcessingItem]:
    return list(ProcessingItem.select().where((ProcessingItem.request == request_id)
                                              & (ProcessingItem.status == ProcessingStatus.COMPLETED.value))
                .order_by(ProcessingItem.season, ProcessingItem.episode))


# --- fan-out ------------------------------------------------------------------------------------------------
def fan_out(routes: Mapping[str, Sequence[str]], now: datetime, limit: int = 200) -> int:
    """Turn new events into one pending row per destination whose filter takes them (grabs of one release for
    one request folded into one). Destinations: name -> event filter. Returns the rows made."""
    db = database_proxy.obj
    made = 0
    with write_transaction(db):
        query = NotificationEvent.select().where(~NotificationEvent.fanned_out).order_by(NotificationEvent.id)
        query = query.limit(limit)
        if is_postgres(db):
            query = query.for_update(skip_locked=True)
        events = list(query)
        if not events:
            return 0
        for ids, kind, facts in merge_grabs((e.id, e.kind, e.facts or {}) for e in events):
            if len(ids) > 1:
                NotificationEvent.update(facts=facts).where(NotificationEvent.id == ids[0]).execute()
            rows = [{"event": ids[0], "destination": name, "status": PENDING, "next_attempt_at": now,
                     "created_at": now} for name, filters in routes.items() if wants(filters, kind)]
            if rows:
                Notification.insert_many(rows).on_conflict_ignore().execute()
                made += len(rows)
        NotificationEvent.update(fanned_out=True).where(NotificationEvent.id.in_([e.id for e in events])).execute()
    return made


# --- sending ------------------------------------------------------------------------------------------------
def claim_notifications(owner: str, now: datetime, lease_seconds: float, limit: int) -> list[Notification]:
    """Due pending rows (whose lease, if any, ran out), claimed for ``owner`` until the lease ends."""
    db = database_proxy.obj
    free = Notification.lease_until.is_null() | (Notification.lease_until < now)
    with write_transaction(db):
        query = (Notification.select(Notification.id)
                 .where((Notification.status == PENDING) & (Notification.next_attempt_at <= now) & free)
                 .order_by(Notification.next_attempt_at, Notification.id).limit(limit))
        if is_postgres(db):
            query = query.for_update(skip_locked=True)
        ids = [row.id for row in query]
        if not ids:
            return []
        Notification.update(claimed_by=owner, lease_until=now + timedelta(seconds=lease_seconds)).where(
            Notification.id.in_(ids) & (Notification.status == PENDING)).execute()
    rows = Notification.select(Notification, NotificationEvent).join(NotificationEvent).where(
        Notification.id.in_(ids) & (Notification.claimed_by == owner)).order_by(Notification.id)
    return list(rows)


def notification_sent(notification_id: int, owner: str, now: datetime) -> bool:
    return bool(Notification.update(status=SENT, sent_at=now, claimed_by=None, lease_until=None,
                                    attempts=Notification.attempts + 1, last_error=None)
                .where((Notification.id == notification_id) & (Notification.claimed_by == owner)).execute())


def notification_failed(notification_id: int, owner: str, error: str, now: datetime) -> str:
    """A failed send: tried again after the backoff, or FAILED for good after MAX_ATTEMPTS; returns the status."""
    row = Notification.get_or_none(Notification.id == notification_id)
    if row is None:
        return FAILED
    attempts = row.attempts + 1
    status = FAILED if attempts >= MAX_ATTEMPTS else PENDING
    Notification.update(status=status, attempts=attempts, last_error=error[:1000], claimed_by=None,
                        lease_until=None, next_attempt_at=now + timedelta(seconds=RETRY.delay(attempts - 1))).where(
        (Notification.id == notification_id) & (Notification.claimed_by == owner)).execute()
    return status


def notification_deferred(notification_id: int, owner: str, until: datetime) -> None:
    """Released unsent without counting an attempt (its destination just failed another send)."""
    Notification.update(claimed_by=None, lease_until=None, next_attempt_at=until).where(
        (Notification.id == notification_id) & (Notification.claimed_by == owner)).execute()


def notification_counts() -> dict[str, dict[str, int]]:
    """destination -> status -> rows (the API's and the CLI's view of the outbox)."""
    query = Notification.select(Notification.destination, Notification.status,
                                pw.fn.COUNT(Notification.id)).group_by(Notification.destination, Notification.status)
    out: dict[str, dict[str, int]] = {}
    for destination, status, n in cast(Iterable[tuple[str, str, int]], query.tuples()):
        out.setdefault(destination, {})[status] = int(n)
    return out


def prune_notifications(before: datetime) -> int:
    """Forget events whose every row was sent or given up before ``before`` (kept a while for the record)."""
    open_rows = Notification.select(Notification.event).where(
        (Notification.status == PENDING) | (Notification.created_at >= before))
    return int(NotificationEvent.delete().where(
        NotificationEvent.fanned_out & (NotificationEvent.created_at < before)
        & NotificationEvent.id.not_in(open_rows)).execute())
