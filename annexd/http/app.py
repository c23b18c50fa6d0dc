"""The aiohttp application. API handlers read the store on a bounded executor (one pooled connection per call;
past its queue they answer 503 with Retry-After) and tell actors; they never wait on a pykka future.
``/health`` reports the last results of checks run on their own timer (annexd.health) and ``/metrics`` reads
item counts from a cache refreshed on its own thread, so neither ever queues behind API work. At shutdown the queued API calls are cancelled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, cast

import peewee
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actors.context import ActorContext
from actors.messages import SyncFeeds
from annexd import __version__, metrics
from annexd.domain.live import LiveProgress
from annexd.domain.monitoring import Monitoring
from annexd.domain.notifications import Kind
from annexd.domain.pipeline import ProcessingStatus, RequestStatus
from annexd.domain.request_specs import RequestSpec
from annexd.domain.users import Caller, key_hash
from annexd.errors import (
    AnnexdError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    StateConflictError,
)
from annexd.health import HealthMonitor
from annexd.http import openapi, page, views
from annexd.http.auth import (
    ADMIN_PATHS,
    KEY_SECONDS,
    SESSION_COOKIE,
    Access,
    arr_presented_key,
    is_arr_path,
    metrics_public,
    presented_key,
)
from annexd.http.executors import BoundedExecutor, Cached, Overloaded, Recent, Shared
from annexd.http.validation import (
    MAX_DB_INT,
    BodyError,
    parse_approval_body,
    parse_decline_body,
    parse_json_body,
    parse_page,
    parse_request_body,
)
from store import queries
from store.db import export_pool_metrics

log = structlog.get_logger("annexd.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HttpDeps:
    ctx: ActorContext
    # The checks behind /health, run on their own timer (an empty monitor: nothing is checked).
    health: HealthMonitor = field(default_factory=lambda: HealthMonitor([]))
    # Turns a TV request with seasons but no episodes into episodes (TMDB), or None when not configured.
    expand_seasons: Callable[[Any], Any] | None = None
    on_request_created: Callable[[int], None] | None = None
    # (request id, the downloads its items use): told before a DELETE removes the rows.
    on_request_cancelled: Callable[[int, tuple[int, ...]], None] | None = None
    executor: BoundedExecutor = field(
        default_factory=lambda: BoundedExecutor(API_THREADS, API_MAX_PENDING, "http-db"))
    # Key lookups (one indexed row each): apart from API work, so /api/v1/status and a /metrics scrape with a
    # key still answer while the API queue is full.
    auth_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(AUTH_THREADS, thread_name_prefix="http-auth"))
    # Identical reads (and key lookups) in flight at once share one run; writes start a new generation.
    shared: Shared = field(default_factory=Shared)
    keys: Recent[str, Caller] = field(default_factory=lambda: Recent(KEY_SECONDS))  # by the key's hash
    # A list's total (a count over every request at a million items), kept a moment while nothing was written.
    totals: Recent[tuple[str | None, str | None], int] = field(default_factory=lambda: Recent(TOTAL_SECONDS))
    counts: Cached[dict[str, int]] | None = None  # made by make_app over ctx.db unless given
    metrics_body: Cached[bytes] | None = None  # made by make_app
    # Whether /metrics is open and the page's sessions. None: from the config, and the configured http.api_key
    # becomes admin's key if admin has none yet (the daemon does that itself, with the resolved key).
    access: Access | None = None

    def __post_init__(self) -> None:
        if self.access is None:
            http = self.ctx.config.http
            self.access = Access(metrics_public(http.metrics_public, http.host))
            with self.ctx.db.connection_context():
                queries.adopt_config_key(http.api_key, self.ctx.clock())

    def shutdown(self) -> None:
        """Cancel the queued work of every executor (running calls finish on their own)."""
        self.executor.shutdown()
        self.auth_executor.shutdown(wait=False, cancel_futures=True)
        for cache in (self.counts, self.metrics_body):
            if cache is not None:
                cache.shutdown()


DEPS = web.AppKey("deps", HttpDeps)
CALLER = web.RequestKey("caller", Caller)  # the user whose key the call came with, and its rights
BIG_BODY = 64 * 1024  # bodies larger than this are parsed off the event loop
API_THREADS = 2  # threads for API database work (each holds one pooled connection while it runs)
API_MAX_PENDING = 64  # API calls running or queued; past it 503 + Retry-After
COUNTS_TIMEOUT_S = 10.0  # the longest /metrics waits for fresh item counts
AUTH_THREADS = 2
COUNTS_MAX_AGE_S = 5.0  # item counts by status: a full count at most every 5 s...
COUNTS_MAX_STALE_S = 10.0  # ...and never older than 10 s (a count at 1M items takes ~0.3 s to wait for)
TOTAL_SECONDS = 2.0  # a list's total is at most this old, and never from before a write through the API
METRICS_MAX_AGE_S = 1.0  # a scrape body is rendered at most once a second...
METRICS_MAX_STALE_S = 2.0  # ...and a scrape never gets one older than 2 s (rendering takes milliseconds)


def error(status: int, message: str, details: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status)


def _with_connection(deps: HttpDeps, fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with deps.ctx.db.connection_context():
            return fn()

    return call


async def in_db(request: web.Request, fn: Callable[[], Any]) -> Any:
    """Run a blocking store call on the API executor, holding one pooled connection (Overloaded when full)."""
    deps = request.app[DEPS]
    return await deps.executor.run(_with_connection(deps, fn))


async def shared_read(request: web.Request, fn: Callable[[], Any]) -> Any:
    """:func:`in_db` for a read whose answer depends only on its URL and its caller: identical calls in flight
    at the same time (32 clients polling one page) share one run instead of queueing 32."""
    deps = request.app[DEPS]
    caller = request.get(CALLER)
    key = ("read", request.method, request.path, request.query_string, caller.name if caller else None)
    return await deps.shared.run(key, lambda: deps.executor.submit(_with_connection(deps, fn)))


def access_of(request: web.Request) -> Access:
    access = request.app[DEPS].access
    assert access is not None  # set in HttpDeps.__post_init__
    return access


# Headers of an aiohttp error answer that a client needs (405's Allow above all).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
_REASONS = {404: "not found", 413: "body too large (max 2 MB)"}


def http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """A 4xx raised by aiohttp (no route, wrong method, body too large...) or a handler, as our JSON error:
    the handler's own text when it gave one, the headers a client needs kept."""
    given = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else None
    reason = given or _REASONS.get(exc.status) or (
        f"method {request.method} not allowed here" if exc.status == 405 else exc.reason)
    response = error(exc.status, reason)
    response.headers.update({k: v for k, v in exc.headers.items() if k in _KEPT_HEADERS})
    return response


# --- middlewares ----------------------------------------------------------------------------------------
@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    try:
        response = await _handle(request, handler)
    except web.HTTPException as exc:
        metrics.HTTP_REQUESTS.labels(route, str(exc.status)).inc()
        if 400 <= exc.status < 500:
            return http_error(request, exc)
        raise
    except Overloaded as exc:
        metrics.HTTP_REQUESTS.labels(route, "503").inc()
        response = error(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        metrics.HTTP_REQUESTS.labels(route, "503").inc()
        log.warning("database_unavailable", route=route, error=str(exc)[:200])
        return error(503, "database unavailable, try again shortly")
    except Exception:
        metrics.HTTP_REQUESTS.labels(route, "500").inc()
        log.exception("http_handler_failed", route=route)
        return error(500, "internal error (logged)")
    metrics.HTTP_REQUESTS.labels(route, str(response.status)).inc()
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler; after anything but a read, reads start afresh (none joins a run from before the write)."""
    try:
        return await handler(request)
    finally:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            request.app[DEPS].shared.new_generation()


async def has_valid_key(request: web.Request) -> bool:
    """Whether the caller holds a user's API key (what /health shows depends on it): the middleware's lookup.
    With the database away the key cannot be checked: the caller sees the status only."""
    key = presented_key(request.headers)
    if key is None:
        return False
    try:
        return await caller_of_key(request, key) is not None
    except (peewee.OperationalError, peewee.InterfaceError):
        return False


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route needs a user's key, GETs too; only what :meth:`Access.is_open` names is served without it.
    Operations routes (:data:`ADMIN_PATHS`) need an admin's. The Radarr/Sonarr API's key goes through the same
    check (taken from ``?apikey=`` too)."""
    access = access_of(request)
    if access.is_open(request.path):
        return await handler(request)
    arr = is_arr_path(request.path)
    key = arr_presented_key(request.query, request.headers) if arr else presented_key(request.headers)

    caller = await caller_of_key(request, key)
    if caller is None:
        if arr:  # as Radarr and Sonarr answer: 401 with an empty body
            return web.Response(status=401)
        if not await _key_check(request, queries.any_key):
            return error(401, "the API is closed: no API key is configured (set ANNEX_API_KEY, or "
                              "`annexd user key admin`)")
        response = error(401, "missing or wrong API key (X-Api-Key header or Authorization: Bearer)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="annexd"'
        return response
    if request.path in ADMIN_PATHS and not caller.is_admin:
        return error(403, "this route is for admins")
    request[CALLER] = caller
    return await handler(request)


async def _key_check(request: web.Request, check: Callable[[], Any]) -> Any:
    """The key lookup, on its own threads: never queued behind API work."""
    deps = request.app[DEPS]
    return await asyncio.wrap_future(deps.auth_executor.submit(_with_connection(deps, check)))


async def caller_of_key(request: web.Request, key: str | None) -> Caller | None:
    """The user holding ``key`` (:func:`_key_check`): known for a moment after a lookup (:class:`KnownKeys`);
    lookups of one key in flight at once share one query."""
    if not key:
        return None
    deps = request.app[DEPS]
    generation, hashed = queries.users_generation(), key_hash(key)
    known = deps.keys.get(hashed, generation)
    if known is not None:
        return known
    call = _with_connection(deps, lambda: queries.caller_by_key(key))
    caller = await deps.shared.run(("key", hashed), lambda: deps.auth_executor.submit(call))
    if caller is not None:
        deps.keys.put(hashed, generation, caller)
    return cast(Caller | None, caller)


def visible_to(request: web.Request) -> str | None:
    """Whose requests the caller may see: None for an admin (all), else the requester's own name."""
    caller = request[CALLER]
    return None if caller.is_admin else caller.name


# --- helpers ---------------------------------------------------------------------------------------------
def _id(request: web.Request) -> int:
    value = int(request.match_info["id"])
    if not 1 <= value <= MAX_DB_INT:
        raise web.HTTPNotFound()
    return value


async def _json_body(request: web.Request) -> Any:
    """The JSON body, or _BadRequest with the reason: too large (413), not UTF-8 JSON, too deep, numbers too
    long, invalid Unicode (400)."""
    if request.content_length is not None and request.content_length > 2_000_000:
        raise _BadRequest(413, "body too large (max 2 MB)")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _BadRequest(413, "body too large (max 2 MB)") from None
    try:
        if len(raw) <= BIG_BODY:
            return parse_json_body(raw)
        return await asyncio.get_running_loop().run_in_executor(None, parse_json_body, raw)
    except BodyError as exc:
        raise _BadRequest(exc.status, exc.reason) from None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


# --- handlers ----------------------------------------------------------------------------------------------
async def create_request(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        body = await _json_body(request)
    except _BadRequest as exc:
        return error(exc.status, exc.message)
    parsed, problems = parse_request_body(body, deps.ctx.config.requests.monitor)
    if parsed is None:
        return error(422, "invalid request", problems)
    spec: RequestSpec = parsed
    if spec.kind == "tv" and not spec.episodes:
        if deps.expand_seasons is None:
            return error(422, "invalid request",
                         {"episodes": "required: no TMDB API key is configured to expand seasons"})
        try:
            expand, asked = deps.expand_seasons, spec
            spec = await deps.executor.run(lambda: expand(asked))
        except InvalidInputError as exc:
            return error(422, "invalid request", {"seasons": str(exc)})
        except AnnexdError as exc:
            return error(502, f"could not expand seasons from TMDB: {exc}")
        if spec.seasons is None and spec.monitor != "none":
            spec = followed_only(spec, deps.ctx.clock().date())
        elif not spec.episodes:
            return error(422, "invalid request", {"seasons": "TMDB lists no episodes for these seasons"})
    return await _submit(request, spec)


async def _submit(request: web.Request, spec: RequestSpec) -> web.Response:
    """Submit as the caller, one request per title: 201 for a new title, 200 with what was added to the request
    holding it, 409 when nothing is new; 429 past a requester's quota. What is new waits for approval unless the
    caller auto-approves the type (then nothing is woken: only an approval starts it)."""
    deps = request.app[DEPS]
    caller, now, quotas = request[CALLER], deps.ctx.clock(), deps.ctx.config.quotas
    try:
        outcome, waits = await in_db(request, lambda: queries.submit_as(caller, spec, now, quotas.movies(),
                                                                         quotas.seasons()))
    except QuotaExceededError as exc:
        return quota_exceeded(exc, now)
    except InvalidInputError as exc:
        return error(422, "invalid request", {"quota": str(exc)})
    rid = outcome.request_id
    headers = {"Location": f"/api/v1/requests/{rid}"}
    if not outcome.changed:
        return web.json_response({"error": f"request {rid} already holds this title and everything asked for",
                                  "id": rid}, status=409, headers=headers)
    log.info("request_submitted", request_id=rid, created=outcome.created, kind=spec.kind, title=spec.title,
             added=outcome.added.as_dict() if not outcome.created else None, requested_by=caller.name,
             pending_approval=waits)
    if deps.on_request_created and not waits:
        deps.on_request_created(rid)
    if outcome.created:
        return web.json_response({"id": rid, "pending_approval": waits}, status=201, headers=headers)
    return web.json_response({"id": rid, "added": outcome.added.as_dict(), "pending_approval": waits},
                             status=200, headers=headers)


def quota_exceeded(exc: QuotaExceededError, now: Any) -> web.Response:
    """429 with Retry-After (seconds) and when the quota has room again."""
    resets_at = exc.resets_at
    wait = max(1, int((resets_at - now).total_seconds()) + 1) if resets_at is not None else 3600
    response = web.json_response({"error": str(exc), "resets_at": views.iso(resets_at)}, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def followed_only(spec: RequestSpec, today: date) -> RequestSpec:
    """A followed show named without episodes or seasons starts with the episodes it follows (possibly none
    yet: the TMDB refresh adds them as they are announced)."""
    monitoring = Monitoring(spec.monitor, spec.monitor_seasons)
    return replace(spec, episodes=tuple(ep for ep in spec.episodes if monitoring.follows(ep, today)))


async def list_requests(request: web.Request) -> web.Response:
    page_no, per_page, problems = parse_page(dict(request.query))
    status_raw = request.query.get("status")
    status = None
    if status_raw is not None:
        try:
            status = RequestStatus(status_raw.upper())
        except ValueError:
            problems.add("status", f"must be one of {', '.join(s.value for s in RequestStatus)}")
    if problems:
        return error(400, "invalid query", problems)
    deps, who = request.app[DEPS], visible_to(request)
    generation, counted = deps.shared.generation, (status.value if status else None, who)

    def load() -> bytes:
        rows, total = queries.list_requests(status, (page_no - 1) * per_page, per_page, deps.ctx.live,
                                            visible_to=who, total=deps.totals.get(counted, generation))
        deps.totals.put(counted, generation, total)
        return _json_bytes({"page": page_no, "per_page": per_page, "total": total,
                            "requests": [views.request_view(req, summary) for req, summary in rows]})

    return _json_answer(await shared_read(request, load))


def _json_bytes(data: Any) -> bytes:
    """JSON encoded where the view was built (on the executor's thread), not on the event loop."""
    return json.dumps(data).encode()


def _json_answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


async def _request_json(request: web.Request, render: Callable[[int, LiveProgress], Any]) -> web.Response:
    """The JSON ``render`` makes of the request id in the path (in the DB thread pool), or 404."""
    request_id = _id(request)
    live, who = request.app[DEPS].ctx.live, visible_to(request)

    def load() -> bytes | None:
        try:
            if who is not None:
                queries.get_request(request_id, who)  # another user's request: 404, as an unknown one
            return _json_bytes(render(request_id, live))
        except NotFoundError:
            return None

    body = await shared_read(request, load)
    return _json_answer(body) if body is not None else error(404, f"request {request_id} not found")


def _request(request_id: int, live: LiveProgress) -> dict[str, Any]:
    row = queries.request_row(request_id)
    return views.request_view(row, queries.request_summary(row, live))


def _episodes(request_id: int, live: LiveProgress) -> dict[str, Any]:
    queries.get_request(request_id)  # 404 for an unknown request
    return views.episodes_view(queries.request_episode_rows(request_id), live)


async def get_request(request: web.Request) -> web.Response:
    return await _request_json(request, _request)


async def request_episodes(request: web.Request) -> web.Response:
    return await _request_json(request, _episodes)


def _items_with_deliveries(request_id: int, live: LiveProgress) -> dict[str, Any]:
    queries.get_request(request_id)
    items = queries.request_items(request_id)
    deliveries = queries.deliveries_by_item([i.id for i in items])
    hashes = queries.download_hashes([i.id for i in items if i.download_id is not None])
    return {"items": [views.item_view(i, deliveries.get(i.id, []), live, hashes.get(i.id)) for i in items]}


async def request_items(request: web.Request) -> web.Response:
    return await _request_json(request, _items_with_deliveries)


async def cancel_request(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    request_id = _id(request)
    now, who = deps.ctx.clock(), visible_to(request)

    def cancel() -> tuple[int, tuple[int, ...]]:
        queries.get_request(request_id, who)
        return queries.cancel_request(request_id, now), tuple(queries.request_download_ids(request_id))

    try:
        moved, downloads = await in_db(request, cancel)
    except NotFoundError as exc:
        return error(404, str(exc))
    if deps.on_request_cancelled:
        deps.on_request_cancelled(request_id, downloads)
    return web.json_response({"id": request_id, "cancelled_items": moved})


async def delete_request(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    request_id = _id(request)
    now, who = deps.ctx.clock(), visible_to(request)

    def delete() -> tuple[int, ...]:
        queries.get_request(request_id, who)
        queries.cancel_request(request_id, now)
        downloads = tuple(queries.request_download_ids(request_id))
        queries.delete_request(request_id)
        return downloads

    try:
        downloads = await in_db(request, delete)
    except NotFoundError as exc:
        return error(404, str(exc))
    # The torrents go after the rows: the hook carries the downloads the request used.
    if deps.on_request_cancelled:
        deps.on_request_cancelled(request_id, downloads)
    return web.Response(status=204)


def visible_item(item_id: int, who: str | None) -> Any:
    """The item, or NotFoundError when it does not exist or belongs to a request ``who`` may not see."""
    item = queries.get_item(item_id)
    try:
        queries.get_request(item.request_id, who)
    except NotFoundError:
        raise NotFoundError(f"item {item_id} not found") from None
    return item


async def get_item(request: web.Request) -> web.Response:
    item_id = _id(request)
    live, who = request.app[DEPS].ctx.live, visible_to(request)

    def load() -> dict[str, Any]:
        item = visible_item(item_id, who)
        hashes = queries.download_hashes([item_id] if item.download_id is not None else [])
        return views.item_view(item, queries.deliveries_by_item([item_id]).get(item_id, []), live,
                               hashes.get(item_id))

    try:
        return web.json_response(await in_db(request, load))
    except NotFoundError as exc:
        return error(404, str(exc))


# A named status operation refused: what that means to an HTTP client.
REFUSAL_CODES: tuple[tuple[type[AnnexdError], int], ...] = (
    (NotFoundError, 404), (StateConflictError, 409), (InvalidInputError, 422))


async def _move_item(request: web.Request, item_id: int, operation: Callable[[], ProcessingStatus],
                     worker: str, reason: str) -> web.Response:
    """Run a named status operation on an item (in the DB pool); wake ``worker`` once the item moved."""
    try:
        status = await in_db(request, operation)
    except (NotFoundError, StateConflictError, InvalidInputError) as exc:
        return error(next(code for kind, code in REFUSAL_CODES if isinstance(exc, kind)), str(exc))
    request.app[DEPS].ctx.wake(worker, reason)
    return web.json_response({"id": item_id, "status": status.value})


RETRY_FROM = ("search",)  # the stages a retry may be asked to start from (without one: where it failed)


async def retry_item(request: web.Request) -> web.Response:
    """A FAILED item resumes where it failed (its inputs permitting), or from the search with
    ``{"from": "search"}``; the body is optional. 409 when the item is not FAILED."""
    deps = request.app[DEPS]
    item_id = _id(request)
    from_search = False
    if request.can_read_body:
        try:
            body = await _json_body(request) if (await request.read()).strip() else {}
        except _BadRequest as exc:
            return error(exc.status, exc.message)
        if not isinstance(body, dict):
            return error(422, "invalid request", {"body": "must be a JSON object"})
        start = body.get("from")
        if start is not None and start not in RETRY_FROM:
            return error(422, "invalid request", {"from": f"must be one of {', '.join(RETRY_FROM)} (or absent)"})
        from_search = start == "search"
    now, who = deps.ctx.clock(), visible_to(request)

    def retry() -> tuple[ProcessingStatus, str]:
        visible_item(item_id, who)
        return queries.retry_item(item_id, now, from_search=from_search)

    try:
        status, stage = await in_db(request, retry)
    except (NotFoundError, StateConflictError) as exc:
        return error(next(code for kind, code in REFUSAL_CODES if isinstance(exc, kind)), str(exc))
    deps.ctx.wake(stage, "item retried")
    return web.json_response({"id": item_id, "status": status.value, "resumed_at": stage})


async def accept_release(request: web.Request) -> web.Response:
    """A person takes one of the kept lower-quality alternatives of a QUALITY_UNAVAILABLE item."""
    deps = request.app[DEPS]
    item_id = _id(request)
    try:
        body = await _json_body(request)
    except _BadRequest as exc:
        return error(exc.status, exc.message)
    release_id = body.get("release_id") if isinstance(body, dict) else None
    if not isinstance(release_id, str) or not release_id or len(release_id) > 200:
        return error(422, "invalid request", {"release_id": "required: the guid of one available release"})
    now, who = deps.ctx.clock(), visible_to(request)

    def accept() -> ProcessingStatus:
        visible_item(item_id, who)
        return queries.accept_release(item_id, release_id, now)

    return await _move_item(request, item_id, accept, "download", "release accepted")


async def approve_request(request: web.Request) -> web.Response:
    """An admin approves the request's pending items (all, ``seasons`` or ``items``); search is woken at once."""
    if not request[CALLER].is_admin:
        return error(403, "only an admin approves requests")
    deps = request.app[DEPS]
    request_id = _id(request)
    try:
        body = await _json_body(request)
    except _BadRequest as exc:
        return error(exc.status, exc.message)
    choice, problems = parse_approval_body(body)
    if choice is None:
        return error(422, "invalid approval", problems)
    seasons, items = choice
    by, now = request[CALLER].name, deps.ctx.clock()
    try:
        moved = await in_db(request, lambda: queries.approve(request_id, by, now, seasons=seasons, item_ids=items))
    except (NotFoundError, StateConflictError, InvalidInputError) as exc:
        return error(next(code for kind, code in REFUSAL_CODES if isinstance(exc, kind)), str(exc))
    metrics.APPROVALS.labels("approve", "person").inc()
    deps.ctx.wake("search", f"request {request_id} approved")
    log.info("request_approved", request_id=request_id, by=by, items=len(moved))
    return web.json_response({"id": request_id, "approved_items": moved})


async def decline_request(request: web.Request) -> web.Response:
    """An admin declines: every pending item is cancelled with the reason."""
    if not request[CALLER].is_admin:
        return error(403, "only an admin declines requests")
    deps = request.app[DEPS]
    request_id = _id(request)
    try:
        body = await _json_body(request) if request.can_read_body else {}
    except _BadRequest as exc:
        return error(exc.status, exc.message)
    reason, problems = parse_decline_body(body)
    if problems:
        return error(422, "invalid decline", problems)
    by, now = request[CALLER].name, deps.ctx.clock()
    try:
        moved = await in_db(request, lambda: queries.decline(request_id, by, now, reason))
    except (NotFoundError, StateConflictError) as exc:
        return error(404 if isinstance(exc, NotFoundError) else 409, str(exc))
    metrics.APPROVALS.labels("decline", "person").inc()
    log.info("request_declined", request_id=request_id, by=by, items=len(moved))
    return web.json_response({"id": request_id, "declined_items": moved})


def _approvals(request_id: int, live: LiveProgress) -> dict[str, Any]:
    queries.get_request(request_id)  # 404 for an unknown request
    return {"approvals": [views.approval_view(a) for a in queries.approval_history(request_id)]}


async def request_approvals(request: web.Request) -> web.Response:
    return await _request_json(request, _approvals)


async def whoami(request: web.Request) -> web.Response:
    """The caller: name, role, auto-approve and quotas (never the key)."""
    name = request[CALLER].name
    return web.json_response(views.user_view(await in_db(request, lambda: queries.get_user(name))))


async def notifications(request: web.Request) -> web.Response:
    """The outbox by destination and status (pending, sent, failed)."""
    counts = await in_db(request, queries.notification_counts)
    return web.json_response({"destinations": [{"name": d.name, "kind": d.kind, "events": list(d.events),
                                                "counts": counts.get(d.name, {})}
                                               for d in request.app[DEPS].ctx.config.notifications]})


async def test_notification(request: web.Request) -> web.Response:
    """Send a Test event to every destination (through the outbox, as any event)."""
    deps = request.app[DEPS]
    now = deps.ctx.clock()
    await in_db(request, lambda: queries.record_event(
        Kind.TEST, {"message": f"test notification requested by {request[CALLER].name}"}, now))
    deps.ctx.wake("notify", "test notification")
    return web.json_response({"status": "accepted"}, status=202)


def _counts(request: web.Request) -> Awaitable[dict[str, int]]:
    counts = request.app[DEPS].counts
    assert counts is not None  # make_app sets it
    return counts.get()


async def health(request: web.Request) -> web.Response:
    """The checks' last results, from their own timer (nothing is checked here): ok and degraded answer 200,
    down 503. Only callers with the API key see each check, its detail and its age."""
    monitor = request.app[DEPS].health
    keyed = await has_valid_key(request)  # first: the status and the checks below are read together
    status = monitor.status()
    body: dict[str, Any] = {"status": status}
    if keyed:
        body.update(version=__version__, checks=monitor.report())
    return web.json_response(body, status=503 if status == "down" else 200)


def _render_metrics(deps: HttpDeps) -> bytes:
    """The /metrics body (on the metrics cache's thread): actor and pool gauges, item counts, the registry."""
    views.export_actor_metrics(deps.ctx)
    export_pool_metrics(deps.ctx.db)
    assert deps.counts is not None
    try:
        counts = deps.counts.get_blocking(COUNTS_TIMEOUT_S)
        for status in ProcessingStatus:
            metrics.ITEMS.labels(status.value).set(counts.get(status.value, 0))
    except (peewee.OperationalError, peewee.InterfaceError, TimeoutError):
        pass  # the scrape still answers; annexd_items keeps its last values
    return generate_latest(metrics.REGISTRY)


async def metrics_endpoint(request: web.Request) -> web.Response:
    body_cache = request.app[DEPS].metrics_body
    assert body_cache is not None  # make_app sets it
    return web.Response(body=await body_cache.get(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def status_summary(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    return web.json_response(views.status_view(deps.ctx, await _counts(request)))


async def list_feeds(request: web.Request) -> web.Response:
    """Every feed's last poll, next poll, error and cursor (shared by the daemons on one database)."""
    states = await in_db(request, lambda: queries.task_states("feed:"))
    return web.json_response({"feeds": [views.feed_view(s) for s in states]})


async def sync_feeds(request: web.Request) -> web.Response:
    """Poll every feed now (Sonarr's "RSS Sync"); accepted at once, the poll runs in the FeedWorker."""
    ref = request.app[DEPS].ctx.workers.get("feeds")
    if ref is None or not ref.is_alive():
        return error(409, "no feeds are configured (indexers with rss, or [[feeds]])")
    ref.tell(SyncFeeds("requested over HTTP"))
    return web.json_response({"status": "accepted"}, status=202)


LOGIN_FAILURE_DELAY_S = 0.5  # a wrong key at the form costs the guesser some time


async def page_caller(request: web.Request) -> Caller | None:
    """Who is looking at the status page: its session cookie (the user re-read, so a disabled user is out at
    once), else a key sent like to the API."""
    session = access_of(request).sessions.principal(request.cookies.get(SESSION_COOKIE))
    key = presented_key(request.headers)

    def check() -> Caller | None:
        if session is not None:
            try:
                return queries.caller_by_name(session)
            except (NotFoundError, StateConflictError):
                return None
        return queries.caller_by_key(key)

    return cast(Caller | None, await _key_check(request, check))


async def login_page(request: web.Request, message: str | None, status: int = 200) -> web.Response:
    html = page.login(message, await in_db(request, queries.any_key))
    return web.Response(text=html, content_type="text/html", status=status)


async def login(request: web.Request) -> web.Response:
    """The page's form: a user's key opens a session (its random id in an HttpOnly, SameSite=Strict cookie)."""
    access = access_of(request)
    try:
        form = await request.post()
    except (ValueError, LookupError):
        return await login_page(request, "the form could not be read", 400)
    key = form.get("key")
    caller = await in_db(request, lambda: queries.caller_by_key(key if isinstance(key, str) else None))
    if caller is None:
        await asyncio.sleep(LOGIN_FAILURE_DELAY_S)
        return await login_page(request, "That is not an API key.", 401)
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(SESSION_COOKIE, access.sessions.open(caller.name), httponly=True, samesite="Strict",
                        secure=request.secure, path="/", max_age=int(access.sessions.ttl_seconds))
    return response


async def logout(request: web.Request) -> web.Response:
    access_of(request).sessions.close(request.cookies.get(SESSION_COOKIE))
    response = web.Response(status=303, headers={"Location": "/"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def status_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    caller = await page_caller(request)
    if caller is None:
        return await login_page(request, None)
    who = None if caller.is_admin else caller.name

    rows, _ = await shared_read(request, lambda: queries.list_requests(None, 0, 50, deps.ctx.live, visible_to=who))
    counts = await _counts(request) if who is None else own_counts(rows)
    status = views.status_view(deps.ctx, counts)
    if who is not None:  # a requester: its own items only, no operations detail
        status = {**status, "actors": {}, "database": {"pool": {"in_use": "-", "idle": "-", "max": "-"}}}
    html = page.render(status, [views.request_view(r, s) for r, s in rows])
    return web.Response(text=html, content_type="text/html")


def own_counts(rows: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, summary in rows:
        for status, n in summary["counts"].items():
            counts[status] = counts.get(status, 0) + n
    return counts


async def openapi_doc(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


def make_app(deps: HttpDeps, extra_routes: Sequence[Callable[[web.Application], None]] = ()) -> web.Application:
    app = web.Application(middlewares=[count_requests, require_api_key], client_max_size=2 * 1024 * 1024)
    app[DEPS] = deps
    if deps.counts is None:
        db = deps.ctx.db

        def count() -> dict[str, int]:
            with db.connection_context():
                return queries.items_by_status()

        deps.counts = Cached(count, COUNTS_MAX_AGE_S, COUNTS_MAX_STALE_S, "http-counts")
    if deps.metrics_body is None:
        deps.metrics_body = Cached(lambda: _render_metrics(deps), METRICS_MAX_AGE_S, METRICS_MAX_STALE_S,
                                   "http-metrics")

    async def cancel_queued(_: web.Application) -> None:
        deps.shutdown()

    app.on_shutdown.append(cancel_queued)
    rid = r"{id:\d{1,12}}"
    app.router.add_get("/", status_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/api/v1/openapi.json", openapi_doc)
    app.router.add_get("/api/v1/status", status_summary)
    app.router.add_post("/api/v1/requests", create_request)
    app.router.add_get("/api/v1/requests", list_requests)
    app.router.add_get(f"/api/v1/requests/{rid}", get_request)
    app.router.add_delete(f"/api/v1/requests/{rid}", delete_request)
    app.router.add_get(f"/api/v1/requests/{rid}/episodes", request_episodes)
    app.router.add_get(f"/api/v1/requests/{rid}/items", request_items)
    app.router.add_post(f"/api/v1/requests/{rid}/cancel", cancel_request)
    app.router.add_post(f"/api/v1/requests/{rid}/approve", approve_request)
    app.router.add_post(f"/api/v1/requests/{rid}/decline", decline_request)
    app.router.add_get(f"/api/v1/requests/{rid}/approvals", request_approvals)
    app.router.add_get("/api/v1/me", whoami)
    app.router.add_get("/api/v1/notifications", notifications)
    app.router.add_post("/api/v1/notifications/test", test_notification)
    app.router.add_get(f"/api/v1/items/{rid}", get_item)
    app.router.add_post(f"/api/v1/items/{rid}/retry", retry_item)
    app.router.add_post(f"/api/v1/items/{rid}/accept-release", accept_release)
    app.router.add_get("/api/v1/feeds", list_feeds)
    app.router.add_post("/api/v1/feeds/sync", sync_feeds)
    for add in extra_routes:
        add(app)
    return app

