"""The derived request status: ``media_request.status`` holds what annexd.domain.pipeline.request_status computes
from the request's items. It is a cache, not a second truth, and this module is the only writer of it. An
upgrading item counts as COMPLETED (its delivered files stay until the new ones replace them).

Every item change that can move a request's status (a transition, new items, a bulk import) calls
:func:`request_touched` inside its own transaction; the status is refreshed there, before the commit. Inside
:func:`status_batch` (claims, the writer's flush, cancelling a request) the refresh is deferred to the end of the
batch: once per request, in id order. The request rows are locked first (``FOR NO KEY UPDATE`` on PostgreSQL;
SQLite's write lock serialises writers anyway), then the items are read: a transaction that waits for the lock
reads the items after the one before it committed, so the last writer never stores a stale status.
:func:`recompute_all` rebuilds every row from the items (``annexd maintenance recompute``).

Not pure: reads and writes the database bound to store.db.database_proxy, in the caller's connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, cast

from annexd.domain.pipeline import ProcessingStatus, counted_status, request_status
from store.db import database_proxy, is_postgres, write_transaction
from store.models import MediaRequest, ProcessingItem

_CHUNK = 500
_pending = threading.local()  # the request ids touched inside this thread's status_batch, or None


def request_touched(request_id: int) -> None:
    """Items of this request changed in the current transaction: refresh its status now, or at the end of the
    enclosing :func:`status_batch`."""
    batch: set[int] | None = getattr(_pending, "ids", None)
    if batch is not None:
        batch.add(request_id)
    else:
        refresh_request_status([request_id])


@contextlib.contextmanager
def status_batch() -> Iterator[None]:
    """Defer the status refreshes of item changes made inside to its end (still inside the caller's
    transaction: enter it after the transaction, so it exits before the commit). Nested batches join the
    outermost one; nothing is refreshed when the block raises (the transaction rolls back)."""
    if getattr(_pending, "ids", None) is not None:
        yield
        return
    _pending.ids = set()
    try:
        yield
        ids: set[int] = _pending.ids
    finally:
        _pending.ids = None
    refresh_request_status(ids)


def refresh_request_status(request_ids: Iterable[int]) -> int:
    """Recompute the status of these requests from their items and store the ones that changed; returns how
    many changed. Runs in the caller's transaction (or its own when there is none)."""
    ids = sorted(set(request_ids))
    if not ids:
        return 0
    db = database_proxy.obj
    changed = 0
    with contextlib.nullcontext() if db.in_transaction() else write_transaction(db):
        for start in range(0, len(ids), _CHUNK):
            changed += _refresh_chunk(db, ids[start: start + _CHUNK])
    return changed


def _refresh_chunk(db: Any, ids: list[int]) -> int:
    query = MediaRequest.select(MediaRequest.id, MediaRequest.status).where(
        MediaRequest.id.in_(ids)).order_by(MediaRequest.id)
    if is_postgres(db):
        query = query.for_update("FOR NO KEY UPDATE")  # type: ignore[arg-type]  # items can still be inserted (their FK takes KEY SHARE)
    stored = dict(cast(Iterable[tuple[int, str]], query.tuples()))
    computed = computed_statuses(list(stored))
    moves: dict[str, list[int]] = defaultdict(list)
    for request_id, status in stored.items():
        if computed[request_id] != status:
            moves[computed[request_id]].append(request_id)
    for status, moved in moves.items():
        MediaRequest.update(status=status).where(MediaRequest.id.in_(moved)).execute()
    return sum(len(moved) for moved in moves.values())


def computed_statuses(request_ids: list[int]) -> dict[int, str]:
    """What the items say each request's status is (EMPTY for a request without items)."""
    present: dict[int, list[ProcessingStatus]] = {request_id: [] for request_id in request_ids}
    if request_ids:
        query = ProcessingItem.select(ProcessingItem.request, ProcessingItem.status, ProcessingItem.upgrading).where(
            ProcessingItem.request.in_(request_ids)).group_by(ProcessingItem.request, ProcessingItem.status,
                                                              ProcessingItem.upgrading)
        for request_id, status, upgrading in cast(Iterable[tuple[int, str, bool]], query.tuples()):
            present[int(request_id)].append(counted_status(ProcessingStatus(status), bool(upgrading)))
    return {request_id: request_status(statuses).value for request_id, statuses in present.items()}


def recompute_all(chunk: int = 1000) -> tuple[int, int]:
    """Rebuild every request's stored status from its items, one transaction per chunk of ids; returns
    (requests seen, requests whose stored status was wrong)."""
    seen = changed = 0
    last = 0
    while True:
        query = MediaRequest.select(MediaRequest.id).where(MediaRequest.id > last).order_by(MediaRequest.id)
        ids = [int(row[0]) for row in cast(Iterable[tuple[int]], query.limit(chunk).tuples())]
        if not ids:
            return seen, changed
        with write_transaction():
            changed += refresh_request_status(ids)
        seen += len(ids)
        last = ids[-1]
