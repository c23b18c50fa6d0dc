"""Sonarr's series and episode endpoints: ``series/lookup`` (``tvdb:`` resolved through TMDB's find, ``tmdb:``,
free text), ``series`` (list, ``?tvdbId=``, get, add, update, delete) and ``episode``. A series' id is its annexd
request id, an episode's its item id. Monitored seasons are the request's seasons and fill ``monitor_seasons``
(the show is followed in them); a PUT that monitors more seasons extends the request. Not pure: handlers
(the store, TMDB)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from annexd.domain.request_specs import RequestSpec
from annexd.errors import AnnexdError, InvalidInputError, ProviderError
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
FOLLOW = {"future": "future", "none": "none", "skip": "none"}  # addOptions.monitor -> annexd's monitor


def _series(call: Call, meta: Metadata, entry: LibraryEntry | None, found: Settings) -> dict[str, Any]:
    return resources.series(meta, entry, found.default_root, call.now().date())


async def _lookup_metadata(call: Call, term: str) -> list[Metadata] | web.StreamResponse:
    tmdb, parsed = call.arr.tmdb, parse_term(term, "sonarr")
    if tmdb is None:
        if not isinstance(parsed, ById):
            return []
        ids, known = [int(parsed.value)], await settings(call)  # no TMDB: only what the library knows
        found = await (entries(call, known, tvdb_ids=ids) if parsed.source == "tvdb"
                       else entries(call, known, tmdb_ids=ids))
        return [e.metadata for e in found]
    if isinstance(parsed, ById):
        number = int(parsed.value)
        fetch = metadata.show_by_tvdb if parsed.source == "tvdb" else metadata.show
        return await from_tmdb(call, lambda: [m for m in [fetch(tmdb, number)] if m])
    if isinstance(parsed, ByTitle):
        text = parsed.text
        return await from_tmdb(call, lambda: metadata.show_search(tmdb, text)[:MAX_RESULTS])
    return []


async def _with_library(call: Call, found: list[Metadata]) -> list[dict[str, Any]]:
    """Lookup results, each the library object (with TMDB's seasons) when the show is already requested."""
    known = await settings(call)
    by_tmdb = {m.tmdb_id: m for m in found if m.tmdb_id}
    library = {e.metadata.tmdb_id: e for e in await entries(call, known, tmdb_ids=list(by_tmdb), metadata=by_tmdb)}
    return [_series(call, m, library.get(m.tmdb_id), known) for m in found]


async def lookup(call: Call) -> web.StreamResponse:
    found = await _lookup_metadata(call, call.query.get("term") or "")
    if not isinstance(found, list):
        return found
    return answer(call, await _with_library(call, found))


async def list_series(call: Call) -> web.StreamResponse:
    try:
        tvdb_id = call.query.integer("tvdbId")
    except ValueError:
        return invalid(call, "tvdbId", "'tvdbId' must be a number", call.query.get("tvdbId"))
    known = await settings(call)
    found = await entries(call, known, tvdb_ids=[tvdb_id] if tvdb_id is not None else None)
    return answer(call, [_series(call, e.metadata, e, known) for e in found])


async def get_series(call: Call) -> web.StreamResponse:
    known = await settings(call)
    found = await entries(call, known, request_ids=[call.ids["id"]])
    if not found:
        return not_found(call)
    return answer(call, _series(call, await _with_seasons(call, found[0].metadata), found[0], known))


async def _with_seasons(call: Call, meta: Metadata) -> Metadata:
    """The show with every season TMDB lists (so a client can monitor one not requested yet); the request's own
    view when TMDB is not configured or does not answer."""
    tmdb, tmdb_id = call.arr.tmdb, meta.tmdb_id
    if tmdb is None or tmdb_id is None:
        return meta
    try:
        found: Metadata | None = await call.blocking(lambda: metadata.show(tmdb, tmdb_id))
    except ProviderError:
        return meta
    return replace(meta, seasons=found.seasons, overview=found.overview, poster_path=found.poster_path) \
        if found else meta


async def _body(call: Call) -> dict[str, Any] | web.StreamResponse:
    try:
        body = await call.body()
    except BadBody as exc:
        return message(call, 400, str(exc))
    return body if isinstance(body, dict) else invalid(call, "", "a Series object is required")


def monitored_seasons(body: dict[str, Any]) -> list[int]:
    given = body.get("seasons")
    seasons: list[Any] = given if isinstance(given, list) else []
    return sorted({s["seasonnumber"] for s in seasons if isinstance(s, dict) and s.get("monitored") is True
                   and isinstance(s.get("seasonnumber"), int) and not isinstance(s.get("seasonnumber"), bool)
                   and 0 <= s["seasonnumber"] < 10_000})


async def add_series(call: Call) -> web.StreamResponse:
    body = await _body(call)
    if not isinstance(body, dict):
        return body
    tvdb_id, title = body.get("tvdbid"), body.get("title")
    if not isinstance(tvdb_id, int) or isinstance(tvdb_id, bool) or tvdb_id <= 0:
        return invalid(call, "TvdbId", "'Tvdb Id' must be greater than '0'.", tvdb_id)
    if not isinstance(title, str) or not title.strip():
        return invalid(call, "Title", "'Title' must not be empty.", title)
    known = await settings(call)
    fields = common_fields(call, body, known)
    if not isinstance(fields, tuple):
        return fields
    meta = await _show_for_add(call, tvdb_id)
    if not isinstance(meta, Metadata):
        return meta
    seasons = monitored_seasons(body) if body.get("monitored", True) is not False else []
    given = body.get("addoptions")
    options: dict[str, Any] = given if isinstance(given, dict) else {}
    follow = FOLLOW.get(str(options.get("monitor", "")).lower(), "all")
    spec = RequestSpec(kind="tv", title=meta.title, year=meta.year, tmdb_id=meta.tmdb_id, tvdb_id=tvdb_id,
                       imdb_id=meta.imdb_id, seasons=tuple(seasons), targets=(fields[1].target.name,),
                       quality_profile=fields[0], requested_by=call.caller.name, monitor=follow,
                       monitor_seasons=tuple(seasons))
    expanded = await _expand(call, spec)
    if not isinstance(expanded, RequestSpec):
        return expanded
    added = await submit(call, expanded, tag_ids(body))
    if not isinstance(added, int):
        return added
    found = await entries(call, known, request_ids=[added], metadata={meta.tmdb_id or 0: meta})
    return answer(call, _series(call, meta, found[0] if found else None, known), 201)


async def _show_for_add(call: Call, tvdb_id: int) -> Metadata | web.StreamResponse:
    tmdb = call.arr.tmdb
    if tmdb is None:
        return invalid(call, "TvdbId", "annexd resolves series through TMDB: configure [tmdb] api_key", tvdb_id)
    found = await from_tmdb(call, lambda: [m for m in [metadata.show_by_tvdb(tmdb, tvdb_id)] if m])
    if not isinstance(found, list):
        return found
    if not found:
        return invalid(call, "TvdbId", f"TMDB knows no series with TVDB id {tvdb_id}", tvdb_id)
    return found[0]


async def _expand(call: Call, spec: RequestSpec) -> RequestSpec | web.StreamResponse:
    """The episodes of the spec's seasons, from TMDB (a followed show may start without any)."""
    expand = call.deps.expand_seasons
    if not spec.seasons:
        return invalid(call, "Seasons", "monitor at least one season", [])
    if expand is None:
        return invalid(call, "TvdbId", "annexd resolves series through TMDB: configure [tmdb] api_key")
    try:
        expanded: RequestSpec = await call.blocking(lambda: expand(spec))
    except InvalidInputError as exc:
        return invalid(call, "Seasons", str(exc))
    except AnnexdError as exc:
        return message(call, 502, f"could not read the seasons from TMDB: {exc}")
    if not expanded.episodes and spec.monitor == "none":
        return invalid(call, "Seasons", "TMDB lists no episodes for these seasons")
    return expanded


async def update_series(call: Call) -> web.StreamResponse:
    """PUT: seasons newly monitored are added to the request (and followed); tags are kept. Unmonitoring a
    season does not cancel it (cancel in annexd)."""
    body = await _body(call)
    if not isinstance(body, dict):
        return body
    series_id = call.ids.get("id") or body.get("id")
    if not isinstance(series_id, int) or isinstance(series_id, bool) or series_id <= 0:
        return invalid(call, "Id", "'Id' must be greater than '0'.", series_id)
    known = await settings(call)
    found = await entries(call, known, request_ids=[series_id])
    if not found:
        return not_found(call)
    current = found[0]
    held = set(current.requested_seasons or ()) | {i.season for i in current.items}
    new = [n for n in monitored_seasons(body) if n not in held]
    tags = tag_ids(body)
    if new:
        extended = await _extend(call, current, new, tags)
        if extended is not None:
            return extended
    elif tags is not None:
        await call.db(lambda: queries.set_request_tags(series_id, tags))
    found = await entries(call, known, request_ids=[series_id])
    return answer(call, _series(call, await _with_seasons(call, found[0].metadata), found[0], known), 202)


async def _extend(call: Call, current: LibraryEntry, seasons: list[int], tags: list[int] | None
                  ) -> web.StreamResponse | None:
    """Add ``seasons`` (episodes and following) to the request through the one request-per-title operation."""
    meta = current.metadata
    followed = sorted({*(current.monitor_seasons or ()), *(current.requested_seasons or ()), *seasons})
    spec = RequestSpec(kind="tv", title=meta.title, year=meta.year, tmdb_id=meta.tmdb_id, tvdb_id=meta.tvdb_id,
                       imdb_id=meta.imdb_id, seasons=tuple(seasons), requested_by=call.caller.name,
                       monitor="all", monitor_seasons=tuple(followed))
    expanded = await _expand(call, spec)
    if not isinstance(expanded, RequestSpec):
        return expanded
    added = await submit(call, replace(expanded, seasons=tuple(seasons)), tags, new=False)
    return None if isinstance(added, int) else added


async def delete_series(call: Call) -> web.StreamResponse:
    return await delete_title(call, call.ids["id"], call.query.flag("deleteFiles"))


# --- episodes ----------------------------------------------------------------------------------------------
async def list_episodes(call: Call) -> web.StreamResponse:
    try:
        series_id, season = call.query.integer("seriesId"), call.query.integer("seasonNumber")
        episode_ids = call.query.integers("episodeIds")
    except ValueError:
        return message(call, 400, "seriesId, seasonNumber and episodeIds must be numbers")
    if series_id is None and not episode_ids:
        return message(call, 400, "seriesId or episodeIds must be provided")
    with_file = call.query.flag("includeEpisodeFile")
    if series_id is None:
        series_ids = await call.db(lambda: queries.item_request_ids(episode_ids))
    else:
        series_ids = [series_id]
    found = await entries(call, await settings(call), request_ids=series_ids)
    out = [resources.episode(e.id, i, e.monitored, with_file) for e in found for i in e.items
           if (season is None or i.season == season) and (not episode_ids or i.id in episode_ids)]
    return answer(call, out)


async def get_episode(call: Call) -> web.StreamResponse:
    item_id = call.ids["id"]
    series_ids = await call.db(lambda: queries.item_request_ids([item_id]))
    found = await entries(call, await settings(call), request_ids=series_ids)
    for e in found:
        for i in e.items:
            if i.id == item_id:
                return answer(call, resources.episode(e.id, i, e.monitored, True))
    return not_found(call)
