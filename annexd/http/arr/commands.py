"""``command``: the searches start annexd's search at once (Radarr's ``MoviesSearch``, Sonarr's ``SeriesSearch``,
``SeasonSearch``, ``EpisodeSearch``); ``RefreshMovie``, ``RefreshSeries`` and ``RefreshMonitoredDownloads`` (which
Jellyseerr sends) succeed as no-ops (annexd refreshes shows and downloads on its own timers); any other name is
a 400 with the reason. ``GET command[/{id}]`` reports them from :class:`CommandTable`. Not pure: handlers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from annexd.http.arr import resources
from annexd.http.arr.call import BadBody, Call, answer, message, not_found
from annexd.http.arr.titles import KIND, search_now
from store import queries

SEARCHES = {"radarr": ("MoviesSearch",), "sonarr": ("SeriesSearch", "SeasonSearch", "EpisodeSearch")}
NO_OPS = {"radarr": ("RefreshMovie", "RefreshMonitoredDownloads"),
          "sonarr": ("RefreshSeries", "RefreshMonitoredDownloads")}
NO_OP_MESSAGE = "annexd refreshes metadata and downloads on its own timers: nothing to do"


def _ints(value: Any) -> list[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def known_name(app: str, given: str) -> str | None:
    """The command's own spelling when ``given`` names one annexd runs (case-insensitively, "Command" optional)."""
    wanted = given.lower().removesuffix("command")
    return next((n for n in (*SEARCHES[app], *NO_OPS[app]) if n.lower() == wanted), None)


async def post_command(call: Call) -> web.StreamResponse:
    try:
        body = await call.body()
    except BadBody as exc:
        return message(call, 400, str(exc))
    body = body if isinstance(body, dict) else {}
    given = body.get("name")
    name = known_name(call.app, given) if isinstance(given, str) else None
    if name is None:
        runs = ", ".join((*SEARCHES[call.app], *NO_OPS[call.app]))
        return message(call, 400, f"annexd does not run the command {given!r}; it runs {runs}")
    if name in NO_OPS[call.app]:
        text = NO_OP_MESSAGE
    else:
        moved = await _search(call, name, body)
        if not isinstance(moved, int):
            return moved
        text = f"search started: {moved} waiting item(s) made due now"
    record = call.arr.commands[call.app].add(name, {k: v for k, v in body.items() if k != "name"}, call.now(),
                                             text, call.request.headers.get("User-Agent"))
    return answer(call, resources.command(record), 201)


async def _search(call: Call, name: str, body: dict[str, Any]) -> int | web.StreamResponse:
    """Which requests (and season or items) the search names, checked against what the caller may see."""
    if name == "EpisodeSearch":
        item_ids = _ints(body.get("episodeids"))
        if not item_ids:
            return message(call, 400, "EpisodeSearch needs episodeIds")
        series_ids = await _visible(call, await call.db(lambda: queries.item_request_ids(item_ids)))
        return await search_now(call, series_ids, item_ids=item_ids if series_ids else [])
    ids = _ints(body.get("movieids") if name == "MoviesSearch" else body.get("seriesid"))
    if not ids:
        field = "movieIds" if name == "MoviesSearch" else "seriesId"
        return message(call, 400, f"{name} needs {field}")
    season = body.get("seasonnumber")
    if name == "SeasonSearch" and (not isinstance(season, int) or isinstance(season, bool)):
        return message(call, 400, "SeasonSearch needs seasonNumber")
    return await search_now(call, await _visible(call, ids), season=season if name == "SeasonSearch" else None)


async def _visible(call: Call, request_ids: list[int]) -> list[int]:
    kind, who = KIND[call.app], call.visible_to
    rows = await call.db(lambda: queries.library(kind, request_ids=request_ids, visible_to=who))
    return [r.id for r in rows]


async def get_commands(call: Call) -> web.StreamResponse:
    table = call.arr.commands[call.app]
    if "id" in call.ids:
        record = table.get(call.ids["id"])
        return answer(call, resources.command(record)) if record else not_found(call)
    return answer(call, [resources.command(r) for r in table.all()])
