"""Titles from TMDB as the *arr lookups need them (blocking: call through ``Call.blocking``): movies by TMDB
id, IMDb id or title; shows by TMDB id, TVDB id (TMDB's find-by-external-id) or title, with their seasons. An id
TMDB does not know is None or ``[]``, as the apps answer a lookup that finds nothing. Not pure: TMDB calls."""

from __future__ import annotations

from dataclasses import replace

from annexd.clients.tmdb import TmdbClient, TmdbMovie, TmdbShow
from annexd.errors import InvalidInputError
from annexd.http.arr.resources import Metadata

SHOW_SEARCH_DETAILS = 5  # shows of a title search whose seasons are read (one TMDB call each, cached)


def from_movie(movie: TmdbMovie) -> Metadata:
    return Metadata(title=movie.title, year=movie.year, tmdb_id=movie.tmdb_id, imdb_id=movie.imdb_id,
                    overview=movie.overview, poster_path=movie.poster_path, original_title=movie.original_title,
                    released=movie.release_date)


def from_show(show: TmdbShow) -> Metadata:
    return Metadata(title=show.name, year=show.year, tmdb_id=show.tmdb_id, imdb_id=show.imdb_id,
                    tvdb_id=show.tvdb_id, overview=show.overview, poster_path=show.poster_path,
                    original_title=show.original_name, released=show.first_air_date,
                    seasons=tuple((s.season_number, s.episode_count) for s in show.seasons))


def movie(tmdb: TmdbClient, tmdb_id: int) -> Metadata | None:
    try:
        return from_movie(tmdb.movie(tmdb_id))
    except InvalidInputError:
        return None


def movies_by_imdb(tmdb: TmdbClient, imdb_id: str) -> list[Metadata]:
    found = tmdb.find(imdb_id, "imdb_id").movies
    return [m for m in (movie(tmdb, f.tmdb_id) for f in found[:1]) if m is not None]


def movie_search(tmdb: TmdbClient, text: str, year: int | None) -> list[Metadata]:
    return [from_movie(m) for m in tmdb.search_movie(text, year)]


def show(tmdb: TmdbClient, tmdb_id: int) -> Metadata | None:
    try:
        return from_show(tmdb.tv(tmdb_id))
    except InvalidInputError:
        return None


def show_by_tvdb(tmdb: TmdbClient, tvdb_id: int) -> Metadata | None:
    found = tmdb.find(str(tvdb_id), "tvdb_id").shows
    if not found:
        return None
    meta = show(tmdb, found[0].tmdb_id)
    # TMDB's own record may lack the TVDB id it was found by: the lookup answers with the id asked for.
    return None if meta is None else replace(meta, tvdb_id=meta.tvdb_id or tvdb_id)


def show_search(tmdb: TmdbClient, text: str) -> list[Metadata]:
    found = tmdb.search_tv(text)
    detailed = [show(tmdb, s.tmdb_id) for s in found[:SHOW_SEARCH_DETAILS]]
    return [m for m in detailed if m is not None] + [from_show(s) for s in found[SHOW_SEARCH_DETAILS:]]
