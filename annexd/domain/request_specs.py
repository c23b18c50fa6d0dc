"""What a person asked for, before it is stored (pure): a movie, or TV episodes (or seasons to expand from
TMDB). Built by the HTTP API, the CLI and the TMDB expansion; ``store.queries.create_request`` stores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EpisodeSpec:
    season: int
    episode: int
    title: str = ""
    air_date: date | None = None


@dataclass(frozen=True)
class RequestSpec:
    kind: str  # "movie" | "tv"
    title: str
    year: int | None = None
    tmdb_id: int | None = None
    tvdb_id: int | None = None
    imdb_id: str | None = None
    episodes: tuple[EpisodeSpec, ...] = ()
    seasons: tuple[int, ...] | None = None
    targets: tuple[str, ...] = ()
    quality_profile: str = "default"
    requested_by: str = "api"
    priority: int = 0
    # Show monitoring (TV): "none" | "future" | "all", limited to these seasons (None = every season).
    monitor: str = "none"
    monitor_seasons: tuple[int, ...] | None = None
