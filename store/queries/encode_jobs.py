"""Encode jobs: one row per encode of one source file with one profile, shared by the items the file covers (a
multi-episode file is encoded once). The dispatcher's bookkeeping lives here, not in actor memory: a restarted
dispatcher or daemon finds every job, its owner, agent, attempt and progress checkpoint."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.retry import RetryPolicy
from store.db import database_proxy, is_postgres, write_transaction
from store.models import EncodeJob, ProcessingItem
from store.queries.items import apply_transition, claim_items, get_item

OPEN = ("queued", "running")


@dataclass(frozen=True)
class PlannedJob:
    """What the dispatcher wants encoded for a group of items: one profile of one source."""

    profile: str
    input_path: str
    output_path: str


# (the items sharing one source file, lead first) -> the encodes they still need
Planner = Callable[[list[ProcessingItem]], list[PlannedJob]]


def _job_key(lead: int, profile: str, attempt: int) -> str:
    return f"item{lead}-{profile[:40]}-a{attempt}-{secrets.token_hex(3)}"


def claim_encodes(owner: str, now: datetime, limit: int, plan: Planner) -> tuple[list[EncodeJob], list[int]]:
    """Claim DOWNLOADED items (with the other items of their source file) and create their jobs, in one
    transaction; returns the new jobs and the claimed items that need none (every profile already encoded)."""
    with write_transaction():
        claimed = claim_items(S.DOWNLOADED, Event.START_ENCODE, now, limit, owner=owner)
        if not claimed:
            return [], []
        items = _with_siblings(claimed, owner, now)
        jobs: list[EncodeJob] = []
        nothing_to_do: list[int] = []
        for group in _by_source(items):
            planned = plan(group)
            if not planned:
                nothing_to_do.extend(i.id for i in group)
            for p in planned:
                jobs.append(EncodeJob.create(
                    job_key=_job_key(group[0].id, p.profile, group[0].attempts), items=[i.id for i in group],
                    profile=p.profile, input_path=p.input_path, output_path=p.output_path, owner=owner,
                    attempt=group[0].attempts, state="queued", heartbeat_at=now, created_at=now, updated_at=now))
    return jobs, nothing_to_do


def _with_siblings(claimed: Sequence[int], owner: str, now: datetime) -> list[ProcessingItem]:
    """The claimed items plus the DOWNLOADED items sharing a source file with them (claimed too)."""
    items = list(ProcessingItem.select().where(ProcessingItem.id.in_(list(claimed))))
    sources = {i.source_file_path for i in items if i.source_file_path}
    if sources:
        siblings = ProcessingItem.select().where(ProcessingItem.source_file_path.in_(list(sources))
                                                 & (ProcessingItem.status == S.DOWNLOADED))
        for sib in list(siblings):
            if apply_transition(sib.id, S.DOWNLOADED, Event.START_ENCODE, now, attempts=sib.attempts,
                                fields={"claimed_by": owner}):
                items.append(ProcessingItem.get_by_id(sib.id))
    return sorted(items, key=lambda i: (i.season, i.episode, i.id))


def _by_source(items: list[ProcessingItem]) -> list[list[ProcessingItem]]:
    groups: dict[str, list[ProcessingItem]] = defaultdict(list)
    for item in items:
        groups[item.source_file_path or f"item:{item.id}"].append(item)
    return list(groups.values())


def open_jobs(owner: str) -> list[EncodeJob]:
    return list(EncodeJob.select().where((EncodeJob.owner == owner) & EncodeJob.state.in_(OPEN))
                .order_by(EncodeJob.id))


def job_by_key(key: str) -> EncodeJob | None:
    return EncodeJob.get_or_none(EncodeJob.job_key == key)


def owned_open_job(key: str, owner: str) -> EncodeJob | None:
    """The job, if it is still open and held by ``owner``."""
    return EncodeJob.get_or_none((EncodeJob.job_key == key) & (EncodeJob.owner == owner) & EncodeJob.state.in_(OPEN))


def beat_encodes(owner: str, now: datetime) -> None:
    """The dispatcher is alive and its jobs are being worked on (or waiting for an agent): beat them and their
    items."""
    jobs = open_jobs(owner)
    EncodeJob.update(heartbeat_at=now).where((EncodeJob.owner == owner) & EncodeJob.state.in_(OPEN)).execute()
    item_ids = {int(i) for job in jobs for i in job.items}
    if item_ids:
        ProcessingItem.update(heartbeat_at=now).where(
            ProcessingItem.id.in_(list(item_ids)) & (ProcessingItem.claimed_by == owner)
            & (ProcessingItem.status == S.ENCODING)).execute()


def job_assigned(key: str, agent: str | None, detail: str) -> list[int]:
    """A job went to an agent (running) or waits for one (queued); the items say so. Returns its items."""
    job = job_by_key(key)
    if job is None:
        return []
    EncodeJob.update(agent=agent, state="running" if agent else "queued").where(
        (EncodeJob.id == job.id) & EncodeJob.state.in_(OPEN)).execute()
    items = [int(i) for i in job.items]
    ProcessingItem.update(detail=detail).where(
        ProcessingItem.id.in_(items) & (ProcessingItem.status == S.ENCODING)).execute()
    return items


def job_progress(key: str, percent: float, now: datetime) -> None:
    """The progress checkpoint of a running job (and its heartbeat)."""
    EncodeJob.update(percent=percent, heartbeat_at=now, updated_at=now).where(
        (EncodeJob.job_key == key) & EncodeJob.state.in_(OPEN)).execute()


def job_done(key: str, output_path: str, agent: str, owner: str, now: datetime) -> list[int]:
    """One profile's encode is done: its items record the file; each item whose jobs are all done moves to
    ENCODED, in the same transaction (no moment shows it ENCODING without a job). Returns the items moved."""
    with write_transaction():
        job = job_by_key(key)
        if job is None or job.state not in OPEN:
            return []
        EncodeJob.update(state="done", percent=100.0, updated_at=now).where(EncodeJob.id == job.id).execute()
        moved = []
        for item_id in (int(i) for i in job.items):
            if _record_encoded_file(item_id, job.profile, output_path, agent) and not _open_jobs_of(item_id):
                if apply_transition(item_id, S.ENCODING, Event.ENCODE_COMPLETE, now, held_by=owner):
                    moved.append(item_id)
    return moved


def _record_encoded_file(item_id: int, profile: str, output_path: str, agent: str) -> bool:
    item = ProcessingItem.get_or_none((ProcessingItem.id == item_id) & (ProcessingItem.status == S.ENCODING))
    if item is None:
        return False
    files = {**(item.encoded_files or {}), profile: output_path}
    ProcessingItem.update(encoded_files=files, encoded_file_path=output_path, detail=f"encoded on {agent}").where(
        ProcessingItem.id == item_id).execute()
    return True


def _covering(item_ids: Sequence[int]) -> pw.Node:
    """Jobs whose item list holds one of these ids, searched by the database in the JSON list (decoding every
    open job's list in Python for each released item made a release of thousands of claims quadratic)."""
    db = database_proxy.obj
    marks = ", ".join([db.param] * len(item_ids))
    if is_postgres(db):
        return pw.SQL(f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(CAST(items AS jsonb)) AS e(v) "
                      f"WHERE e.v IN ({marks}))", [str(i) for i in item_ids])
    return pw.SQL(f"EXISTS (SELECT 1 FROM json_each(items) WHERE CAST(value AS INTEGER) IN ({marks}))",
                  [int(i) for i in item_ids])


def _open_jobs_of(item_id: int) -> list[EncodeJob]:
    return list(EncodeJob.select().where(EncodeJob.state.in_(OPEN) & _covering([item_id])))


def complete_without_jobs(item_ids: Sequence[int], owner: str, now: datetime) -> list[int]:
    """Claimed items whose every profile was encoded by an earlier attempt: ENCODED at once."""
    return [i for i in item_ids if apply_transition(i, S.ENCODING, Event.ENCODE_COMPLETE, now, held_by=owner)]


def job_failed(key: str, error: str, retriable: bool, owner: str, now: datetime, policy: RetryPolicy
               ) -> tuple[list[str], dict[int, str]]:
    """A job failed: it and its items' other open jobs close (returned, to cancel at the hub); each item is
    requeued per the encode stage's retry policy or FAILED. Returns (jobs to cancel, item -> outcome)."""
    with write_transaction():
        job = job_by_key(key)
        if job is None or job.state not in OPEN:
            return [], {}
        EncodeJob.update(state="failed", updated_at=now).where(EncodeJob.id == job.id).execute()
        others = [j for i in job.items for j in _open_jobs_of(int(i))]
        for other in others:
            EncodeJob.update(state="abandoned", updated_at=now).where(EncodeJob.id == other.id).execute()
        outcomes = {int(i): _requeue_or_fail(int(i), error, retriable, owner, now, policy) for i in job.items}
    return sorted({o.job_key for o in others}), outcomes


def _requeue_or_fail(item_id: int, error: str, retriable: bool, owner: str, now: datetime,
                     policy: RetryPolicy) -> str:
    item = get_item(item_id)
    tail = error[-2000:]
    retry_at = policy.retry_at(item.attempts, now) if retriable and not policy.exhausted(item.attempts) else None
    if retry_at is not None:
        ok = apply_transition(item_id, S.ENCODING, Event.ENCODE_REQUEUE, now, error=tail, retry_at=retry_at,
                              attempts=item.attempts, held_by=owner)
        return "requeued" if ok else "moved meanwhile"
    ok = apply_transition(item_id, S.ENCODING, Event.FAIL, now, attempts=item.attempts, held_by=owner,
                          error=f"encode failed after {item.attempts + 1} attempt(s): {tail}")
    return "failed" if ok else "moved meanwhile"


def abandon_jobs_of(item_id: int, now: datetime) -> list[str]:
    """The item's claim was released: its open jobs are abandoned (an agent still running one is told to stop
    when it next reports it). Returns their keys."""
    jobs = _open_jobs_of(item_id)
    for job in jobs:
        EncodeJob.update(state="abandoned", updated_at=now).where(EncodeJob.id == job.id).execute()
    return [j.job_key for j in jobs]


def jobs_of_items(item_ids: Sequence[int]) -> list[EncodeJob]:
    """Every job that covered one of these items (newest first), for views and tests."""
    if not item_ids:
        return []
    return list(EncodeJob.select().where(_covering(item_ids)).order_by(EncodeJob.id.desc()))
