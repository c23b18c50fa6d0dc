"""Pipeline states and the one transition table (pure: no pykka, no peewee, no network).

Every status write in annexd goes through :func:`transition`, and the store applies the result as a
compare-and-set against the status the caller expected, so two workers (or two daemons) can never move one
item twice.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from annexd.errors import TransitionError


class ProcessingStatus(enum.StrEnum):
    # Requested by a user without auto-approve for its type: no stage touches it until an admin approves it.
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PENDING = "PENDING"
    SEARCHING = "SEARCHING"
    AWAITING = "AWAITING"
    QUALITY_UNAVAILABLE = "QUALITY_UNAVAILABLE"
    FOUND = "FOUND"
    DOWNLOADING = "DOWNLOADING"
    DOWNLOADED = "DOWNLOADED"
    ENCODING = "ENCODING"
    ENCODED = "ENCODED"
    DELIVERING = "DELIVERING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


S = ProcessingStatus
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED})
# FAILED is not terminal: a person may retry it (or cancel it).
ACTIVE = frozenset(set(S) - TERMINAL - {S.FAILED})
# The statuses whose items report progress (download, encode and delivery percentages).
PROGRESS_STATUSES = frozenset({S.DOWNLOADING, S.ENCODING, S.DELIVERING})
# Claims: a worker incarnation is working on the item right now (its owner is recorded, it beats). DOWNLOADING is
# not one: the item's Download row (the torrent in the client) is what carries it.
CLAIM_STATUSES = frozenset({S.SEARCHING, S.ENCODING, S.DELIVERING})


class Event(enum.StrEnum):
    APPROVE = "approve"
    START_SEARCH = "start_search"
    FOUND = "found"
    NOT_AIRED = "not_aired"
    NOTHING_FOUND = "nothing_found"
    SEARCH_ERROR = "search_error"
    BELOW_PROFILE = "below_profile"
    ACCEPT_RELEASE = "accept_release"
    FEED_MATCH = "feed_match"
    RETRY_DUE = "retry_due"
    GRAB = "grab"
    GRAB_RETRY = "grab_retry"
    DOWNLOAD_RETRY = "download_retry"
    DOWNLOAD_COMPLETE = "download_complete"
    START_ENCODE = "start_encode"
    ENCODE_REQUEUE = "encode_requeue"
    ENCODE_COMPLETE = "encode_complete"
    START_DELIVERY = "start_delivery"
    DELIVERY_RETRY = "delivery_retry"
    DELIVERED = "delivered"
    RELEASE_CLAIM = "release_claim"
    FAIL = "fail"
    RETRY = "retry"
    RESUME_ENCODE = "resume_encode"
    RESUME_DELIVERY = "resume_delivery"
    CANCEL = "cancel"
    # Upgrades until cutoff: a better release for a COMPLETED item, and its failure (back to COMPLETED).
    UPGRADE = "upgrade"
    UPGRADE_FAILED = "upgrade_failed"


E = Event

# (event, from-status) -> to-status. FAIL and CANCEL are handled generically below.
_TABLE: dict[tuple[Event, ProcessingStatus], ProcessingStatus] = {
    # An admin approves (declining is CANCEL, with the reason as the error).
    (E.APPROVE, S.PENDING_APPROVAL): S.PENDING,
    (E.START_SEARCH, S.PENDING): S.SEARCHING,
    (E.FOUND, S.SEARCHING): S.FOUND,
    (E.NOT_AIRED, S.PENDING): S.AWAITING,
    (E.NOT_AIRED, S.SEARCHING): S.AWAITING,
    (E.NOTHING_FOUND, S.SEARCHING): S.AWAITING,
    (E.SEARCH_ERROR, S.SEARCHING): S.AWAITING,
    (E.BELOW_PROFILE, S.SEARCHING): S.QUALITY_UNAVAILABLE,
    (E.ACCEPT_RELEASE, S.QUALITY_UNAVAILABLE): S.FOUND,
    (E.ACCEPT_RELEASE, S.AWAITING): S.FOUND,
    # A release from a feed (RSS, an indexer's recent releases) that a waiting item wants.
    (E.FEED_MATCH, S.AWAITING): S.FOUND,
    (E.FEED_MATCH, S.QUALITY_UNAVAILABLE): S.FOUND,
    (E.RETRY_DUE, S.AWAITING): S.PENDING,
    (E.RETRY_DUE, S.QUALITY_UNAVAILABLE): S.PENDING,
    (E.GRAB, S.FOUND): S.DOWNLOADING,
    # The torrent could not be fetched this time (or its release was refused): wait, or take the next release.
    (E.GRAB_RETRY, S.FOUND): S.FOUND,
    (E.DOWNLOAD_RETRY, S.DOWNLOADING): S.FOUND,
    (E.DOWNLOAD_COMPLETE, S.DOWNLOADING): S.DOWNLOADED,
    (E.START_ENCODE, S.DOWNLOADED): S.ENCODING,
    (E.ENCODE_REQUEUE, S.ENCODING): S.DOWNLOADED,
    (E.ENCODE_COMPLETE, S.ENCODING): S.ENCODED,
    (E.START_DELIVERY, S.ENCODED): S.DELIVERING,
    (E.DELIVERY_RETRY, S.DELIVERING): S.ENCODED,
    (E.DELIVERED, S.DELIVERING): S.COMPLETED,
    # A claim left behind by a crashed worker goes back to where it was claimed from.
    (E.RELEASE_CLAIM, S.SEARCHING): S.PENDING,
    (E.RELEASE_CLAIM, S.ENCODING): S.DOWNLOADED,
    (E.RELEASE_CLAIM, S.DELIVERING): S.ENCODED,
    # DOWNLOADING without a usable Download (a grab that never got its torrent row): back to its release.
    (E.RELEASE_CLAIM, S.DOWNLOADING): S.FOUND,
    # A person retries a FAILED item: from the start, or where it failed when that stage's inputs still exist.
    (E.RETRY, S.FAILED): S.PENDING,
    (E.RESUME_ENCODE, S.FAILED): S.DOWNLOADED,
    (E.RESUME_DELIVERY, S.FAILED): S.ENCODED,
    # A better release for a delivered item (below its profile's cutoff, or a proper/repack per the profile's
    # policy): its files stay delivered until the new ones replace them, and it counts as available meanwhile.
    (E.UPGRADE, S.COMPLETED): S.FOUND,
}
# A failed upgrade goes back to COMPLETED, never FAILED: the delivered files are still there.
_UPGRADE_STAGES = (S.FOUND, S.DOWNLOADING, S.DOWNLOADED, S.ENCODING, S.ENCODED, S.DELIVERING)
_TABLE.update({(E.UPGRADE_FAILED, status): S.COMPLETED for status in _UPGRADE_STAGES})
RETRY_FROM_FAILED = frozenset({E.RETRY, E.RESUME_ENCODE, E.RESUME_DELIVERY})

# The stage an item is in decides which attempt counter applies; moving to another stage resets it.
STAGE_OF: dict[ProcessingStatus, str] = {
    S.PENDING_APPROVAL: "approval",
    S.PENDING: "search", S.SEARCHING: "search", S.AWAITING: "search", S.QUALITY_UNAVAILABLE: "search",
    S.FOUND: "download", S.DOWNLOADING: "download",
    S.DOWNLOADED: "encode", S.ENCODING: "encode",
    S.ENCODED: "deliver", S.DELIVERING: "deliver",
    S.COMPLETED: "done", S.FAILED: "done", S.CANCELLED: "done",
}

# Events that mean "this stage did not work this time": they count an attempt and schedule a retry.
RETRY_EVENTS = frozenset({E.NOTHING_FOUND, E.SEARCH_ERROR, E.GRAB_RETRY, E.DOWNLOAD_RETRY, E.ENCODE_REQUEUE,
                          E.DELIVERY_RETRY})
_TIMESTAMP_ON_ENTRY = {S.DOWNLOADED: "downloaded_at", S.ENCODED: "encoded_at", S.COMPLETED: "delivered_at"}


@dataclass(frozen=True)
class Transition:
    """The result of applying an event: the new status and the field updates that go with it."""

    from_status: ProcessingStatus
    to_status: ProcessingStatus
    updates: dict[str, Any] = field(default_factory=dict)


def next_status(current: ProcessingStatus, event: Event) -> ProcessingStatus:
    """The status ``event`` moves ``current`` to; raises TransitionError when the table forbids it."""
    if current in TERMINAL and (event, current) not in _TABLE:
        raise TransitionError(f"{current} is terminal; {event} is not allowed")
    if event is E.CANCEL:
        return S.CANCELLED
    if event is E.FAIL:
        if current is S.FAILED:
            raise TransitionError("item already FAILED")
        return S.FAILED
    try:
        return _TABLE[(event, current)]
    except KeyError:
        raise TransitionError(f"{event} is not allowed from {current}") from None


def transition(
    current: ProcessingStatus,
    event: Event,
    now: datetime,
    *,
    attempts: int = 0,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> Transition:
    """Apply ``event`` to an item in ``current`` status at ``now``; pure.

    ``attempts`` is the item's attempt count in its current stage. A retry event counts one more attempt;
    entering another stage resets it. ``error`` becomes ``last_error`` (cleared on success). Leaving a claim
    clears its owner; entering one starts its heartbeat (the caller names the owner). FAILED records the stage
    it failed in, where a person's retry resumes.
    """
    to = next_status(current, event)
    updates: dict[str, Any] = {"status": to, "status_changed_at": now}
    if event in RETRY_EVENTS:
        updates["attempts"] = attempts + 1
    elif STAGE_OF[to] != STAGE_OF[current] or event in RETRY_FROM_FAILED:
        updates["attempts"] = 0
    updates["last_error"] = error
    updates["next_retry_at"] = retry_at if to in (S.AWAITING, S.QUALITY_UNAVAILABLE) or event in RETRY_EVENTS else None
    if to in _TIMESTAMP_ON_ENTRY and event is not E.UPGRADE_FAILED:  # the old files' delivery time stays
        updates[_TIMESTAMP_ON_ENTRY[to]] = now
    if STAGE_OF[to] != STAGE_OF[current]:
        updates["progress"] = 100.0 if to is S.COMPLETED else 0.0
    updates.update(_claim_fields(current, to, now))
    if to is S.FAILED:
        updates["failed_stage"] = STAGE_OF[current] if current is not S.FAILED else None
    elif current is S.FAILED:
        updates["failed_stage"] = None
    return Transition(current, to, updates)


def _claim_fields(current: ProcessingStatus, to: ProcessingStatus, now: datetime) -> dict[str, Any]:
    if to not in CLAIM_STATUSES:
        return {"claimed_by": None, "heartbeat_at": None}
    return {"heartbeat_at": now} if current is not to else {}


# Where a person's retry of a FAILED item resumes, by the event that moves it there.
RESUMED_AT: dict[Event, str] = {E.RETRY: "search", E.RESUME_ENCODE: "encode", E.RESUME_DELIVERY: "deliver"}


def resume_event(failed_stage: str | None, *, source_exists: bool, encoded_exists: bool,
                 from_search: bool = False) -> Event:
    """How a FAILED item is retried: where it failed, when that stage's inputs still exist (an encoded file:
    deliver again; a source file: encode again), else from the search. ``from_search`` starts over."""
    if from_search or failed_stage not in ("encode", "deliver"):
        return E.RETRY
    if failed_stage == "deliver" and encoded_exists:
        return E.RESUME_DELIVERY
    return E.RESUME_ENCODE if source_exists else E.RETRY


def upgrading_event(event: Event, upgrading: bool) -> Event:
    """The event that applies to an item that is (or is not) upgrading: failing an upgrade returns the item to
    COMPLETED with its delivered files (UPGRADE_FAILED), never FAILED."""
    return E.UPGRADE_FAILED if upgrading and event is E.FAIL else event


def allowed_events(current: ProcessingStatus) -> set[Event]:
    """Every event that is legal from ``current`` (for the API and for property tests)."""
    events = {ev for (ev, frm) in _TABLE if frm is current}
    if current not in TERMINAL:
        events.add(E.CANCEL)
        if current is not S.FAILED:
            events.add(E.FAIL)
    return events


class RequestStatus(enum.StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PENDING = "PENDING"
    SEARCHING = "SEARCHING"
    AWAITING = "AWAITING"
    QUALITY_UNAVAILABLE = "QUALITY_UNAVAILABLE"
    FOUND = "FOUND"
    DOWNLOADING = "DOWNLOADING"
    DOWNLOADED = "DOWNLOADED"
    ENCODING = "ENCODING"
    ENCODED = "ENCODED"
    DELIVERING = "DELIVERING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EMPTY = "EMPTY"


# The most advanced activity wins: a request with one item downloading "is downloading". Items waiting for an
# admin come last: a request is PENDING_APPROVAL only while nothing else of it is under way (a later season
# awaiting approval does not hide the one downloading); with the rest finished, it is PENDING_APPROVAL.
_ACTIVE_ORDER = (
    S.DOWNLOADING, S.DOWNLOADED, S.ENCODING, S.ENCODED, S.DELIVERING, S.QUALITY_UNAVAILABLE,
    S.FOUND, S.SEARCHING, S.PENDING, S.AWAITING, S.PENDING_APPROVAL,
)


def counted_status(status: ProcessingStatus, upgrading: bool) -> ProcessingStatus:
    """The status an item counts with in its request's status: an upgrading item keeps its delivered files, so
    it counts as COMPLETED (available) until the upgrade lands or fails."""
    return S.COMPLETED if upgrading and S(status) is not S.CANCELLED else S(status)


def request_status(statuses: Iterable[ProcessingStatus]) -> RequestStatus:
    """A request's status, computed from its items' statuses (never stored); an upgrading item counts as
    COMPLETED (pass :func:`counted_status`)."""
    all_items = [S(s) for s in statuses]
    if not all_items:
        return RequestStatus.EMPTY
    live = [s for s in all_items if s is not S.CANCELLED]
    if not live:
        return RequestStatus.CANCELLED
    present = set(live)
    if present == {S.COMPLETED}:
        return RequestStatus.COMPLETED
    if present == {S.FAILED}:
        return RequestStatus.FAILED
    if present == {S.FAILED, S.COMPLETED}:
        return RequestStatus.PARTIAL
    for status in _ACTIVE_ORDER:
        if status in present:
            return RequestStatus(status.value)
    raise AssertionError(f"unreachable: {present}")  # pragma: no cover


def request_progress(progresses: Iterable[float]) -> float:
    values = list(progresses)
    return round(sum(values) / len(values), 2) if values else 0.0
