"""One call to the Radarr/Sonarr API as its handlers see it (:class:`Call`: which app, the path's ids, the
query matched case-insensitively, the caller), the API's own dependencies (:class:`ArrDeps`) and its answers:
JSON with nulls dropped and ``X-Application-Version``, the 400 validation array, ``{message}`` errors.
Not pure: reads the request and the app's state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from annexd.clients.tmdb import TmdbClient
from annexd.domain.users import Caller
from annexd.http.app import CALLER, DEPS, HttpDeps, in_db, visible_to
from annexd.http.arr.command_table import CommandTable
from annexd.http.arr.conventions import APPS, VERSIONS, Query, clean, lower_keys, validation_error
from annexd.http.validation import BodyError, parse_json_body

MAX_BODY = 2_000_000


@dataclass
class ArrDeps:
    tmdb: TmdbClient | None = None
    started: datetime = field(default_factory=datetime.now)
    commands: dict[str, CommandTable] = field(default_factory=lambda: {app: CommandTable() for app in APPS})


ARR = web.AppKey("arr", ArrDeps)


@dataclass(frozen=True)
class Call:
    request: web.Request
    app: str  # "radarr" | "sonarr"
    ids: dict[str, int]
    query: Query

    @property
    def deps(self) -> HttpDeps:
        return self.request.app[DEPS]

    @property
    def arr(self) -> ArrDeps:
        return self.request.app[ARR]

    @property
    def caller(self) -> Caller:
        return self.request[CALLER]

    @property
    def visible_to(self) -> str | None:
        """Whose requests the caller may see: None for an admin (all), else the requester's own."""
        return visible_to(self.request)

    def now(self) -> datetime:
        return self.deps.ctx.clock()

    async def db(self, fn: Callable[[], Any]) -> Any:
        """A blocking store call on the API executor (one pooled connection)."""
        return await in_db(self.request, fn)

    async def blocking(self, fn: Callable[[], Any]) -> Any:
        """A blocking call that needs no database (TMDB, a target's transport) on the default executor."""
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def body(self) -> Any:
        """The JSON body with its keys lower-cased, or :class:`BadBody`."""
        if self.request.content_length is not None and self.request.content_length > MAX_BODY:
            raise BadBody("body too large (max 2 MB)")
        raw = await self.request.read()
        try:
            return lower_keys(parse_json_body(raw)) if raw.strip() else {}
        except BodyError as exc:
            raise BadBody(exc.reason) from None


class BadBody(Exception):
    pass


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


def version_header(app: str) -> dict[str, str]:
    return {"X-Application-Version": VERSIONS[app]}


def answer(call: Call, data: Any, status: int = 200) -> web.Response:
    """JSON in the apps' conventions (nulls dropped, id 0 dropped)."""
    return web.Response(body=json.dumps(clean(data)).encode(), status=status, content_type="application/json",
                        headers=version_header(call.app))


def empty(call: Call, status: int = 200) -> web.Response:
    return web.Response(status=status, headers=version_header(call.app))


def message(call: Call, status: int, text: str, description: str | None = None) -> web.Response:
    """The apps' error body for everything but validation: ``{message, description?}``."""
    return answer(call, {"message": text, "description": description}, status)


def not_found(call: Call, what: str = "NotFound") -> web.Response:
    return message(call, 404, what)


def invalid(call: Call, prop: str, text: str, attempted: Any = None) -> web.Response:
    """400 with the validation array of one error."""
    return answer(call, [validation_error(prop, text, attempted)], 400)
