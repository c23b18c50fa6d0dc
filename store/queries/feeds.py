"""Feeds and show monitoring: claimed periodic tasks (one daemon polls a feed at a time), the wanted items a
feed release is matched against, kept alternatives, the followed TV requests and their episode listings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, cast

import peewee as pw

from annexd.domain.pipeline import ProcessingStatus
from store.models import MediaRequest, ProcessingItem, TaskState

S = ProcessingStatus


def claim_task(name: str, owner: str, now: datetime, lease_seconds: float, *, force: bool = False) -> bool:
    """Claim task ``name`` for ``owner`` when it is due (``force``: due or not) and no live claim holds it.

    One UPDATE decides (a compare-and-set on the claim columns): on PostgreSQL a second daemon's UPDATE waits for
    the first and then finds the row claimed, so exactly one daemon runs the task; the claim is a lease, so a
    daemon that dies holding it only delays the task until ``lease_until``.
    """
    TaskState.insert(name=name).on_conflict_ignore().execute()
    free = TaskState.claimed_by.is_null() | TaskState.lease_until.is_null() | (TaskState.lease_until < now)
    due = TaskState.next_run_at.is_null() | (TaskState.next_run_at <= now)
    query = TaskState.update(claimed_by=owner, lease_until=now + timedelta(seconds=lease_seconds)).where(
        (TaskState.name == name) & free & (pw.SQL("1 = 1") if force else due))
    return bool(query.execute())


def finish_task(name: str, owner: str, now: datetime, next_run_at: datetime, *, error: str | None = None,
                data: dict[str, Any] | None = None) -> bool:
    """Record a claimed task's run and release the claim; False when the claim was lost meanwhile."""
    values: dict[Any, Any] = {TaskState.claimed_by: None, TaskState.lease_until: None,
                              TaskState.next_run_at: next_run_at, TaskState.last_run_at: now,
                              TaskState.last_error: error}
    if error is None:
        values[TaskState.last_ok_at] = now
    if data is not None:
        values[TaskState.data] = data
    return bool(TaskState.update(values).where((TaskState.name == name) & (TaskState.claimed_by == owner)).execute())


def postpone_task(name: str, owner: str, next_run_at: datetime) -> bool:
    """Release a claimed task that could not run yet (a rate limit): due again at ``next_run_at``, its data and
    last run untouched. False when the claim was lost meanwhile."""
    return bool(TaskState.update({TaskState.claimed_by: None, TaskState.lease_until: None,
                                  TaskState.next_run_at: next_run_at})
                .where((TaskState.name == name) & (TaskState.claimed_by == owner)).execute())


def task_states(prefix: str) -> list[TaskState]:
    return list(TaskState.select().where(TaskState.name.startswith(prefix)).order_by(TaskState.name))


def wanted_request_titles(statuses: Iterable[ProcessingStatus]) -> list[tuple[int, str]]:
    """(id, title) of every request with items in ``statuses``: one light row per request, so a release is
    compared by title first and only its candidates' items are read."""
    wanted = ProcessingItem.select(ProcessingItem.request).where(ProcessingItem.status.in_([s.value for s in statuses]))
    query = MediaRequest.select(MediaRequest.id, MediaRequest.title).where(MediaRequest.id.in_(wanted))
    return [(int(rid), str(title)) for rid, title in cast(Iterable[tuple[int, str]], query.tuples())]


def wanted_items(statuses: Iterable[ProcessingStatus], request_ids: Iterable[int] | None = None
                 ) -> list[tuple[MediaRequest, list[ProcessingItem]]]:
    """Every request with items in ``statuses`` (what feed releases are matched against), with those items;
    only the requests ``request_ids`` names, when given."""
    where = ProcessingItem.status.in_([s.value for s in statuses])
    if request_ids is not None:
        where &= ProcessingItem.request.in_(list(request_ids))
    items = list(ProcessingItem.select().where(where)
                 .order_by(ProcessingItem.request, ProcessingItem.season, ProcessingItem.episode))
    by_request: dict[int, list[ProcessingItem]] = defaultdict(list)
    for item in items:
        by_request[item.request_id].append(item)
    if not by_request:
        return []
    requests = MediaRequest.select().where(MediaRequest.id.in_(list(by_request)))
    return [(req, by_request[req.id]) for req in requests]


def season_sizes(request_ids: Iterable[int]) -> dict[int, dict[int, int]]:
    """Items per season of each request (a season pack's size is judged per episode over this many)."""
    ids = list(request_ids)
    if not ids:
        return {}
    query = (ProcessingItem.select(ProcessingItem.request, ProcessingItem.season, pw.fn.COUNT(ProcessingItem.id))
             .where(ProcessingItem.request.in_(ids)).group_by(ProcessingItem.request, ProcessingItem.season))
    sizes: dict[int, dict[int, int]] = defaultdict(dict)
    for request_id, season, count in cast(Iterable[tuple[int, int, int]], query.tuples()):
        sizes[request_id][season] = count
    return dict(sizes)


def keep_alternatives(item_id: int, expected: ProcessingStatus, releases: list[dict[str, Any]],
                      now: datetime) -> bool:
    """A below-profile release is kept on a waiting item (taken with accept-release); only while it still waits."""
    return bool(ProcessingItem.update(available_releases=releases, quality_met=False, updated_at=now).where(
        (ProcessingItem.id == item_id) & (ProcessingItem.status == expected)).execute())


def monitored_requests() -> list[MediaRequest]:
    """TV requests that follow their show and can be refreshed from TMDB."""
    return list(MediaRequest.select().where((MediaRequest.kind == "tv") & (MediaRequest.monitor != "none")
                                            & MediaRequest.tmdb_id.is_null(False)).order_by(MediaRequest.id))


def update_listing(item_id: int, title: str, air_date: date | None, now: datetime) -> None:
    """TMDB changed an episode's title or air date; an item waiting for its air date waits for the new one."""
    ProcessingItem.update(title=title, air_date=air_date, updated_at=now).where(ProcessingItem.id == item_id).execute()
    if air_date is not None:
        ProcessingItem.update(
            next_retry_at=datetime.combine(air_date, datetime.min.time()),
            last_error=f"not aired yet (airs {air_date.isoformat()})",
        ).where((ProcessingItem.id == item_id) & (ProcessingItem.status == S.AWAITING)
                & ProcessingItem.last_error.startswith("not aired")).execute()
