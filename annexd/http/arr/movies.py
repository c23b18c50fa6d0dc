"""Radarr's movie endpoints: ``movie/lookup`` (``tmdb:``, ``imdb:``, free text; from TMDB), ``movie`` (list,
``?tmdbId=``, get, add, update, delete). A movie's id is its annexd request id; a title already requested comes
back from a lookup as the library object. Not pure: handlers (the store, TMDB)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from annexd.domain.request_specs import RequestSpec
from annexd.http.arr import metadata, resources
from annexd.http.arr.call import BadBody, Call, answer, invalid, message, not_found
from annexd.http.arr.resources import LibraryEntry, Metadata
from annexd.http.arr.terms import ById, ByTitle, parse_term
from annexd.http.arr.titles import (
    Settings,
    common_fields,
    delete_title,
    entries,
    from_tmdb,
    settings,
    submit,
    tag_ids,
)
from store import queries

MAX_RESULTS = 20


def _movie(call: Call, meta: Metadata, entry: LibraryEntry | None, found: Settings) -> dict[str, Any]:
    return resources.movie(meta, entry, found.default_root, call.now().date())


async def _lookup_metadata(call: Call, term: str) -> list[Metadata] | web.StreamResponse:
    tmdb, parsed = call.arr.tmdb, parse_term(term, "radarr")
    if isinstance(parsed, ById) and parsed.source == "tmdb":
        tmdb_id = int(parsed.value)
        if tmdb is None:  # no TMDB: only what the library knows
            return [e.metadata for e in await entries(call, await settings(call), tmdb_ids=[tmdb_id])]
        return await from_tmdb(call, lambda: [m for m in [metadata.movie(tmdb, tmdb_id)] if m])
    if tmdb is None or not isinstance(parsed, ById | ByTitle):
        return []
    if isinstance(parsed, ById):
        imdb_id = parsed.value
        return await from_tmdb(call, lambda: metadata.movies_by_imdb(tmdb, imdb_id))
    text, year = parsed.text, parsed.year
    return await from_tmdb(call, lambda: metadata.movie_search(tmdb, text, year)[:MAX_RESULTS])


async def _with_library(call: Call, found: list[Metadata]) -> list[dict[str, Any]]:
    """Lookup results, each the library object when its title is already requested."""
    ids = [m.tmdb_id for m in found if m.tmdb_id]
    known = await settings(call)
    library = {e.metadata.tmdb_id: e for e in await entries(
        call, known, tmdb_ids=ids, metadata={m.tmdb_id: m for m in found if m.tmdb_id})}
    return [_movie(call, library[m.tmdb_id].metadata if m.tmdb_id in library else m,
                   library.get(m.tmdb_id), known) for m in found]


async def lookup(call: Call) -> web.StreamResponse:
    term = call.query.get("term") or ""
    found = await _lookup_metadata(call, term)
    if not isinstance(found, list):
        return found
    return answer(call, await _with_library(call, found))


async def lookup_tmdb(call: Call) -> web.StreamResponse:
    return await _lookup_one(call, f"tmdb:{call.query.get('tmdbId') or ''}")


async def lookup_imdb(call: Call) -> web.StreamResponse:
    return await _lookup_one(call, f"imdb:{call.query.get('imdbId') or ''}")


async def _lookup_one(call: Call, term: str) -> web.StreamResponse:
    found = await _lookup_metadata(call, term)
    if not isinstance(found, list):
        return found
    movies = await _with_library(call, found[:1])
    return answer(call, movies[0]) if movies else not_found(call)


async def list_movies(call: Call) -> web.StreamResponse:
    try:
        tmdb_id = call.query.integer("tmdbId")
    except ValueError:
        return invalid(call, "tmdbId", "'tmdbId' must be a number", call.query.get("tmdbId"))
    known = await settings(call)
    found = await entries(call, known, tmdb_ids=[tmdb_id] if tmdb_id is not None else None)
    return answer(call, [_movie(call, e.metadata, e, known) for e in found])


async def get_movie(call: Call) -> web.StreamResponse:
    known = await settings(call)
    found = await entries(call, known, request_ids=[call.ids["id"]])
    return answer(call, _movie(call, found[0].metadata, found[0], known)) if found else not_found(call)


async def _body(call: Call) -> dict[str, Any] | web.StreamResponse:
    try:
        body = await call.body()
    except BadBody as exc:
        return message(call, 400, str(exc))
    return body if isinstance(body, dict) else invalid(call, "", "a Movie object is required")


async def add_movie(call: Call) -> web.StreamResponse:
    body = await _body(call)
    if not isinstance(body, dict):
        return body
    tmdb_id = body.get("tmdbid")
    if not isinstance(tmdb_id, int) or isinstance(tmdb_id, bool) or tmdb_id <= 0:
        return invalid(call, "TmdbId", "'Tmdb Id' must be greater than '0'.", tmdb_id)
    known = await settings(call)
    fields = common_fields(call, body, known)
    if not isinstance(fields, tuple):
        return fields
    meta = await _metadata_for_add(call, tmdb_id, body)
    if not isinstance(meta, Metadata):
        return meta
    spec = RequestSpec(kind="movie", title=meta.title, year=meta.year, tmdb_id=tmdb_id, imdb_id=meta.imdb_id,
                       targets=(fields[1].target.name,), quality_profile=fields[0], requested_by=call.caller.name)
    added = await submit(call, spec, tag_ids(body))
    if not isinstance(added, int):
        return added
    found = await entries(call, known, request_ids=[added], metadata={tmdb_id: meta})
    if not found:  # the caller may not see it (it joined another requester's title): report what was asked
        return answer(call, _movie(call, meta, None, known), 201)
    return answer(call, _movie(call, meta, found[0], known), 201)


async def _metadata_for_add(call: Call, tmdb_id: int, body: dict[str, Any]) -> Metadata | web.StreamResponse:
    """The movie's metadata: TMDB's when configured, else the body's title and year."""
    tmdb = call.arr.tmdb
    if tmdb is not None:
        found = await from_tmdb(call, lambda: [m for m in [metadata.movie(tmdb, tmdb_id)] if m])
        if not isinstance(found, list):
            return found
        if not found:
            return invalid(call, "TmdbId", f"TMDB has no movie {tmdb_id}", tmdb_id)
        return found[0]
    title, year = body.get("title"), body.get("year")
    if not isinstance(title, str) or not title.strip():
        return invalid(call, "Title", "'Title' must not be empty.", title)
    return Metadata(title=title.strip(), year=year if isinstance(year, int) and year > 0 else None, tmdb_id=tmdb_id,
                    imdb_id=body.get("imdbid") if isinstance(body.get("imdbid"), str) else None)


async def update_movie(call: Call) -> web.StreamResponse:
    """PUT: the movie's tags are kept; annexd follows every movie it holds, so it stays monitored."""
    body = await _body(call)
    if not isinstance(body, dict):
        return body
    movie_id = call.ids.get("id") or body.get("id")
    if not isinstance(movie_id, int) or isinstance(movie_id, bool) or movie_id <= 0:
        return invalid(call, "Id", "'Id' must be greater than '0'.", movie_id)
    known = await settings(call)
    found = await entries(call, known, request_ids=[movie_id])
    if not found:
        return not_found(call)
    tags = tag_ids(body)
    if tags is not None:
        await call.db(lambda: queries.set_request_tags(movie_id, tags))
        found = await entries(call, known, request_ids=[movie_id])
    return answer(call, _movie(call, found[0].metadata, found[0], known), 202)


async def delete_movie(call: Call) -> web.StreamResponse:
    return await delete_title(call, call.ids["id"], call.query.flag("deleteFiles"))
