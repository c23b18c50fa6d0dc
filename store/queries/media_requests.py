"""Media requests: create one with its items, list and summarise them (status computed from the items, live
progress folded in), cancel and delete."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

import peewee as pw

from annexd.domain.live import LiveProgress
from annexd.domain.pipeline import (
    PROGRESS_STATUSES,
    TERMINAL,
    Event,
    ProcessingStatus,
    RequestStatus,
    request_status,
)
from annexd.domain.request_specs import RequestSpec
from annexd.errors import NotFoundError
from store.db import write_transaction
from store.models import MediaRequest, ProcessingItem
from store.queries.items import apply_transition


def create_request(spec: RequestSpec, now: datetime) -> MediaRequest:
    """Insert a request and its items in one transaction; unaired episodes start AWAITING."""
    with write_transaction():
        req = MediaRequest.create(
            kind=spec.kind, title=spec.title, year=spec.year, tmdb_id=spec.tmdb_id, tvdb_id=spec.tvdb_id,
            imdb_id=spec.imdb_id, requested_seasons=list(spec.seasons) if spec.seasons is not None else None,
            targets=list(spec.targets), quality_profile=spec.quality_profile, requested_by=spec.requested_by,
            priority=spec.priority, monitor=spec.monitor,
            monitor_seasons=list(spec.monitor_seasons) if spec.monitor_seasons is not None else None,
            created_at=now, updated_at=now,
        )
        add_items(req, spec, now)
    return req


def add_items(req: MediaRequest, spec: RequestSpec, now: datetime) -> int:
    """The one way items are created (a new request, a TMDB refresh of a followed show); existing (season,
    episode) pairs are left alone. Items start approved with their request (approval, when it comes, is the
    request's and new episodes inherit it here)."""
    rows: list[dict[str, Any]] = []
    if spec.kind == "movie":
        rows.append(_item_row(req, "movie", 0, 0, spec.title, None, now))
    for ep in spec.episodes:
        rows.append(_item_row(req, "episode", ep.season, ep.episode, ep.title, ep.air_date, now))
    if rows:
        ProcessingItem.insert_many(rows).on_conflict_ignore().execute()
    return len(rows)


def _item_row(req: MediaRequest, kind: str, season: int, episode: int, title: str,
              air_date: date | None, now: datetime) -> dict[str, Any]:
    unaired = air_date is not None and air_date > now.date()
    return {
        "request": req.id, "kind": kind, "season": season, "episode": episode, "title": title or "",
        "air_date": air_date,
        "status": ProcessingStatus.AWAITING if unaired else ProcessingStatus.PENDING,
        "next_retry_at": datetime.combine(air_date, datetime.min.time()) if unaired and air_date else None,
        "last_error": f"not aired yet (airs {air_date.isoformat()})" if unaired and air_date else None,
        "status_changed_at": now, "created_at": now, "updated_at": now,
    }


def get_request(request_id: int) -> MediaRequest:
    """The request, or NotFoundError."""
    req = MediaRequest.get_or_none(MediaRequest.id == request_id)
    if req is None:
        raise NotFoundError(f"request {request_id} not found")
    return cast(MediaRequest, req)


def _summaries(request_ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
    query = ProcessingItem.select(
        ProcessingItem.request, ProcessingItem.status,
        pw.fn.COUNT(ProcessingItem.id).alias("n"), pw.fn.SUM(ProcessingItem.progress).alias("p"),
    ).group_by(ProcessingItem.request, ProcessingItem.status)
    if request_ids is not None:
        query = query.where(ProcessingItem.request.in_(list(request_ids)))
    acc: dict[int, dict[str, Any]] = defaultdict(lambda: {"counts": {}, "progress_sum": 0.0, "total": 0})
    rows = cast(Iterable[tuple[int, str, int, float | None]], query.tuples())
    for req_id, status, n, psum in rows:
        entry = acc[req_id]
        entry["counts"][status] = n
        entry["progress_sum"] += float(psum or 0.0)
        entry["total"] += n
    out: dict[int, dict[str, Any]] = {}
    for req_id, entry in acc.items():
        counts = entry["counts"]
        out[req_id] = {
            "status": request_status(ProcessingStatus(s) for s in counts).value,
            "progress": round(entry["progress_sum"] / entry["total"], 2) if entry["total"] else 0.0,
            "counts": counts,
            "items": entry["total"],
        }
    return out


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


def request_summary(req: MediaRequest, live: LiveProgress | None = None) -> dict[str, Any]:
    summaries = _summaries([req.id])
    _add_live_progress(summaries, [req.id], live)
    return summaries.get(req.id) or {"status": RequestStatus.EMPTY.value, "progress": 0.0, "counts": {}, "items": 0}


def list_requests(
    status: RequestStatus | None, offset: int, limit: int, live: LiveProgress | None = None
) -> tuple[list[tuple[MediaRequest, dict[str, Any]]], int]:
    """One page of requests with computed status; filtering by computed status happens on the summaries."""
    summaries = _summaries()
    empty = {"status": RequestStatus.EMPTY.value, "progress": 0.0, "counts": {}, "items": 0}
    ids = [r.id for r in MediaRequest.select(MediaRequest.id).order_by(MediaRequest.id.desc())]
    if status is not None:
        ids = [i for i in ids if summaries.get(i, empty)["status"] == status.value]
    page_ids = ids[offset: offset + limit]
    _add_live_progress(summaries, page_ids, live)
    by_id = {r.id: r for r in MediaRequest.select().where(MediaRequest.id.in_(page_ids))} if page_ids else {}
    return [(by_id[i], summaries.get(i, empty)) for i in page_ids if i in by_id], len(ids)


def request_items(request_id: int) -> list[ProcessingItem]:
    return list(
        ProcessingItem.select()
        .where(ProcessingItem.request == request_id)
        .order_by(ProcessingItem.season, ProcessingItem.episode)
    )


def cancel_request(request_id: int, now: datetime) -> int:
    """Cancel every non-terminal item of a request; returns how many moved."""
    moved = 0
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
