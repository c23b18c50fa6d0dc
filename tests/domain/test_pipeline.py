import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.pipeline import (
    ACTIVE,
    TERMINAL,
    Backoff,
    Event,
    ProcessingStatus as S,
    RequestStatus as R,
    allowed_events,
    next_status,
    request_progress,
    request_status,
    transition,
)
from annexd.errors import TransitionError

NOW = datetime(2026, 1, 1, 12, 0, 0)


def test_happy_path_reaches_completed_with_timestamps():
    path = [Event.START_SEARCH, Event.FOUND, Event.GRAB, Event.DOWNLOAD_COMPLETE, Event.START_ENCODE,
            Event.ENCODE_COMPLETE, Event.START_DELIVERY, Event.DELIVERED]
    status, stamps = S.PENDING, {}
    for i, ev in enumerate(path):
        t = transition(status, ev, NOW + timedelta(minutes=i))
        status = t.to_status
        stamps.update({k: v for k, v in t.updates.items() if k in ("downloaded_at", "encoded_at", "delivered_at")})
    assert status is S.COMPLETED
    assert set(stamps) == {"downloaded_at", "encoded_at", "delivered_at"}
    assert stamps["downloaded_at"] < stamps["encoded_at"] < stamps["delivered_at"]


def test_terminal_states_refuse_every_event():
    for status in TERMINAL:
        for ev in Event:
            with pytest.raises(TransitionError):
                next_status(status, ev)


def test_illegal_jump_is_refused():
    with pytest.raises(TransitionError, match="not allowed from PENDING"):
        next_status(S.PENDING, Event.DOWNLOAD_COMPLETE)


def test_retry_event_counts_attempts_and_keeps_error_and_retry_time():
    retry_at = NOW + timedelta(hours=6)
    t = transition(S.SEARCHING, Event.NOTHING_FOUND, NOW, attempts=2, error="no results", retry_at=retry_at)
    assert t.to_status is S.AWAITING
    assert t.updates["attempts"] == 3
    assert t.updates["last_error"] == "no results"
    assert t.updates["next_retry_at"] == retry_at


def test_attempts_reset_when_the_stage_changes():
    # Legacy Annex shared one counter across stages and never reset it.
    t = transition(S.DOWNLOADING, Event.DOWNLOAD_COMPLETE, NOW, attempts=2)
    assert t.updates["attempts"] == 0
    assert t.updates["last_error"] is None and t.updates["next_retry_at"] is None


def test_failed_items_can_be_retried_or_cancelled_but_not_failed_again():
    assert next_status(S.FAILED, Event.RETRY) is S.PENDING
    assert next_status(S.FAILED, Event.CANCEL) is S.CANCELLED
    with pytest.raises(TransitionError):
        next_status(S.FAILED, Event.FAIL)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Event)), max_size=40))
def test_no_event_sequence_reaches_an_illegal_state_or_moves_a_terminal_item(events):
    status, attempts = S.PENDING, 0
    for ev in events:
        legal = ev in allowed_events(status)
        if not legal:
            with pytest.raises(TransitionError):
                transition(status, ev, NOW, attempts=attempts)
            continue
        assert status not in TERMINAL
        t = transition(status, ev, NOW, attempts=attempts)
        assert t.from_status is status and t.to_status in S
        assert t.updates["status"] is t.to_status
        status, attempts = t.to_status, t.updates.get("attempts", attempts)
        assert attempts >= 0


@given(st.sampled_from(sorted(ACTIVE)))
def test_every_active_status_can_fail_and_cancel(status):
    assert next_status(status, Event.FAIL) is S.FAILED
    assert next_status(status, Event.CANCEL) is S.CANCELLED


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_bounded_and_grows(attempt, seed):
    b = Backoff(base_seconds=1.0, factor=2.0, cap_seconds=300.0, jitter=0.1)
    d = b.delay(attempt, random.Random(seed))
    assert 0.0 <= d <= 300.0
    if attempt < 5:
        assert 0.9 * 2**attempt <= d <= 1.1 * 2**attempt


@pytest.mark.parametrize("statuses, expected", [
    ([], R.EMPTY),
    ([S.COMPLETED, S.COMPLETED], R.COMPLETED),
    ([S.FAILED], R.FAILED),
    ([S.CANCELLED, S.CANCELLED], R.CANCELLED),
    ([S.FAILED, S.COMPLETED], R.PARTIAL),
    ([S.COMPLETED, S.CANCELLED], R.COMPLETED),
    ([S.PENDING, S.DOWNLOADING, S.COMPLETED], R.DOWNLOADING),
    ([S.AWAITING, S.PENDING], R.PENDING),
    ([S.AWAITING], R.AWAITING),
    ([S.QUALITY_UNAVAILABLE, S.SEARCHING], R.QUALITY_UNAVAILABLE),
    ([S.ENCODING, S.DELIVERING, S.FAILED], R.ENCODING),
])
def test_request_status_is_computed_from_items(statuses, expected):
    assert request_status(statuses) is expected


@given(st.lists(st.sampled_from(list(S)), min_size=1, max_size=30))
def test_request_status_is_order_independent(statuses):
    assert request_status(statuses) is request_status(list(reversed(statuses)))


def test_request_progress_is_the_mean():
    assert request_progress([0, 50, 100]) == 50.0
    assert request_progress([]) == 0.0
