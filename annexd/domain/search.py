"""Search decisions (pure): from ranked results to what happens to each wanted item.

The SearchWorker does the I/O (indexers, store); everything here takes its inputs and ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from annexd.domain.pipeline import Event
from annexd.domain.quality import (
    QualityProfile,
    RankedResults,
    Release,
    choose_for_season,
    episode_matches,
    meets_cutoff,
    movie_matches,
    quality_of,
    rank,
)
from annexd.domain.retry import SEARCH as SEARCH_RETRY, RetryPolicy


@dataclass(frozen=True)
class SearchConfig:
    """The ``[search]`` section of the config (composed by annexd.config)."""

    # Nothing found (or only releases below the profile): search again per this policy ([search.retry]).
    retry: RetryPolicy = SEARCH_RETRY
    # Deprecated (mapped onto [search.retry] base_seconds / cap_seconds by annexd.config, with a warning).
    retry_hours: float = 6.0
    max_retry_hours: float = 48.0
    # Sonarr's delay profile: wait this long after finding a release before grabbing it.
    grab_delay_minutes: float = 0.0
    # Per-episode searches one request may make in one poll when no pack covers the season.
    max_episode_searches: int = 25
    # Lower-quality alternatives kept on an item.
    keep_alternatives: int = 10
    # Upgrades: search the indexers for better releases of COMPLETED items below their cutoff, every this many
    # hours (0: never; feeds and IRC announces still offer upgrades), this many items per poll.
    upgrade_search_hours: float = 0.0
    upgrade_search_batch: int = 20


@dataclass(frozen=True)
class Wanted:
    item_id: int
    season: int
    episode: int
    air_date: date | None
    attempts: int


@dataclass(frozen=True)
class Outcome:
    item_id: int
    event: Event
    error: str | None = None
    retry_at: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def retry_at(attempts: int, now: datetime, cfg: SearchConfig) -> datetime:
    """Nothing found: the next search, per the search stage's retry policy."""
    return cfg.retry.retry_at(attempts, now)


def not_aired(item: Wanted, today: date) -> Outcome | None:
    if item.air_date is None or item.air_date <= today:
        return None
    return Outcome(item.item_id, Event.NOT_AIRED, error=f"not aired yet (airs {item.air_date.isoformat()})",
                   retry_at=datetime.combine(item.air_date, datetime.min.time()))


def _alternatives(releases: Iterable[Release], cfg: SearchConfig, skip: str | None = None) -> list[dict[str, Any]]:
    return [r.to_dict() for r in releases if r.key != skip][: cfg.keep_alternatives]


def grab_at(release: Release, profile: QualityProfile, now: datetime, cfg: SearchConfig) -> datetime | None:
    """Sonarr's delay profile: a found release waits ``grab_delay_minutes`` (for a better one to show up) unless
    it already meets the profile's cutoff; None = grab at once. DownloadWorker only claims FOUND items whose
    next_retry_at has passed."""
    if not cfg.grab_delay_minutes or meets_cutoff(quality_of(release.parsed), profile):
        return None
    return now + timedelta(minutes=cfg.grab_delay_minutes)


def found(item_id: int, release: Release, others: Sequence[Release], now: datetime, cfg: SearchConfig,
          profile: QualityProfile, event: Event = Event.FOUND) -> Outcome:
    fields = {
        "release": release.to_dict(), "available_releases": _alternatives(others, cfg, release.key),
        "quality_met": True, "next_retry_at": grab_at(release, profile, now, cfg),
    }
    return Outcome(item_id, event, fields=fields)


def below_profile(item: Wanted, below: Sequence[Release], now: datetime, cfg: SearchConfig) -> Outcome:
    best = below[0]
    return Outcome(
        item.item_id, Event.BELOW_PROFILE,
        error=f"only releases below the quality profile (best: {best.title})",
        retry_at=retry_at(item.attempts, now, cfg),
        fields={"available_releases": _alternatives(below, cfg), "quality_met": False},
    )


def nothing(item: Wanted, reason: str, now: datetime, cfg: SearchConfig, event: Event = Event.NOTHING_FOUND) -> Outcome:
    return Outcome(item.item_id, event, error=reason, retry_at=retry_at(item.attempts, now, cfg))


def _why_none(total: int, rejected: Sequence[tuple[Release, str]]) -> str:
    if not total:
        return "no results from the indexers"
    reasons = sorted({reason for _, reason in rejected})[:3]
    return f"{total} result(s), none acceptable: " + "; ".join(reasons) if reasons else f"{total} result(s), none matching"


def decide_movie(item: Wanted, title: str, year: int | None, releases: Sequence[Release], profile: QualityProfile,
                 blocklist: Iterable[str], now: datetime, cfg: SearchConfig) -> Outcome:
    matching = [r for r in releases if movie_matches(r.parsed, title, year)]
    return _best(item, len(releases), rank(matching, profile, blocklist=blocklist), now, cfg, profile)


def _best(item: Wanted, total: int, ranked: RankedResults, now: datetime, cfg: SearchConfig,
          profile: QualityProfile) -> Outcome:
    """The best accepted release, else the kept below-profile ones, else why there was none."""
    if ranked.accepted:
        return found(item.item_id, ranked.accepted[0], [*ranked.accepted[1:], *ranked.below_profile], now, cfg,
                     profile)
    if ranked.below_profile:
        return below_profile(item, ranked.below_profile, now, cfg)
    return nothing(item, _why_none(total, ranked.rejected), now, cfg)


@dataclass(frozen=True)
class SeasonDecision:
    outcomes: tuple[Outcome, ...]
    missing: tuple[Wanted, ...]  # not covered by the season results: search them one by one


def decide_season(items: Sequence[Wanted], series: str, year: int | None, season: int,
                  releases: Sequence[Release], profile: QualityProfile, blocklist: Iterable[str],
                  now: datetime, cfg: SearchConfig) -> SeasonDecision:
    """One season query's results: prefer one pack covering every wanted episode, else per-episode picks."""
    matching = [r for r in releases if episode_matches(r.parsed, series, season, year=year)]
    ranked = rank(matching, profile, episodes_wanted=len(items), blocklist=blocklist)
    by_episode = {i.episode: i for i in items}
    choice = choose_for_season(season, by_episode, ranked.accepted)
    outcomes = [found(by_episode[ep].item_id, rel, ranked.accepted, now, cfg, profile)
                for ep, rel in choice.picks.items()]
    return SeasonDecision(tuple(outcomes), tuple(by_episode[ep] for ep in sorted(choice.missing)))


def decide_episode(item: Wanted, series: str, year: int | None, releases: Sequence[Release],
                   profile: QualityProfile, blocklist: Iterable[str], now: datetime, cfg: SearchConfig) -> Outcome:
    matching = [r for r in releases if episode_matches(r.parsed, series, item.season, item.episode,
                                                       air_date=item.air_date, year=year)]
    return _best(item, len(releases), rank(matching, profile, blocklist=blocklist), now, cfg, profile)
