"""What a person asked for, before it is stored (pure): a movie, or TV episodes (or seasons to expand from
TMDB). Built by the HTTP API, the CLI and the TMDB expansion; ``store.queries.submit_request`` stores it.

One request per title: a title is its kind and TMDB id (or, without one, kind, normalised title and year), and
a new request for a title already requested adds only what is new to that request (:func:`additions`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any


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


def normalise_title(title: str) -> str:
    """A title as compared for "the same title": case, accents, punctuation and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def title_key(kind: str, tmdb_id: int | None, title: str, year: int | None) -> str:
    """What makes two requests one title: the kind and TMDB id, or without an id the kind, the normalised title
    and the year."""
    if tmdb_id is not None:
        return f"{kind}:tmdb:{tmdb_id}"
    return f"{kind}:title:{normalise_title(title)}:{year if year is not None else ''}"


@dataclass(frozen=True)
class Additions:
    """What a new request for a title adds to the request that already holds it."""

    episodes: tuple[EpisodeSpec, ...] = ()
    seasons: tuple[int, ...] = ()
    targets: tuple[str, ...] = ()
    monitor: str | None = None  # a new way of following the show (with the spec's monitor_seasons)

    def __bool__(self) -> bool:
        return bool(self.episodes or self.seasons or self.targets or self.monitor)

    def as_dict(self) -> dict[str, Any]:
        return {"episodes": [{"season": e.season, "episode": e.episode} for e in self.episodes],
                "seasons": list(self.seasons), "targets": list(self.targets), "monitor": self.monitor}


def additions(spec: RequestSpec, episodes: set[tuple[int, int]], seasons: tuple[int, ...] | None,
              targets: tuple[str, ...], following: tuple[str, tuple[int, ...] | None] = ("none", None)
              ) -> Additions:
    """What ``spec`` asks for that the existing request (its items' episodes, requested seasons, targets, how it
    follows its show) lacks. A request never stops following a show by asking again without following it."""
    follows = (spec.monitor, spec.monitor_seasons)
    return Additions(
        episodes=tuple(e for e in spec.episodes if (e.season, e.episode) not in episodes),
        seasons=tuple(s for s in (spec.seasons or ()) if s not in set(seasons or ())),
        targets=tuple(t for t in spec.targets if t not in targets),
        monitor=spec.monitor if spec.monitor != "none" and follows != following else None,
    )


@dataclass(frozen=True)
class SubmitOutcome:
    """What submitting a request did: created a request, added to the one that holds the title, or nothing."""

    request_id: int
    created: bool
    added: Additions = Additions()

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added)
