"""The lookup ``term`` grammar of Radarr's ``movie/lookup`` and Sonarr's ``series/lookup`` (pure).

Radarr: ``tmdb:N``/``tmdbid:N``, ``imdb:tt…``/``imdbid:tt…`` (any case), TMDB and IMDb URLs rewritten to those,
else a title search where a year in the text becomes a filter. Sonarr: ``tvdb:N``/``tvdbid:N`` (N > 0) and, as
annexd adds, ``tmdb:N``; else free text. A malformed id is :class:`Invalid` (the apps answer ``[]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IMDB_URL = re.compile(r"imdb\.com/title/(tt\d+)", re.IGNORECASE)
_TMDB_URL = re.compile(r"themoviedb\.org/(?:movie|tv)/(\d+)", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(tmdb|tmdbid|imdb|imdbid|tvdb|tvdbid)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_YEAR = re.compile(r"(?:^|\s|\()((?:19|20)\d\d)\)?\s*$")


@dataclass(frozen=True)
class ById:
    source: str  # "tmdb" | "imdb" | "tvdb"
    value: str


@dataclass(frozen=True)
class ByTitle:
    text: str
    year: int | None = None


@dataclass(frozen=True)
class Invalid:
    reason: str


Term = ById | ByTitle | Invalid


def parse_term(term: str, app: str) -> Term:
    """What a lookup term asks for, in ``app``'s (``radarr`` | ``sonarr``) grammar."""
    text = term.strip()
    if app == "radarr":
        if m := _IMDB_URL.search(text):
            text = f"imdb:{m.group(1)}"
        elif m := _TMDB_URL.search(text):
            text = f"tmdb:{m.group(1)}"
    m = _PREFIX.match(text)
    if m is None:
        return _by_title(text, app)
    source = m.group(1).lower().removesuffix("id")
    value = m.group(2)
    if source == "imdb":
        ok = app == "radarr" and re.fullmatch(r"tt\d+", value, re.IGNORECASE) is not None
        return ById("imdb", value.lower()) if ok else Invalid(f"not an IMDb id: {value!r}")
    if (source == "tvdb") != (app == "sonarr") and source != "tmdb":
        return Invalid(f"{source}: ids are not looked up here")
    if not value.isdigit() or int(value) <= 0:
        return Invalid(f"not a {source} id: {value!r}")
    return ById(source, str(int(value)))


def _by_title(text: str, app: str) -> Term:
    if not text:
        return Invalid("empty term")
    m = _YEAR.search(text) if app == "radarr" else None
    if m is not None and m.start(1) > 0:
        title = text[: m.start()].strip(" (")
        return ByTitle(title or text, int(m.group(1)))
    return ByTitle(text)
