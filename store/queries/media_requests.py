"""Media requests: submit one (one request per title: :func:`submit_request`), list and summarise them (status
computed from the items, live progress folded in), cancel and delete."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

import peewee as pw

from annexd.domain.live import LiveProgress
from annexd.domain.notifications import Kind
from annexd.domain.pipeline import (
    PROGRESS_STATUSES,
    TERMINAL,
    Event,
    ProcessingStatus,
    RequestStatus,
    counted_status,
    request_status,
)
from annexd.domain.request_specs import Additions, RequestSpec, SubmitOutcome, additions, title_key
from annexd.errors import NotFoundError
from store.db import database_proxy, is_postgres, write_transaction
from store.models import MediaRequest, ProcessingItem
from store.queries.items import apply_transition
from store.queries.notifications import record_request_event
from store.queries.request_status import request_touched, status_batch

S = ProcessingStatus

def submit_request(spec: RequestSpec, now: datetime, *, pending_approval: bool = False) -> SubmitOutcome:
    """The one way in for a request (API, CLI, importer, the *arr API): a title has at most one request that is
    not wholly CANCELLED. A new title is created; a title already requested gets what is new (episodes,
    seasons, targets, a new way of following the show) added to its request; nothing new changes nothing
    (``outcome.changed`` is False). ``pending_approval``: the items it creates wait for an admin (the caller's
    rights, see :func:`store.queries.approvals.submit_as`); they are ``spec.requested_by``'s.

    Two submits of one title never both create: the write lock (SQLite) or an advisory lock on the title
    (PostgreSQL, held to the end of the transaction) serialises them."""
    key = _title_key(spec)
    with write_transaction():
        lock_titles([key])
        existing = live_request(key)
        if existing is None:
            return SubmitOutcome(_insert_request(spec, key, now, pending_approval).id, created=True)
        added = _additions(existing, spec)
        if added:
            _add_to(existing, spec, added, now, pending_approval)
        return SubmitOutcome(existing.id, created=False, added=added)


def request_for_title(spec: RequestSpec) -> MediaRequest | None:
    """The request that holds ``spec``'s title (not wholly CANCELLED), or None: what a lookup answers (the
    *arr API's "already added")."""
    return live_request(_title_key(spec))


def create_request(spec: RequestSpec, now: datetime, *, pending_approval: bool = False) -> MediaRequest:
    """Insert a request and its items in one transaction, whatever else holds the title (tests, benches and
    bulk loads; everything a person or another program asks for goes through :func:`submit_request`)."""
    with write_transaction():
        return _insert_request(spec, _title_key(spec), now, pending_approval)


def _title_key(spec: RequestSpec) -> str:
    return title_key(spec.kind, spec.tmdb_id, spec.title, spec.year)[:600]


def _insert_request(spec: RequestSpec, key: str, now: datetime, pending_approval: bool) -> MediaRequest:
    """A new request and its items; unaired episodes start AWAITING, every item PENDING_APPROVAL when an admin
    must approve the request first. The ``request.created`` event goes in the notification outbox in the same
    transaction."""
    req = MediaRequest.create(
        kind=spec.kind, title=spec.title, year=spec.year, tmdb_id=spec.tmdb_id, tvdb_id=spec.tvdb_id,
        imdb_id=spec.imdb_id, requested_seasons=list(spec.seasons) if spec.seasons is not None else None,
        targets=list(spec.targets), quality_profile=spec.quality_profile, requested_by=spec.requested_by,
        priority=spec.priority, monitor=spec.monitor,
        monitor_seasons=list(spec.monitor_seasons) if spec.monitor_seasons is not None else None,
        created_at=now, updated_at=now, title_key=key,
    )
    add_items(req, spec, now, pending_approval=pending_approval)
    record_request_event(Kind.REQUEST_CREATED, req, now, request_items(req.id), pending_approval=pending_approval)
    return cast(MediaRequest, req)


def lock_titles(keys: Sequence[str]) -> None:
    """On PostgreSQL, advisory locks on these titles until the transaction ends, taken in one order so two
    callers locking several titles never deadlock (SQLite: BEGIN IMMEDIATE already holds the one write lock)."""
    db = database_proxy.obj
    if is_postgres(db) and keys:
        ids = sorted({int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big", signed=True) for k in keys})
        db.execute_sql("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k "
                       "ORDER BY 1) AS titles", (ids,))


def live_request(key: str) -> MediaRequest | None:
    """The oldest request of this title that is not wholly CANCELLED (its derived status says so; one with no
    items is EMPTY, so live)."""
    query = MediaRequest.select().where(
        (MediaRequest.title_key == key) & (MediaRequest.status != RequestStatus.CANCELLED.value))
    return cast(MediaRequest | None, query.order_by(MediaRequest.id).first())


def _additions(req: MediaRequest, spec: RequestSpec) -> Additions:
    rows = ProcessingItem.select(ProcessingItem.season, ProcessingItem.episode).where(
        ProcessingItem.request == req.id).tuples()
    episodes = {(int(s), int(e)) for s, e in cast(Iterable[tuple[int, int]], rows)}
    seasons = tuple(req.requested_seasons) if req.requested_seasons is not None else None
    monitor_seasons = tuple(req.monitor_seasons) if req.monitor_seasons is not None else None
    return additions(spec, episodes, seasons, tuple(req.targets or ()), (req.monitor, monitor_seasons))


def _add_to(req: MediaRequest, spec: RequestSpec, added: Additions, now: datetime, pending_approval: bool) -> None:
    if added.episodes:
        add_items(req, RequestSpec(kind=spec.kind, title=spec.title, episodes=added.episodes), now, movie=False,
                  pending_approval=pending_approval, requested_by=spec.requested_by)
    updates: dict[Any, Any] = {MediaRequest.updated_at: now}
    if added.seasons:
        updates[MediaRequest.requested_seasons] = sorted({*(req.requested_seasons or ()), *added.seasons})
    if added.targets:
        updates[MediaRequest.targets] = [*(req.targets or ()), *added.targets]
    if added.monitor:
        updates[MediaRequest.monitor] = added.monitor
        updates[MediaRequest.monitor_seasons] = list(spec.monitor_seasons) if spec.monitor_seasons is not None \
            else None
    MediaRequest.update(updates).where(MediaRequest.id == req.id).execute()


def add_items(req: MediaRequest, spec: RequestSpec, now: datetime, *, movie: bool = True,
              pending_approval: bool = False, requested_by: str | None = None) -> int:
    """The one way items are created (a new request, what a new request for its title adds, a TMDB refresh of
    a followed show); existing (season, episode) pairs are left alone. ``pending_approval``: the items wait for
    an admin (no stage touches them); items a TMDB refresh adds inherit the request's approval
    (:func:`store.queries.approvals.approval_state`). ``requested_by``: who asked for them (default: the spec's
    requester). The request's derived status is refreshed in the same transaction."""
    who = requested_by or spec.requested_by
    rows: list[dict[str, Any]] = []
    if spec.kind == "movie" and movie:
        rows.append(_item_row(req, "movie", 0, 0, spec.title, None, now, pending_approval, who))
    for ep in spec.episodes:
        rows.append(_item_row(req, "episode", ep.season, ep.episode, ep.title, ep.air_date, now, pending_approval,
                              who))
    if rows:
        with write_transaction(), status_batch():
            ProcessingItem.insert_many(rows).on_conflict_ignore().execute()
            request_touched(req.id)
    return len(rows)


def _item_row(req: MediaRequest, kind: str, season: int, episode: int, title: str,
              air_date: date | None, now: datetime, pending_approval: bool, requested_by: str) -> dict[str, Any]:
    unaired = air_date is not None and air_date > now.date() and not pending_approval
    status = S.PENDING_APPROVAL if pending_approval else S.AWAITING if unaired else S.PENDING
    return {
        "request": req.id, "kind": kind, "season": season, "episode": episode, "title": title or "",
        "air_date": air_date, "status": status, "requested_by": requested_by[:100],
        "next_retry_at": datetime.combine(air_date, datetime.min.time()) if unaired and air_date else None,
        "last_error": f"not aired yet (airs {air_date.isoformat()})" if unaired and air_date else None,
        "status_changed_at": now, "created_at": now, "updated_at": now,
    }


def import_requests(batch: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]) -> list[int]:
    """Bulk write path (importers, the API bench): insert requests with their items, items already in any
    status, in one transaction, each request's derived status set by the one status function. Each pair is
    (request columns, [item columns]); returns the new request ids in order."""
    ids: list[int] = []
    with write_transaction(), status_batch():
        for columns, items in batch:
            # The request's status is never taken from the caller: the status function sets it below.
            req_id = int(MediaRequest.insert(**{k: v for k, v in columns.items() if k != "status"}).execute())
            ids.append(req_id)
            rows = [{**item, "request": req_id} for item in items]
            for start in range(0, len(rows), _INSERT_CHUNK):
                ProcessingItem.insert_many(rows[start: start + _INSERT_CHUNK]).execute()
            request_touched(req_id)
    return ids


_INSERT_CHUNK = 500


def get_request(request_id: int, visible_to: str | None = None) -> MediaRequest:
    """The request, or NotFoundError (also when ``visible_to`` names a user who did not ask for it: another
    user's request is not confirmed to exist)."""
    query = MediaRequest.select().where(MediaRequest.id == request_id)
    if visible_to is not None:
        query = query.where(asked_by(visible_to))
    req = query.first()
    if req is None:
        raise NotFoundError(f"request {request_id} not found")
    return cast(MediaRequest, req)


def asked_by(name: str) -> Any:
    """The condition on MediaRequest for requests ``name`` asked for, or added items to."""
    added = ProcessingItem.select(ProcessingItem.request).where(ProcessingItem.requested_by == name)
    return (MediaRequest.requested_by == name) | MediaRequest.id.in_(added)


def _summaries(request_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Counts by status, item count and mean progress of these requests only (their items, by index)."""
    if not request_ids:
        return {}
    query = ProcessingItem.select(
        ProcessingItem.request, ProcessingItem.status, ProcessingItem.upgrading,
        pw.fn.COUNT(ProcessingItem.id).alias("n"), pw.fn.SUM(ProcessingItem.progress).alias("p"),
    ).where(ProcessingItem.request.in_(list(request_ids))).group_by(ProcessingItem.request, ProcessingItem.status,
                                                                     ProcessingItem.upgrading)
    acc: dict[int, dict[str, Any]] = defaultdict(lambda: {"counts": {}, "counted": set(), "progress_sum": 0.0,
                                                          "total": 0})
    rows = cast(Iterable[tuple[int, str, bool, int, float | None]], database_proxy.obj.execute(query))
    for req_id, status, upgrading, n, psum in rows:
        entry = acc[req_id]
        entry["counts"][status] = entry["counts"].get(status, 0) + n
        entry["counted"].add(counted_status(ProcessingStatus(status), bool(upgrading)))
        entry["progress_sum"] += float(psum or 0.0)
        entry["total"] += n
    return {req_id: {
        "status": request_status(entry["counted"]).value,
        "progress": round(entry["progress_sum"] / entry["total"], 2) if entry["total"] else 0.0,
        "counts": entry["counts"],
        "items": entry["total"],
    } for req_id, entry in acc.items()}


def _add_live_progress(summaries: dict[int, dict[str, Any]], request_ids: Sequence[int], live: LiveProgress | None) -> None:
    """Shift each request's progress by how far its items' live progress is ahead of their stored checkpoints."""
    if not live or not request_ids:
        return
    query = ProcessingItem.select(ProcessingItem.id, ProcessingItem.request, ProcessingItem.status,
                                  ProcessingItem.progress, ProcessingItem.status_changed_at).where(
        ProcessingItem.request.in_(list(request_ids)), ProcessingItem.status.in_([s.value for s in PROGRESS_STATUSES]))
    ahead: dict[int, float] = defaultdict(float)
    rows = cast(Iterable[tuple[int, int, str, float | None, datetime | None]], query.tuples())
    for item_id, req_id, status, stored, changed_at in rows:
        entry = live.get(item_id, status, changed_at)
        if entry is not None:
            ahead[req_id] += entry.progress - float(stored or 0.0)
    for req_id, delta in ahead.items():
        summary = summaries.get(req_id)
        if summary and summary["items"]:
            summary["progress"] = round(summary["progress"] + delta / summary["items"], 2)


_EMPTY = {"status": RequestStatus.EMPTY.value, "progress": 0.0, "counts": {}, "items": 0}
_REQUEST_COLUMNS = (MediaRequest.id, MediaRequest.kind, MediaRequest.title, MediaRequest.year, MediaRequest.tmdb_id,
                    MediaRequest.tvdb_id, MediaRequest.imdb_id, MediaRequest.targets, MediaRequest.quality_profile,
                    MediaRequest.requested_by, MediaRequest.priority, MediaRequest.status, MediaRequest.monitor,
                    MediaRequest.monitor_seasons, MediaRequest.legacy_id, MediaRequest.legacy_ids)


def _request_rows(query: pw.Select) -> list[dict[str, Any]]:
    """Request rows as dicts, read from the raw cursor: the JSON columns decoded, ``created_at`` as the
    database's text ("YYYY-MM-DD HH:MM:SS[.ffffff]"), everything else as stored."""
    names = [c.name for c in _REQUEST_COLUMNS] + ["created_at"]
    rows = [dict(zip(names, row, strict=True)) for row in database_proxy.obj.execute(query)]
    for row in rows:
        row["targets"] = json.loads(row["targets"]) if row["targets"] else []
        row["monitor_seasons"] = json.loads(row["monitor_seasons"]) if row["monitor_seasons"] else None
        row["legacy_ids"] = json.loads(row["legacy_ids"]) if row["legacy_ids"] else None
    return rows


def _select_requests() -> pw.Select:
    return MediaRequest.select(*_REQUEST_COLUMNS, MediaRequest.created_at.cast("TEXT"))


def request_row(request_id: int, visible_to: str | None = None) -> dict[str, Any]:
    """The request as a dict of the columns its views show, or NotFoundError (also for another user's request
    when ``visible_to`` names a requester)."""
    query = _select_requests().where(MediaRequest.id == request_id)
    if visible_to is not None:
        query = query.where(asked_by(visible_to))
    rows = _request_rows(query)
    if not rows:
        raise NotFoundError(f"request {request_id} not found")
    return rows[0]


def request_summary(req: MediaRequest | dict[str, Any], live: LiveProgress | None = None) -> dict[str, Any]:
    """Status (computed from the items), counts by status, item count and progress of one request."""
    request_id = int(req["id"] if isinstance(req, dict) else req.id)
    summaries = _summaries([request_id])
    _add_live_progress(summaries, [request_id], live)
    return summaries.get(request_id) or dict(_EMPTY)


def list_requests(
    status: RequestStatus | None, offset: int, limit: int, live: LiveProgress | None = None,
    visible_to: str | None = None, total: int | None = None,
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], int]:
    """One page of requests, newest first, as (row, summary) pairs, and how many there are. The status filter
    and the status shown come from the derived status column (index on status, id); counts and progress are
    summarised for the requests on the page only. ``visible_to``: only the requests this user asked for (or
    added items to); None: every request. ``total``: how many there are, when the caller knows (no count)."""
    where = MediaRequest.status == status.value if status is not None else pw.SQL("1 = 1")
    if visible_to is not None:
        where = where & asked_by(visible_to)
    if total is None:
        total = int(MediaRequest.select(pw.fn.COUNT(pw.SQL("*"))).where(where).scalar() or 0)
    rows = _request_rows(_select_requests().where(where).order_by(MediaRequest.id.desc()).limit(limit).offset(offset))
    page_ids = [r["id"] for r in rows]
    summaries = _summaries(page_ids)
    _add_live_progress(summaries, page_ids, live)
    return [(r, {**summaries.get(r["id"], _EMPTY), "status": r["status"]}) for r in rows], total


# The columns the episodes view shows (no alternatives, paths or other JSON it does not need). Timestamps come
# as text ("YYYY-MM-DD HH:MM:SS[.ffffff]" from both databases): the view reformats them without parsing.
_EPISODE_COLUMNS = (ProcessingItem.id, ProcessingItem.kind, ProcessingItem.season, ProcessingItem.episode,
                    ProcessingItem.title, ProcessingItem.status, ProcessingItem.progress, ProcessingItem.speed,
                    ProcessingItem.eta_seconds, ProcessingItem.detail, ProcessingItem.last_error)
_EPISODE_TIMES = ("status_changed_at", "air_date", "downloaded_at", "encoded_at", "delivered_at", "next_retry_at")


def release_title() -> pw.Node:
    """The release's name, read from its JSON by the database (no JSON decoded per row in Python)."""
    if is_postgres(database_proxy.obj):
        return pw.SQL("CAST(release AS json) ->> 'title'")
    return pw.fn.json_extract(ProcessingItem.release, "$.title")


def request_episode_rows(request_id: int) -> list[dict[str, Any]]:
    """A request's episodes as dicts of the columns the episodes view shows (``release_title`` for the
    release), by season and episode."""
    times = [getattr(ProcessingItem, name).cast("TEXT") for name in _EPISODE_TIMES]
    query = (ProcessingItem.select(*_EPISODE_COLUMNS, *times, release_title())
             .where((ProcessingItem.request == request_id) & (ProcessingItem.kind == "episode"))
             .order_by(ProcessingItem.season, ProcessingItem.episode))
    # Every value is already what the view shows (ints, floats, text): the raw cursor, no per-value conversion.
    names = [c.name for c in _EPISODE_COLUMNS] + list(_EPISODE_TIMES) + ["release_title"]
    return [dict(zip(names, row, strict=True)) for row in database_proxy.obj.execute(query)]


def request_items(request_id: int) -> list[ProcessingItem]:
    return list(
        ProcessingItem.select()
        .where(ProcessingItem.request == request_id)
        .order_by(ProcessingItem.season, ProcessingItem.episode)
    )


def cancel_request(request_id: int, now: datetime) -> int:
    """Cancel every non-terminal item of a request, in one transaction; returns how many moved."""
    moved = 0
    with write_transaction(), status_batch():
        for item in request_items(request_id):
            status = ProcessingStatus(item.status)
            if status not in TERMINAL and apply_transition(
                item.id, status, Event.CANCEL, now, attempts=item.attempts, error="cancelled by a person"
            ):
                moved += 1
    return moved


def request_download_ids(request_id: int) -> list[int]:
    """The downloads a request's items use (read before the request's rows are deleted)."""
    query = ProcessingItem.select(ProcessingItem.download).where(
        (ProcessingItem.request == request_id) & ProcessingItem.download.is_null(False)).distinct()
    return [row.download_id for row in query if row.download_id is not None]


def delete_request(request_id: int) -> None:
    """Remove a request and its items (and their file links); shared downloads stay for other requests."""
    with write_transaction():
        MediaRequest.delete().where(MediaRequest.id == request_id).execute()
