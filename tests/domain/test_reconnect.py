"""Reconnect timing: exponential backoff, reset after a stable connection, circuit breaker on storms."""

from __future__ import annotations

import random

from hypothesis import given, strategies as st

from annexd.domain.reconnect import ReconnectPolicy, Reconnects

POLICY = ReconnectPolicy(initial=5, factor=2, max_delay=60, jitter=0, stable_after=60, storm_attempts=4,
                         storm_window=120, cooldown=900)


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_connection() -> None:
    r = Reconnects(POLICY)
    delays = [r.after_disconnect(now, uptime=0).delay for now in (0, 1000, 2000, 3000, 4000, 5000)]
    assert delays == [5, 10, 20, 40, 60, 60]
    assert r.after_disconnect(6000, uptime=61).delay == 5


def test_a_reconnect_storm_opens_the_circuit() -> None:
    r = Reconnects(POLICY)
    decisions = [r.after_disconnect(t, uptime=1) for t in (0, 10, 20, 30)]
    assert [d.circuit_open for d in decisions] == [False, False, False, True]
    assert decisions[-1].delay == 900
    assert r.after_disconnect(1000, uptime=1).circuit_open is False  # the window starts afresh


@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 100)), max_size=30), st.integers(0, 2 ** 32))
def test_delays_stay_within_bounds(events: list[tuple[float, float]], seed: int) -> None:
    policy = ReconnectPolicy(jitter=0.2)
    r, now, rng = Reconnects(policy), 0.0, random.Random(seed)
    for gap, uptime in events:
        now += gap
        d = r.after_disconnect(now, uptime, rng)
        assert 0 <= d.delay <= (policy.cooldown if d.circuit_open else policy.max_delay * 1.2)
