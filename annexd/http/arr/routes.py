"""The route table of the Radarr/Sonarr API and its dispatcher, mounted under ``/radarr`` and ``/sonarr`` only.

aiohttp matches paths case-sensitively, while the apps match path segments and query names case-insensitively
(clients send ``qualityProfile`` and ``qualityprofile``): so each URL base is one catch-all route whose rest is
lower-cased and matched here against :data:`ROUTES`. The key is checked before this, by the API's one key check
(annexd.http.app.require_api_key); only ``/ping`` is open. Not pure: the dispatcher logs each call (the query
with the key masked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog
from aiohttp import web

from annexd.http.arr import commands, movies, queue, series, system
from annexd.http.arr.call import ARR, ArrDeps, Call, Handler, message, version_header
from annexd.http.arr.conventions import APPS, Query
from annexd.redaction import redact_url

log = structlog.get_logger("annexd.http.arr")
RADARR, SONARR, BOTH = ("radarr",), ("sonarr",), APPS
ID = r"(?P<id>\d{1,12})"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below the URL base, lower case; a regular expression
    handler: Handler
    apps: tuple[str, ...] = BOTH

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.path)


V3 = "api/v3/"
ROUTES: tuple[Route, ...] = (
    Route("GET", "ping", system.ping),
    Route("GET", "api", system.api_info),
    Route("GET", V3 + "system/status", system.system_status),
    Route("GET", V3 + "health", system.health),
    Route("GET", V3 + "qualityprofile", system.quality_profiles),
    Route("GET", V3 + f"qualityprofile/{ID}", system.quality_profiles),
    Route("GET", V3 + "rootfolder", system.list_root_folders),
    Route("GET", V3 + f"rootfolder/{ID}", system.list_root_folders),
    Route("POST", V3 + "rootfolder", system.add_root_folder),
    Route("GET", V3 + "tag", system.list_tags),
    Route("GET", V3 + f"tag/{ID}", system.list_tags),
    Route("POST", V3 + "tag", system.create_tag),
    Route("PUT", V3 + "tag", system.update_tag),
    Route("PUT", V3 + f"tag/{ID}", system.update_tag),
    Route("DELETE", V3 + f"tag/{ID}", system.delete_tag),
    Route("GET", V3 + "languageprofile", system.language_profiles, SONARR),
    Route("GET", V3 + f"languageprofile/{ID}", system.language_profiles, SONARR),
    Route("GET", V3 + "queue", queue.queue),
    Route("GET", V3 + "queue/details", queue.queue_details),
    Route("GET", V3 + "queue/status", queue.queue_status),
    Route("POST", V3 + "command", commands.post_command),
    Route("GET", V3 + "command", commands.get_commands),
    Route("GET", V3 + f"command/{ID}", commands.get_commands),
    Route("GET", V3 + "movie/lookup", movies.lookup, RADARR),
    Route("GET", V3 + "movie/lookup/tmdb", movies.lookup_tmdb, RADARR),
    Route("GET", V3 + "movie/lookup/imdb", movies.lookup_imdb, RADARR),
    Route("GET", V3 + "movie", movies.list_movies, RADARR),
    Route("POST", V3 + "movie", movies.add_movie, RADARR),
    Route("PUT", V3 + "movie", movies.update_movie, RADARR),
    Route("GET", V3 + f"movie/{ID}", movies.get_movie, RADARR),
    Route("PUT", V3 + f"movie/{ID}", movies.update_movie, RADARR),
    Route("DELETE", V3 + f"movie/{ID}", movies.delete_movie, RADARR),
    Route("GET", V3 + "series/lookup", series.lookup, SONARR),
    Route("GET", V3 + "series", series.list_series, SONARR),
    Route("POST", V3 + "series", series.add_series, SONARR),
    Route("PUT", V3 + "series", series.update_series, SONARR),
    Route("GET", V3 + f"series/{ID}", series.get_series, SONARR),
    Route("PUT", V3 + f"series/{ID}", series.update_series, SONARR),
    Route("DELETE", V3 + f"series/{ID}", series.delete_series, SONARR),
    Route("GET", V3 + "episode", series.list_episodes, SONARR),
    Route("GET", V3 + f"episode/{ID}", series.get_episode, SONARR),
)
_COMPILED = tuple((route, route.pattern) for route in ROUTES)


def match(app: str, method: str, rest: str) -> tuple[Route | None, dict[str, int], bool]:
    """(the route, its ids, whether the path exists for another method) for ``rest`` below the URL base."""
    path = rest.strip("/").lower()
    other_method = False
    for route, pattern in _COMPILED:
        if app not in route.apps or (m := pattern.fullmatch(path)) is None:
            continue
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            return route, {k: int(v) for k, v in m.groupdict().items()}, False
        other_method = True
    return None, {}, other_method


async def dispatch(request: web.Request) -> web.StreamResponse:
    app = request.match_info["base"].lower()
    route, ids, other_method = match(app, request.method, request.match_info["rest"])
    log.info("arr_call", app=app, method=request.method, path=request.path,
             query=redact_url("?" + request.query_string)[1:] if request.query_string else None)
    if route is None:
        status = 405 if other_method else 404
        return web.Response(status=status, headers=version_header(app),
                            text="" if status == 405 else None)
    call = Call(request, app, ids, Query.of(request.query.items()))
    try:
        return await route.handler(call)
    except ValueError as exc:  # a malformed value a handler did not expect: the caller's input, not a crash
        return message(call, 400, f"invalid input: {exc}")


def mount(app: web.Application, deps: ArrDeps) -> None:
    """Serve the Radarr API under /radarr and the Sonarr API under /sonarr."""
    app[ARR] = deps
    app.router.add_route("*", r"/{base:radarr|sonarr}/{rest:.*}", dispatch)
