"""A fake TMDB v3 API: /3/tv/{id}, /3/tv/{id}/season/{n}, /3/movie/{id}, /3/search/movie, /3/search/tv and
/3/find/{id}?external_source=tvdb_id|imdb_id, checking ``api_key``.

Errors use TMDB's JSON shape ``{"success": false, "status_code": N, "status_message": "..."}``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.torznab import serve_in_thread

SHOWS: dict[int, dict[str, Any]] = {
    1399: {
        "id": 1399, "name": "Game of Thrones", "original_name": "Game of Thrones", "first_air_date": "2011-04-17",
        "number_of_seasons": 2,
        "seasons": [
            {"season_number": 0, "episode_count": 2, "name": "Specials", "air_date": "2010-12-05"},
            {"season_number": 1, "episode_count": 3, "name": "Season 1", "air_date": "2011-04-17"},
            {"season_number": 2, "episode_count": 2, "name": "Season 2", "air_date": "2012-04-01"},
        ],
        "external_ids": {"imdb_id": "tt0944947", "tvdb_id": 121361},
    },
}
SEASONS: dict[tuple[int, int], list[dict[str, Any]]] = {
    (1399, 0): [{"episode_number": 1, "name": "Inside Game of Thrones", "air_date": "2010-12-05"},
                {"episode_number": 2, "name": "Making Game of Thrones", "air_date": None}],
    (1399, 1): [{"episode_number": 1, "name": "Winter Is Coming", "air_date": "2011-04-17"},
                {"episode_number": 2, "name": "The Kingsroad", "air_date": "2011-04-24"},
                {"episode_number": 3, "name": "Lord Snow", "air_date": "2011-05-01"}],
    (1399, 2): [{"episode_number": 1, "name": "The North Remembers", "air_date": "2012-04-01"},
                {"episode_number": 2, "name": "The Night Lands", "air_date": "2012-04-08"}],
}
MOVIES: dict[int, dict[str, Any]] = {
    603: {"id": 603, "title": "The Matrix", "original_title": "The Matrix", "release_date": "1999-03-30",
          "imdb_id": "tt0133093", "overview": "A hacker learns what the world really is.",
          "poster_path": "/matrix.jpg"},
    604: {"id": 604, "title": "The Matrix Reloaded", "original_title": "The Matrix Reloaded",
          "release_date": "2003-05-15", "imdb_id": "tt0234215"},
}


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"success": False, "status_code": code, "status_message": message},
                             status=status, headers=headers)


class FakeTmdb:
    def __init__(self, api_key: str = "tmdb-s3cr3t"):
        self.api_key = api_key
        self.mode = "normal"  # "normal" | "http429" | "malformed" | "slow"
        self.slow_seconds = 3.0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self.base_url = ""
        self._stop: Callable[[], None] | None = None

    def start(self) -> FakeTmdb:
        app = web.Application()
        app.router.add_get("/3/tv/{id}", self._tv)
        app.router.add_get("/3/tv/{id}/season/{n}", self._season)
        app.router.add_get("/3/movie/{id}", self._movie)
        app.router.add_get("/3/search/movie", self._search_movie)
        app.router.add_get("/3/search/tv", self._search_tv)
        app.router.add_get("/3/find/{id}", self._find)
        url, self._stop = serve_in_thread(app)
        self.base_url = url + "/3"
        return self

    def stop(self) -> None:
        if self._stop:
            self._stop()

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    async def _check(self, request: web.Request) -> web.Response | None:
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        with self._lock:
            self.requests.append((request.path, dict(request.query)))
        if request.query.get("api_key") != self.api_key:
            return _error(401, 7, "Invalid API key: You must be granted a valid key.")
        if self.mode == "http429":
            return _error(429, 25, "Your request count (41) is over the allowed limit of 40.",
                          {"Retry-After": "7"})
        if self.mode == "malformed":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        return None

    async def _tv(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        show = SHOWS.get(int(request.match_info["id"]))
        if show is None:
            return _error(404, 34, "The resource you requested could not be found.")
        body = dict(show)
        if "external_ids" not in request.query.get("append_to_response", ""):
            body.pop("external_ids")
        return web.json_response(body)

    async def _season(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        key = (int(request.match_info["id"]), int(request.match_info["n"]))
        if key not in SEASONS:
            return _error(404, 34, "The resource you requested could not be found.")
        episodes = [{**e, "season_number": key[1]} for e in SEASONS[key]]
        return web.json_response({"season_number": key[1], "episodes": episodes})

    async def _movie(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        movie = MOVIES.get(int(request.match_info["id"]))
        if movie is None:
            return _error(404, 34, "The resource you requested could not be found.")
        return web.json_response(movie)

    async def _search_movie(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        query, year = request.query.get("query", "").lower(), request.query.get("year")
        found = [m for m in MOVIES.values() if query and query in m["title"].lower()
                 and (not year or m["release_date"].startswith(year))]
        return web.json_response(_page([{k: v for k, v in m.items() if k != "imdb_id"} for m in found]))

    async def _search_tv(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        query = request.query.get("query", "").lower()
        found = [_show_summary(s) for s in SHOWS.values() if query and query in s["name"].lower()]
        return web.json_response(_page(found))

    async def _find(self, request: web.Request) -> web.Response:
        if (refused := await self._check(request)) is not None:
            return refused
        source, wanted = request.query.get("external_source"), request.match_info["id"]
        if source not in ("tvdb_id", "imdb_id"):
            return _error(400, 22, "Invalid external source.")
        shows = [_show_summary(s) for s in SHOWS.values() if str(s["external_ids"].get(source)) == wanted]
        movies = [m for m in MOVIES.values() if source == "imdb_id" and m.get("imdb_id") == wanted]
        return web.json_response({"movie_results": movies, "tv_results": shows, "person_results": [],
                                  "tv_episode_results": [], "tv_season_results": []})


def _page(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"page": 1, "results": results, "total_pages": 1, "total_results": len(results)}


def _show_summary(show: dict[str, Any]) -> dict[str, Any]:
    """A show as TMDB's search and find list it: no seasons, no external ids."""
    return {k: show[k] for k in ("id", "name", "original_name", "first_air_date") if k in show}
