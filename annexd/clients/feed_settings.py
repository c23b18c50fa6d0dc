"""A plain RSS/Atom feed's settings (``[[feeds]]``), apart from the client so ``annexd.config`` builds them
without importing requests (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annexd.domain.feeds import DEFAULT_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES


@dataclass(frozen=True)
class RssFeed:
    """One feed. ``url`` may carry a tracker passkey: it is a secret reference like any other (``env:NAME``,
    ``file:/path``, ``secret:NAME`` or a literal) and is never logged. ``enabled = false`` (which every list
    entry takes: annexd.config_loader) keeps it out of ``Config.feeds``."""

    name: str
    url: str = field(default="", repr=False, metadata={"secret": True})
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES
    timeout: float = 20.0
    max_response_bytes: int = 8 * 1024 * 1024


def validate_interval(key: str, minutes: float) -> list[str]:
    if minutes < MIN_INTERVAL_MINUTES:
        return [f"{key}: {minutes:g} minutes is below the minimum of {MIN_INTERVAL_MINUTES:g} (feeds are polled "
                "at most every 10 minutes, as by Sonarr)"]
    return []


def validate_feed(feed: RssFeed) -> list[str]:
    problems = validate_interval("interval_minutes", feed.interval_minutes)
    if not feed.url:
        problems.append("url: required")
    if feed.timeout <= 0:
        problems.append("timeout: must be > 0")
    return problems
