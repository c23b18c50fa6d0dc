"""Escalating backoff for external providers (indexers, clients, encoders, media servers).

Same shape as Sonarr/Radarr: each failure escalates one level (5 min, 15 min, 30 min, 1 h, 3 h, 6 h, 12 h,
24 h), each success steps back one level. During a startup grace (first 15 min after the daemon started) no
pause exceeds 15 min, so a provider that was down while annexd was also down is retried promptly. An explicit
``retry_after`` (HTTP 429 ``Retry-After``, Torznab "Request limit reached") wins when it is longer.

Times are wall-clock epoch seconds (``time.time()``) because the state is persisted and must survive a restart;
every method takes ``now`` so the logic stays testable without clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS_SECONDS: tuple[float, ...] = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
STARTUP_GRACE_SECONDS = 15 * 60
STARTUP_MAX_PAUSE_SECONDS = 15 * 60
# A hostile or broken server must not park a provider for weeks with one header.
MAX_RETRY_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class BackoffSettings:
    levels: tuple[float, ...] = LEVELS_SECONDS
    startup_grace: float = STARTUP_GRACE_SECONDS
    startup_max_pause: float = STARTUP_MAX_PAUSE_SECONDS
    max_retry_after: float = MAX_RETRY_AFTER_SECONDS


def pause_seconds(
    level: int,
    *,
    since_start: float,
    retry_after: float | None = None,
    settings: BackoffSettings = BackoffSettings(),  # noqa: B008 - frozen, shared default is safe
) -> float:
    """The pause after a failure that brought the provider to ``level`` (1-based); pure."""
    if level <= 0:
        return 0.0
    pause = float(settings.levels[min(level, len(settings.levels)) - 1])
    if since_start < settings.startup_grace:
        pause = min(pause, settings.startup_max_pause)
    if retry_after is not None and retry_after > pause:
        pause = min(float(retry_after), settings.max_retry_after)
    return pause


class ProviderBackoff:
    """Backoff state of one provider. Not thread-safe: one owner (an actor) mutates it."""

    def __init__(
        self,
        started_at: float,
        *,
        level: int = 0,
        disabled_until: float | None = None,
        last_failure_at: float | None = None,
        settings: BackoffSettings = BackoffSettings(),  # noqa: B008
    ):
        self.started_at = started_at
        self.level = max(0, min(int(level), len(settings.levels)))
        self.disabled_until = disabled_until
        self.last_failure_at = last_failure_at
        self.settings = settings

    def record_failure(self, now: float, retry_after: float | None = None) -> float:
        """Escalate one level and pause; returns the pause in seconds."""
        self.level = min(self.level + 1, len(self.settings.levels))
        pause = pause_seconds(
            self.level, since_start=now - self.started_at, retry_after=retry_after, settings=self.settings
        )
        self.disabled_until = now + pause
        self.last_failure_at = now
        return pause

    def record_success(self, now: float) -> None:
        """Step back one level and lift any pause."""
        del now  # kept in the signature for symmetry and future use (e.g. decay)
        self.level = max(self.level - 1, 0)
        self.disabled_until = None

    def available(self, now: float) -> bool:
        return self.disabled_until is None or now >= self.disabled_until

    def retry_in(self, now: float) -> float:
        """Seconds until the provider may be used again (0 when available)."""
        if self.disabled_until is None:
            return 0.0
        return max(0.0, self.disabled_until - now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "disabled_until": self.disabled_until,
            "last_failure_at": self.last_failure_at,
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        started_at: float,
        settings: BackoffSettings = BackoffSettings(),  # noqa: B008
    ) -> ProviderBackoff:
        """Restore persisted state; ``started_at`` is this daemon's start (not persisted)."""
        return cls(
            started_at,
            level=int(data.get("level") or 0),
            disabled_until=_opt_float(data.get("disabled_until")),
            last_failure_at=_opt_float(data.get("last_failure_at")),
            settings=settings,
        )

    def __repr__(self) -> str:
        return f"ProviderBackoff(level={self.level}, disabled_until={self.disabled_until})"


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
