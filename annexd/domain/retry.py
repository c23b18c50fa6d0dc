"""The one retry policy of annexd (pure: no pykka, no peewee, no network).

Every stage (search, download, encode, deliver) and every restart loop (supervisor, DB writer) asks the same
:class:`RetryPolicy` when to try again: bounded exponential backoff with jitter, ``base * factor**attempt``
capped at ``cap_seconds``, give up after ``max_attempts`` (0: never). Each stage has its own parameters in the
config (``[search.retry]``, ``[download.retry]``, ``[encoders.retry]``, ``[delivery.retry]``).

Failures are classified by exception type, never by message text (:func:`classify`): bad input, refused
credentials and a destination conflict are permanent (retrying cannot help, a person must look); everything
else is transient. Modelled on Dramatiq's ``middleware/retries.py`` with ``common.compute_backoff``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from annexd.errors import InvalidInputError, PermanentProviderError


class Failure(enum.StrEnum):
    TRANSIENT = "transient"  # try again later
    PERMANENT = "permanent"  # retrying will not help: fail (or move to the next alternative) now


def classify(exc: BaseException) -> Failure:
    """Transient or permanent, from the exception's type (and an explicit ``retriable`` flag, e.g. an encode
    failure reported by an agent); never from its message."""
    if isinstance(exc, InvalidInputError | PermanentProviderError):
        return Failure.PERMANENT
    if getattr(exc, "retriable", True) is False:
        return Failure.PERMANENT
    return Failure.TRANSIENT


@dataclass(frozen=True)
class RetryPolicy:
    """How one stage retries, and when its claims count as stalled."""

    base_seconds: float = 60.0
    factor: float = 2.0
    cap_seconds: float = 3600.0
    jitter: float = 0.1  # +/- this fraction of the delay, so retries of many items spread out
    max_attempts: int = 0  # attempts before giving up; 0 = never give up (the stage waits and tries again)
    # A claim whose owner has not shown progress (a heartbeat) for this long is stalled and released.
    stall_seconds: float = 900.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` + 1 (``attempt`` failures so far, from 0)."""
        raw = min(self.cap_seconds, self.base_seconds * self.factor ** max(0, min(attempt, 64)))
        spread = raw * self.jitter
        return max(0.0, min(self.cap_seconds, raw + (rng or random).uniform(-spread, spread)))

    def retry_at(self, attempt: int, now: datetime, rng: random.Random | None = None) -> datetime:
        return now + timedelta(seconds=self.delay(attempt, rng))

    def exhausted(self, attempts: int) -> bool:
        """Whether the attempt that just failed (``attempts`` failed before it) was the last one allowed."""
        return self.max_attempts > 0 and attempts + 1 >= self.max_attempts

    def decide(self, attempts: int, failure: Failure, now: datetime, rng: random.Random | None = None
               ) -> datetime | None:
        """When to try again after a failure, or None to give up (permanent, or out of attempts)."""
        if failure is Failure.PERMANENT or self.exhausted(attempts):
            return None
        return self.retry_at(attempts, now, rng)

    def problems(self) -> list[str]:
        """What is wrong with these parameters (for config validation)."""
        out = []
        if self.base_seconds < 0 or self.cap_seconds < self.base_seconds:
            out.append("base_seconds must be >= 0 and cap_seconds >= base_seconds")
        if self.factor < 1:
            out.append("factor must be >= 1")
        if not 0 <= self.jitter < 1:
            out.append("jitter must be in [0, 1)")
        if self.max_attempts < 0:
            out.append("max_attempts must be >= 0 (0: no limit)")
        if self.stall_seconds <= 0:
            out.append("stall_seconds must be > 0")
        return out


# Today's defaults of each stage (the legacy keys they replace are mapped in annexd.config).
SEARCH = RetryPolicy(base_seconds=6 * 3600.0, factor=2.0, cap_seconds=48 * 3600.0, max_attempts=0,
                     stall_seconds=900.0)
DOWNLOAD = RetryPolicy(base_seconds=300.0, factor=3.0, cap_seconds=3600.0, max_attempts=3, stall_seconds=900.0)
ENCODE = RetryPolicy(base_seconds=5.0, factor=2.0, cap_seconds=300.0, max_attempts=10, stall_seconds=600.0)
DELIVER = RetryPolicy(base_seconds=300.0, factor=2.0, cap_seconds=6 * 3600.0, max_attempts=5, stall_seconds=600.0)
# Restarting a failed actor, retrying a DB writer flush: same policy, shorter steps.
RESTART = RetryPolicy(base_seconds=1.0, factor=2.0, cap_seconds=60.0)
