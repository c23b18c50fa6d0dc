"""Show monitoring (pure): which episodes a followed TV request wants, and what a TMDB refresh changes.

``monitor`` is ``none`` (only what was asked for), ``future`` (episodes airing on or after the day of the
request, and those without a date yet) or ``all`` (past ones too). ``monitor_seasons`` limits both; absent, every
season is followed, new ones included (specials, season 0, only when listed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from annexd.domain.request_specs import EpisodeSpec

MONITOR_MODES = ("none", "future", "all")


@dataclass(frozen=True)
class Monitoring:
    mode: str = "none"
    seasons: tuple[int, ...] | None = None

    def follows_season(self, season: int) -> bool:
        if self.mode == "none":
            return False
        return season != 0 if self.seasons is None else season in self.seasons

    def follows(self, episode: EpisodeSpec, requested_on: date) -> bool:
        if not self.follows_season(episode.season):
            return False
        return self.mode == "all" or episode.air_date is None or episode.air_date >= requested_on


def seasons_to_fetch(monitoring: Monitoring, known: Iterable[int], existing: Iterable[int]) -> list[int]:
    """The seasons a refresh reads from TMDB: the followed ones the show has, and those the request has items
    in (their air dates and titles are kept up to date)."""
    known_set = set(known)
    followed = {s for s in known_set if monitoring.follows_season(s)}
    return sorted(followed | (set(existing) & known_set))


@dataclass(frozen=True)
class Listing:
    """What the request's item for one episode says now."""

    item_id: int
    title: str
    air_date: date | None


@dataclass(frozen=True)
class RefreshPlan:
    new: tuple[EpisodeSpec, ...]  # followed episodes the request has no item for
    changed: tuple[tuple[int, str, date | None], ...]  # (item id, title, air date) that TMDB now says


def plan_refresh(monitoring: Monitoring, requested_on: date, episodes: Sequence[EpisodeSpec],
                 existing: Mapping[tuple[int, int], Listing]) -> RefreshPlan:
    """New items for newly announced followed episodes; new titles and air dates for existing items."""
    new: list[EpisodeSpec] = []
    changed: list[tuple[int, str, date | None]] = []
    for ep in episodes:
        listing = existing.get((ep.season, ep.episode))
        if listing is None:
            if monitoring.follows(ep, requested_on):
                new.append(ep)
            continue
        title = ep.title or listing.title
        if (title, ep.air_date) != (listing.title, listing.air_date):
            changed.append((listing.item_id, title, ep.air_date))
    return RefreshPlan(tuple(new), tuple(changed))
