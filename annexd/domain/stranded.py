"""The one invariant of the pipeline, as a pure check (no pykka, no peewee, no network).

Every non-terminal item is either **waiting** (its status says for what, and when it is due is recorded) or
**owned by a live worker incarnation that is making progress**:

- PENDING, FOUND, DOWNLOADED, ENCODED wait for their stage's worker (due at ``next_retry_at``, else now);
  AWAITING and QUALITY_UNAVAILABLE wait for ``next_retry_at`` with the reason in ``last_error``; FAILED waits for
  a person.
- DOWNLOADING is carried by its Download row (the torrent in the client, polled every few seconds): it needs
  one that is still being added, downloaded or mapped.
- SEARCHING, ENCODING and DELIVERING are claims. The owner is ``<daemon instance>:<worker>:<start counter>``;
  the claim is live while that daemon beats, that incarnation of the worker is the one running, its heartbeat
  is newer than the stage's stall limit, and (ENCODING, DELIVERING) a job or transfer row carries it.

:func:`stranded` says why an item breaks the invariant and how it is repaired (the RecoveryWorker applies it,
the chaos test asserts it). The repairs return an item to its last safe state: a claim is released to where it
was claimed from, a DOWNLOADING item without a usable Download goes back to its release, a wait without a due
time becomes due now, a download mapped without the item's file is mapped again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import CLAIM_STATUSES, STAGE_OF, TERMINAL, ProcessingStatus as S

QUEUED = frozenset({S.PENDING, S.FOUND, S.DOWNLOADED, S.ENCODED})
WAITING_FOR_TIME = frozenset({S.AWAITING, S.QUALITY_UNAVAILABLE})
CARRYING_PHASES = frozenset({DownloadPhase.ADDING, DownloadPhase.DOWNLOADING, DownloadPhase.COMPLETED})
# The statuses the reconciler must look at (the others hold by construction).
CHECKED = CLAIM_STATUSES | {S.DOWNLOADING} | WAITING_FOR_TIME


class Repair(enum.StrEnum):
    RELEASE = "release"  # back to where it was claimed from (RELEASE_CLAIM)
    DUE_NOW = "due_now"  # a wait without a due time: due now (RETRY_DUE)
    REMAP = "remap"  # its Download was mapped without a file for it: map it again


@dataclass(frozen=True)
class Owner:
    instance: str
    worker: str
    start: int

    def __str__(self) -> str:
        return f"{self.instance}:{self.worker}:{self.start}"


def parse_owner(text: str | None) -> Owner | None:
    """``host:pid:tag:worker:counter`` (the instance id holds colons itself) -> Owner; None if malformed."""
    if not text:
        return None
    instance, _, rest = text.rpartition(":")
    instance, _, worker = instance.rpartition(":")
    if not instance or not worker or not rest.isdigit():
        return None
    return Owner(instance, worker, int(rest))


@dataclass(frozen=True)
class ItemState:
    """What the check needs to know about one item."""

    id: int
    status: S
    claimed_by: str | None = None
    heartbeat_at: datetime | None = None
    next_retry_at: datetime | None = None
    download_phase: DownloadPhase | None = None  # None: no Download row
    has_open_work: bool = False  # ENCODING: an open encode job covers it; DELIVERING: a pending transfer row


@dataclass(frozen=True)
class Liveness:
    """Who is alive, seen from one daemon at one moment."""

    this_instance: str
    live_instances: frozenset[str]  # daemons whose heartbeat is recent
    running: Mapping[str, int] = field(default_factory=dict)  # this daemon's running workers -> start counter
    stall_seconds: Mapping[str, float] = field(default_factory=dict)  # stage -> stall limit


@dataclass(frozen=True)
class Verdict:
    reason: str
    repair: Repair


def stranded(item: ItemState, now: datetime, live: Liveness) -> Verdict | None:
    """Why ``item`` breaks the invariant and how to repair it, or None when it holds."""
    if item.status in TERMINAL or item.status is S.FAILED or item.status in QUEUED:
        return None
    if item.status in WAITING_FOR_TIME:
        return None if item.next_retry_at is not None else Verdict(f"{item.status} without a due time",
                                                                   Repair.DUE_NOW)
    if item.status is S.DOWNLOADING:
        return _download_verdict(item)
    return _claim_verdict(item, now, live)


def _download_verdict(item: ItemState) -> Verdict | None:
    phase = item.download_phase
    if phase is None:
        return Verdict("DOWNLOADING without a Download", Repair.RELEASE)
    if phase in CARRYING_PHASES:
        return None
    if phase is DownloadPhase.MAPPED:
        return Verdict("its download was mapped without a file for it", Repair.REMAP)
    return Verdict(f"its download is {phase.value}", Repair.RELEASE)


def _claim_verdict(item: ItemState, now: datetime, live: Liveness) -> Verdict | None:
    owner = parse_owner(item.claimed_by)
    if owner is None:
        return Verdict(f"{item.status} claimed by nobody", Repair.RELEASE)
    if owner.instance not in live.live_instances:
        return Verdict(f"its daemon {owner.instance} stopped beating", Repair.RELEASE)
    if owner.instance == live.this_instance and live.running.get(owner.worker) != owner.start:
        return Verdict(f"held by {owner}, an incarnation of {owner.worker} that is no longer running", Repair.RELEASE)
    limit = live.stall_seconds.get(STAGE_OF[item.status], 900.0)
    silent = (now - item.heartbeat_at).total_seconds() if item.heartbeat_at is not None else None
    if silent is None or silent > limit:
        shown = "ever" if silent is None else f"{silent:.0f} s"
        return Verdict(f"no progress from {owner} for {shown} (stall limit {limit:.0f} s)", Repair.RELEASE)
    if item.status in (S.ENCODING, S.DELIVERING) and not item.has_open_work:
        what = "encode job" if item.status is S.ENCODING else "transfer"
        return Verdict(f"{item.status} without a live {what}", Repair.RELEASE)
    return None


def owner_is_live(owner_text: str | None, live: Liveness) -> bool:
    """Whether a job or transfer row's owner is a live incarnation (the check above, without the item)."""
    owner = parse_owner(owner_text)
    if owner is None or owner.instance not in live.live_instances:
        return False
    return owner.instance != live.this_instance or live.running.get(owner.worker) == owner.start
