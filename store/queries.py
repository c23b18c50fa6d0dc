"""Named queries. Every status write goes through :func:`apply_transition` (compare-and-set)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

import peewee as pw

from annexd import metrics
from annexd.domain.live import LiveProgress
from annexd.domain.pipeline import (
    PROGRESS_STATUSES,
    STAGE_OF,
    TERMINAL,
    Event,
    ProcessingStatus,
    RequestStatus,
    request_status,
    transition,
)
from annexd.domain.request_specs import RequestSpec
from store.db import database_proxy, is_postgres, write_transaction
from store.models import (
    Blocklist,
    DaemonInstance,
    Delivery,
    MediaRequest,
    ProcessingItem,
    ProviderHealth,
    TaskState,
)


def create_request(spec: RequestSpec, now: datetime) -> MediaRequest:
    """Insert a request and its items in one transaction; unaired episodes start AWAITING."""
    with write_transaction():
        req = MediaRequest.create(
            kind=spec.kind, title=spec.title, year=spec.year, tmdb_id=spec.tmdb_id, tvdb_id=spec.tvdb_id,
            imdb_id=spec.imdb_id, requested_seasons=list(spec.seasons) if spec.seasons is not None else None,
            targets=list(spec.targets), quality_profile=spec.quality_profile, requested_by=spec.requested_by,
            priority=spec.priority, created_at=now, updated_at=now,
        )
        add_items(req, spec, now)
    return req


def add_items(req: MediaRequest, spec: RequestSpec, now: datetime) -> int:
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
    """Move one item with ``event`` if it is still in ``expected``; False when someone else moved it first."""
    row = ProcessingItem.select(ProcessingItem.attempts, ProcessingItem.status_changed_at).where(
        ProcessingItem.id == item_id).first()
    if row is None:
        return False
    result = transition(expected, event, now, attempts=row.attempts if attempts is None else attempts, error=error,
                        retry_at=retry_at)
    updates = {getattr(ProcessingItem, k): v for k, v in {**result.updates, **(fields or {})}.items()}
    updates[ProcessingItem.updated_at] = now
    changed = (
        ProcessingItem.update(updates)
        .where((ProcessingItem.id == item_id) & (ProcessingItem.status == expected))
        .execute()
    )
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
    with write_transaction(db):
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


def items_by_status() -> dict[str, int]:
    query = ProcessingItem.select(ProcessingItem.status, pw.fn.COUNT(ProcessingItem.id).alias("n")).group_by(
        ProcessingItem.status
    )
    rows = cast(Iterable[tuple[str, int]], query.tuples())
    return {str(status): int(n) for status, n in rows}


def progress_baseline(statuses: Iterable[ProcessingStatus]) -> dict[int, tuple[str, float]]:
    """What the database holds now for items that report progress: id -> (status, progress)."""
    query = ProcessingItem.select(ProcessingItem.id, ProcessingItem.status, ProcessingItem.progress).where(
        ProcessingItem.status.in_([s.value for s in statuses]))
    rows = cast(Iterable[tuple[int, str, float]], query.tuples())
    return {int(item_id): (str(status), float(progress or 0.0)) for item_id, status, progress in rows}


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


def record_task_run(name: str, now: datetime, error: str | None = None) -> None:
    values = {"last_run_at": now, "last_error": error}
    if error is None:
        values["last_ok_at"] = now
    TaskState.insert(name=name, **values).on_conflict(
        conflict_target=[TaskState.name], update=values
    ).execute()


def load_provider_state(kind: str, name: str) -> dict[str, Any] | None:
    row = ProviderHealth.get_or_none((ProviderHealth.kind == kind) & (ProviderHealth.name == name))
    return row.state if row is not None else None


def save_provider_state(kind: str, name: str, state: dict[str, Any], error: str | None, now: datetime) -> None:
    values = {"state": state, "last_error": error, "updated_at": now}
    ProviderHealth.insert(kind=kind, name=name, **values).on_conflict(
        conflict_target=[ProviderHealth.kind, ProviderHealth.name], update=values
    ).execute()


def provider_states(kind: str | None = None) -> list[ProviderHealth]:
    query = ProviderHealth.select().order_by(ProviderHealth.kind, ProviderHealth.name)
    return list(query.where(ProviderHealth.kind == kind) if kind else query)


def blocklisted_keys() -> set[str]:
    return {row.release_key for row in Blocklist.select(Blocklist.release_key)}


def add_to_blocklist(key: str, title: str, reason: str, request_id: int | None, now: datetime) -> None:
    Blocklist.insert(release_key=key[:100], title=title[:1000], reason=reason, request=request_id,
                     created_at=now).on_conflict_ignore().execute()


def deliveries_by_item(item_ids: Sequence[int]) -> dict[int, list[Delivery]]:
    out: dict[int, list[Delivery]] = defaultdict(list)
    if item_ids:
        for row in Delivery.select().where(Delivery.item.in_(list(item_ids))).order_by(Delivery.target):
            out[row.item_id].append(row)
    return out


# One UPDATE ... FROM (VALUES ...) per chunk instead of one statement per row: a 10,000-item flush is ten
# statements. Columns given as NULL keep their current value; the status guard drops stale progress.
_PROGRESS_CHUNK = 1000
_PROGRESS_SQL = (
    "UPDATE processing_item SET progress = v.{c[2]}, speed = COALESCE(v.{c[3]}, processing_item.speed), "
    "eta_seconds = COALESCE(v.{c[4]}, processing_item.eta_seconds), "
    "detail = COALESCE(v.{c[5]}, processing_item.detail), updated_at = {now} "
    "FROM (VALUES {rows}) AS {alias} "
    "WHERE processing_item.id = v.{c[0]} AND processing_item.status = v.{c[1]}"
)
_PG_COLUMNS = ("id", "status", "progress", "speed", "eta", "detail")
_SQLITE_COLUMNS = tuple(f"column{i}" for i in range(1, 7))  # SQLite names VALUES columns itself


def write_progress(rows: Sequence[tuple[int, str, float, int | None, int | None, str | None]], now: datetime) -> int:
    """Write (item id, expected status, progress, speed, eta, detail) rows; returns the rows changed."""
    db = database_proxy.obj
    p = db.param
    columns = _PG_COLUMNS if is_postgres(db) else _SQLITE_COLUMNS
    alias = f"v({', '.join(columns)})" if is_postgres(db) else "v"
    row = (f"(CAST({p} AS INTEGER), CAST({p} AS VARCHAR(24)), CAST({p} AS REAL), CAST({p} AS BIGINT), "
           f"CAST({p} AS INTEGER), CAST({p} AS VARCHAR(500)))")
    changed = 0
    for start in range(0, len(rows), _PROGRESS_CHUNK):
        chunk = rows[start: start + _PROGRESS_CHUNK]
        sql = _PROGRESS_SQL.format(c=columns, now=p, rows=", ".join([row] * len(chunk)), alias=alias)
        params: list[Any] = [now]
        for values in chunk:
            params.extend(values)
        changed += db.execute_sql(sql, params).rowcount
    return changed


# Statuses that mean "a daemon is working on it right now": a claim that must be released if that daemon dies.
CLAIMED = (ProcessingStatus.SEARCHING, ProcessingStatus.ENCODING, ProcessingStatus.DELIVERING)


def heartbeat(instance_id: str, host: str, pid: int, now: datetime) -> None:
    DaemonInstance.insert(id=instance_id, host=host, pid=pid, started_at=now, last_seen=now).on_conflict(
        conflict_target=[DaemonInstance.id], update={"last_seen": now}).execute()


def forget_instances(instance_ids: Sequence[str]) -> None:
    if instance_ids:
        DaemonInstance.delete().where(DaemonInstance.id.in_(list(instance_ids))).execute()


def instances_on(host: str) -> list[DaemonInstance]:
    return list(DaemonInstance.select().where(DaemonInstance.host == host))


def orphaned_claims(live_since: datetime, limit: int) -> list[ProcessingItem]:
    """Claimed items whose daemon has not beaten since ``live_since`` (or never said who it was)."""
    live = DaemonInstance.select(DaemonInstance.id).where(DaemonInstance.last_seen >= live_since)
    return list(ProcessingItem.select().where(
        ProcessingItem.status.in_([s.value for s in CLAIMED])
        & (ProcessingItem.claimed_by.is_null() | ProcessingItem.claimed_by.not_in(live))
    ).order_by(ProcessingItem.id).limit(limit))
