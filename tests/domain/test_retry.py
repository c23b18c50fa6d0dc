"""The one retry policy: bounded exponential backoff with jitter, per-stage parameters, and failures classified
by exception type."""

import random
from datetime import datetime, timedelta

from hypothesis import given, settings, strategies as st

from annexd.clients.delivery_transport import DestinationConflictError
from annexd.domain.retry import DELIVER, Failure, RetryPolicy, classify
from annexd.encoder.ffmpeg import EncodeError
from annexd.errors import InvalidInputError, ProviderAuthError, ProviderError, UnsafePathError

NOW = datetime(2026, 1, 1, 12, 0)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_bounded_and_grows(attempt, seed):
    policy = RetryPolicy(base_seconds=1.0, factor=2.0, cap_seconds=300.0, jitter=0.1)
    d = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= d <= 300.0
    if attempt < 5:
        assert 0.9 * 2**attempt <= d <= 1.1 * 2**attempt


def test_a_stage_gives_up_after_its_attempts_and_at_once_on_a_permanent_failure():
    policy = RetryPolicy(base_seconds=60, factor=2, cap_seconds=600, jitter=0.0, max_attempts=3)
    assert policy.decide(0, Failure.TRANSIENT, NOW) == NOW + timedelta(seconds=60)
    assert policy.decide(1, Failure.TRANSIENT, NOW) == NOW + timedelta(seconds=120)
    assert policy.decide(2, Failure.TRANSIENT, NOW) is None  # the third attempt was the last
    assert policy.decide(0, Failure.PERMANENT, NOW) is None
    unlimited = RetryPolicy(base_seconds=1, cap_seconds=10, jitter=0.0, max_attempts=0)
    assert unlimited.decide(10_000, Failure.TRANSIENT, NOW) == NOW + timedelta(seconds=10)


def test_failures_are_classified_by_type_never_by_message():
    assert classify(DestinationConflictError("nas", "/x")) is Failure.PERMANENT
    assert classify(ProviderError("target:nas", "a different file already exists")) is Failure.TRANSIENT
    assert classify(UnsafePathError("outside the root")) is Failure.PERMANENT
    assert classify(InvalidInputError("not a torrent")) is Failure.PERMANENT
    assert classify(ProviderAuthError("qbittorrent", "refused")) is Failure.PERMANENT
    assert classify(ProviderError("indexer", "timed out")) is Failure.TRANSIENT
    assert classify(EncodeError("bad source", retriable=False)) is Failure.PERMANENT
    assert classify(EncodeError("agent lost", retriable=True)) is Failure.TRANSIENT
    assert classify(OSError("connection reset")) is Failure.TRANSIENT


def test_bad_parameters_are_reported():
    assert RetryPolicy().problems() == [] and DELIVER.problems() == []
    assert len(RetryPolicy(base_seconds=10, cap_seconds=5, factor=0.5, jitter=1.5, max_attempts=-1,
                           stall_seconds=0).problems()) == 5
