from hypothesis import given, strategies as st

from annexd.domain.provider_health import LEVELS_SECONDS, ProviderBackoff, pause_seconds

START = 1_700_000_000.0
LATER = START + 3600  # well past the startup grace


def test_levels_escalate_and_cap_at_24h():
    b = ProviderBackoff(START)
    pauses = [b.record_failure(LATER) for _ in range(10)]
    assert pauses == [300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 86400, 86400]
    assert b.level == len(LEVELS_SECONDS)


def test_success_steps_down_one_level_and_clears_pause():
    b = ProviderBackoff(START)
    for _ in range(3):
        b.record_failure(LATER)
    assert not b.available(LATER + 10)
    b.record_success(LATER + 10)
    assert b.level == 2 and b.available(LATER + 10) and b.disabled_until is None
    assert b.record_failure(LATER + 20) == 1800  # back to level 3, not level 1


def test_available_after_pause():
    b = ProviderBackoff(START)
    b.record_failure(LATER)
    assert not b.available(LATER + 299.9)
    assert b.available(LATER + 300)
    assert b.retry_in(LATER + 100) == 200


def test_startup_grace_caps_at_15_minutes():
    b = ProviderBackoff(START)
    pauses = [b.record_failure(START + 60) for _ in range(6)]
    assert max(pauses) == 900
    assert b.record_failure(START + 16 * 60) == 43200  # grace over: level 7


def test_retry_after_wins_when_longer_even_in_grace():
    b = ProviderBackoff(START)
    assert b.record_failure(START + 1, retry_after=3600) == 3600
    assert b.record_failure(LATER, retry_after=5) == 900  # shorter retry_after does not shorten the level


def test_retry_after_is_capped():
    assert pause_seconds(1, since_start=9999, retry_after=10**9) == 86400


def test_roundtrip():
    b = ProviderBackoff(START)
    b.record_failure(LATER)
    b.record_failure(LATER)
    restored = ProviderBackoff.from_dict(b.to_dict(), started_at=START)
    assert (restored.level, restored.disabled_until, restored.last_failure_at) == (2, LATER + 900, LATER)
    assert ProviderBackoff.from_dict({}, started_at=START).level == 0


events = st.lists(st.tuples(st.booleans(), st.floats(0, 10_000), st.none() | st.floats(0, 200_000)), max_size=40)


@given(events)
def test_properties(evs):
    b = ProviderBackoff(START)
    now = START
    for failed, dt, retry_after in evs:
        now += dt
        before = b.level
        if failed:
            pause = b.record_failure(now, retry_after)
            assert b.level == min(before + 1, len(LEVELS_SECONDS))
            assert 0 < pause <= 86400
            if now - START < 900 and (retry_after is None or retry_after <= 900):
                assert pause <= 900
            if retry_after is not None:
                assert pause >= min(retry_after, 86400)
            assert not b.available(now) and b.available(now + pause)
        else:
            b.record_success(now)
            assert b.level == max(before - 1, 0) and b.available(now)
        assert 0 <= b.level <= len(LEVELS_SECONDS)
        again = ProviderBackoff.from_dict(b.to_dict(), started_at=START)
        assert again.to_dict() == b.to_dict()
