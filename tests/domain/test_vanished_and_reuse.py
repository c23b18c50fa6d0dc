"""Torrents removed from the client by hand, and reusing a Download row (annexd.domain.download_states, pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from annexd.domain.download_states import (
    AbsenceTracker,
    DownloadPhase as P,
    ReuseAction as R,
    VanishedOutcome,
    reuse_action,
    vanished_outcome,
    vanished_reason,
)

H = "a" * 40


def test_one_poll_without_the_torrent_is_no_proof() -> None:
    tracker = AbsenceTracker(grace_seconds=30.0, min_polls=2)
    assert not tracker.missing(H, 0.0)
    assert not tracker.missing(H, 10.0)  # two polls, but not yet 30 s
    assert tracker.missing(H, 30.0)


def test_the_torrent_coming_back_resets_the_clock() -> None:
    tracker = AbsenceTracker(grace_seconds=30.0, min_polls=2)
    tracker.missing(H, 0.0)
    tracker.missing(H, 20.0)
    tracker.present(H)
    assert not tracker.missing(H, 40.0) and not tracker.missing(H, 60.0)
    assert tracker.missing(H, 70.0)


def test_no_grace_still_needs_two_polls() -> None:
    tracker = AbsenceTracker(grace_seconds=0.0)
    assert not tracker.missing(H, 5.0)
    assert tracker.missing(H, 5.0)


@given(st.lists(st.tuples(st.floats(min_value=0.0, max_value=100.0), st.booleans()), max_size=40))
def test_gone_only_after_enough_polls_and_time_in_a_row(polls: list[tuple[float, bool]]) -> None:
    tracker = AbsenceTracker(grace_seconds=50.0, min_polls=2)
    now, since, count = 0.0, None, 0
    for dt, present in polls:
        now += dt
        if present:
            tracker.present(H)
            since, count = None, 0
            continue
        since = now if since is None else since
        count += 1
        assert tracker.missing(H, now) == (count >= 2 and now - since >= 50.0)


def test_the_same_release_once_then_the_next() -> None:
    assert vanished_outcome(1) is VanishedOutcome.REGRAB
    assert vanished_outcome(2) is VanishedOutcome.NEXT_RELEASE
    assert vanished_outcome(7) is VanishedOutcome.NEXT_RELEASE
    assert "again" in vanished_reason(VanishedOutcome.REGRAB, "qbt") and "qbt" in vanished_reason(
        VanishedOutcome.NEXT_RELEASE, "qbt")


@pytest.mark.parametrize(("phase", "in_client", "action"), [
    (P.ADDING, None, R.ATTACH), (P.DOWNLOADING, None, R.ATTACH), (P.COMPLETED, None, R.ATTACH),
    (P.MAPPED, True, R.REMAP), (P.MAPPED, None, R.REMAP), (P.MAPPED, False, R.READD),
    (P.REMOVED, None, R.READD), (P.FAILED, True, R.READD),
])
def test_a_row_that_will_not_change_is_revived(phase: P, in_client: bool | None, action: R) -> None:
    assert reuse_action(phase, in_client) is action
