"""When to reconnect to a long-lived connection (an IRC network): exponential backoff with jitter, and a
circuit breaker against reconnect storms. Pure: every method takes ``now``.

A connection that stayed up ``stable_after`` seconds resets the backoff. ``storm_attempts`` disconnects within
``storm_window`` seconds (a server that accepts and drops us at once, a flapping network) open the circuit:
the next attempt waits ``cooldown`` seconds, however short the backoff would be.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReconnectPolicy:
    initial: float = 5.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.2  # +/- this fraction of the delay, so many clients do not return in step
    stable_after: float = 60.0
    storm_attempts: int = 6
    storm_window: float = 120.0
    cooldown: float = 900.0


@dataclass(frozen=True)
class Decision:
    delay: float
    circuit_open: bool


@dataclass
class Reconnects:
    policy: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    failures: int = 0
    recent: list[float] = field(default_factory=list)

    def after_disconnect(self, now: float, uptime: float, rng: random.Random | None = None) -> Decision:
        """The wait before the next attempt, after a connection that lasted ``uptime`` seconds (0 when the
        attempt itself failed)."""
        p = self.policy
        if uptime >= p.stable_after:
            self.failures = 0
            self.recent.clear()
        self.failures += 1
        self.recent = [t for t in self.recent if now - t < p.storm_window] + [now]
        if len(self.recent) >= p.storm_attempts:
            self.recent.clear()
            return Decision(p.cooldown, circuit_open=True)
        delay = min(p.max_delay, p.initial * p.factor ** (self.failures - 1))
        spread = (rng or random).uniform(-p.jitter, p.jitter)
        return Decision(max(0.0, delay * (1 + spread)), circuit_open=False)
