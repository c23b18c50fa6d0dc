from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.pipeline import (
    ACTIVE,
    TERMINAL,
    Event,
    ProcessingStatus as S,
    RequestStatus as R,
    allowed_events,
    counted_status,
    next_status,
    request_progress,
    request_status,
    resume_event,
    transition,
    upgrading_event,
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


def test_terminal_states_refuse_every_event_but_an_upgrade_of_a_completed_item():
    for status in TERMINAL:
        for ev in Event:
            if (status, ev) == (S.COMPLETED, Event.UPGRADE):
                continue
            with pytest.raises(TransitionError):
                next_status(status, ev)
    assert allowed_events(S.COMPLETED) == {Event.UPGRADE}


def test_an_upgrade_keeps_the_delivery_time_and_a_failed_one_returns_to_completed_keeping_it_too():
    t = transition(S.COMPLETED, Event.UPGRADE, NOW)
    assert t.to_status is S.FOUND and "delivered_at" not in t.updates and t.updates["attempts"] == 0
    for status in (S.FOUND, S.DOWNLOADING, S.DOWNLOADED, S.ENCODING, S.ENCODED, S.DELIVERING):
        back = transition(status, Event.UPGRADE_FAILED, NOW, error="stalled")
        assert back.to_status is S.COMPLETED and back.updates["last_error"] == "stalled"
        assert "delivered_at" not in back.updates and back.updates["claimed_by"] is None
    # The store swaps FAIL for UPGRADE_FAILED on an upgrading item: never FAILED.
    assert upgrading_event(Event.FAIL, True) is Event.UPGRADE_FAILED
    assert upgrading_event(Event.FAIL, False) is Event.FAIL
    assert upgrading_event(Event.CANCEL, True) is Event.CANCEL


def test_an_upgrading_item_counts_as_available_in_its_request():
    items = [counted_status(S.DOWNLOADING, True), counted_status(S.COMPLETED, False)]
    assert request_status(items) is R.COMPLETED
    assert request_status([counted_status(S.DOWNLOADING, False), S.COMPLETED]) is R.DOWNLOADING
    assert counted_status(S.CANCELLED, True) is S.CANCELLED


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
        assert status not in TERMINAL or (status, ev) == (S.COMPLETED, Event.UPGRADE)
        t = transition(status, ev, NOW, attempts=attempts)
        assert t.from_status is status and t.to_status in S
        assert t.updates["status"] is t.to_status
        status, attempts = t.to_status, t.updates.get("attempts", attempts)
        assert attempts >= 0


@given(st.sampled_from(sorted(ACTIVE)))
def test_every_active_status_can_fail_and_cancel(status):
    assert next_status(status, Event.FAIL) is S.FAILED
    assert next_status(status, Event.CANCEL) is S.CANCELLED


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


def test_claims_start_a_heartbeat_and_leaving_them_clears_the_owner():
    claimed = transition(S.DOWNLOADED, Event.START_ENCODE, NOW)
    assert claimed.updates["heartbeat_at"] == NOW and "claimed_by" not in claimed.updates
    released = transition(S.ENCODING, Event.RELEASE_CLAIM, NOW)
    assert released.to_status is S.DOWNLOADED
    assert released.updates["claimed_by"] is None and released.updates["heartbeat_at"] is None


def test_failed_records_its_stage_and_a_retry_clears_it():
    failed = transition(S.ENCODING, Event.FAIL, NOW, error="ffmpeg died")
    assert failed.updates["failed_stage"] == "encode"
    assert transition(S.FOUND, Event.FAIL, NOW).updates["failed_stage"] == "download"
    resumed = transition(S.FAILED, Event.RESUME_ENCODE, NOW, attempts=9)
    assert resumed.to_status is S.DOWNLOADED and resumed.updates["failed_stage"] is None
    assert resumed.updates["attempts"] == 0


@pytest.mark.parametrize("stage, source, encoded, from_search, expected", [
    ("deliver", True, True, False, Event.RESUME_DELIVERY),
    ("deliver", True, False, False, Event.RESUME_ENCODE),
    ("deliver", False, False, False, Event.RETRY),
    ("encode", True, True, False, Event.RESUME_ENCODE),
    ("encode", False, False, False, Event.RETRY),
    ("download", True, True, False, Event.RETRY),
    ("search", True, True, False, Event.RETRY),
    (None, True, True, False, Event.RETRY),
    ("encode", True, True, True, Event.RETRY),
])
def test_a_retry_resumes_where_the_item_failed_when_its_inputs_exist(stage, source, encoded, from_search, expected):
    event = resume_event(stage, source_exists=source, encoded_exists=encoded, from_search=from_search)
    assert event is expected
    assert next_status(S.FAILED, event) is {Event.RETRY: S.PENDING, Event.RESUME_ENCODE: S.DOWNLOADED,
                                             Event.RESUME_DELIVERY: S.ENCODED}[event]


def test_downloading_without_a_download_goes_back_to_its_release():
    assert next_status(S.DOWNLOADING, Event.RELEASE_CLAIM) is S.FOUND
    retry = transition(S.FOUND, Event.GRAB_RETRY, NOW, attempts=1, retry_at=NOW + timedelta(minutes=5))
    assert retry.to_status is S.FOUND and retry.updates["attempts"] == 2
    assert retry.updates["next_retry_at"] == NOW + timedelta(minutes=5)
