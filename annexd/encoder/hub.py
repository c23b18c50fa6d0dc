"""The daemon side of the encoder agents: an aiohttp WebSocket endpoint and the registry of connected agents.

Threading: every method except ``submit``/``cancel_threadsafe`` must be called on the hub's event loop (the
aiohttp server thread). Callbacks (``on_progress``, ``on_complete``, ``on_failed``, ``on_agent_lost``,
``on_refused``, ``on_assigned``, ``on_accepted``, ``on_agent_ready``) are plain callables invoked on that loop; they must return at
once (e.g. ``actor_ref.tell(...)``) and never block. An exception in a callback is logged and swallowed.

A job no agent can take now waits in the hub, in submission order, and goes to the first agent with a free
slot the moment one frees (a job completes, fails or is refused or cancelled, an agent connects or announces
its capacity): dispatch is event-driven, never paced by the dispatcher's poll. The waiting list is a cache of
the dispatcher's open job rows (which it submits again at every poll), not a second truth.

An agent whose connection drops keeps its jobs assigned for ``reconnect_grace`` seconds (protocol v2): when it
registers again listing them, they stay with it (its ffmpeg kept running); whatever it does not list, or all of
them once the grace runs out, is reported lost. A heartbeat timeout is no disconnect: its jobs are lost at once.

Agents authenticate in the handshake with ``Authorization: Bearer <token>`` (compared with hmac.compare_digest
against every configured token); the token is never logged. Paths from agents are never trusted: a completed
job's output path is mapped back and must equal the output path that was assigned.

One file, although over 400 lines: the connections, the job queue and the assignments are one piece of state
owned by the hub's event loop; splitting it would share that state across modules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from annexd import metrics
from annexd.encoder import protocol as wire
from annexd.encoder.ffmpeg import Progress
from annexd.encoder.profiles import EncodeProfile, required_encoders
from annexd.errors import InvalidInputError, UnsafePathError

log = structlog.get_logger(__name__)

WS_PATH = "/api/v1/encoders/ws"
LIST_PATH = "/api/v1/encoders"
MAX_INVALID_MESSAGES = 10


@dataclass(frozen=True)
class HubSettings:
    tokens: frozenset[str] = frozenset()
    heartbeat_interval: float = 30.0
    heartbeat_timeout: float = 90.0
    accept_timeout: float = 30.0
    register_timeout: float = 10.0
    # agent id -> mappings; agents without an entry use default_path_mappings (empty: same paths on both sides)
    path_mappings: Mapping[str, tuple[wire.PathMapping, ...]] = field(default_factory=dict)
    default_path_mappings: tuple[wire.PathMapping, ...] = ()
    shutdown_reconnect_delay: float = 5.0
    # How long a disconnected agent's jobs stay assigned to it, waiting for it to reconnect (0: lost at once).
    reconnect_grace: float = 0.0


@dataclass(frozen=True)
class EncodeJob:
    job_id: str
    input_path: str  # daemon's terms
    output_path: str  # daemon's terms
    profile: EncodeProfile


@dataclass(frozen=True)
class JobResult:
    job_id: str
    agent_id: str
    output_path: str  # daemon's terms, equal to the assigned output path
    size: int
    duration: float
    elapsed: float


@dataclass
class Assignment:
    job: EncodeJob
    assigned_at: float
    accepted: bool = False
    progress: Progress | None = None


@dataclass
class AgentConn:
    agent_id: str
    ws: web.WebSocketResponse
    remote: str
    mappings: tuple[wire.PathMapping, ...]
    version: str = ""
    host: str = ""
    encoders: frozenset[str] = frozenset()
    max_jobs: int = 0
    jobs: dict[str, Assignment] = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)
    connected_at: float = field(default_factory=time.time)
    invalid_messages: int = 0
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def free_slots(self) -> int:
        return self.max_jobs - len(self.jobs)


@dataclass
class Detached:
    """The jobs of an agent whose connection dropped, kept until it reconnects or ``deadline`` passes."""

    jobs: dict[str, Assignment]
    deadline: float


Callback = Callable[..., Any] | None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def token_matches(candidate: str, tokens: frozenset[str]) -> bool:
    """Constant-time comparison against every configured token (no early exit)."""
    ok = False
    raw = candidate.encode()
    for t in tokens:
        ok |= hmac.compare_digest(raw, t.encode())
    return ok


class EncoderHub:
    def __init__(self, settings: HubSettings, *, on_progress: Callback = None, on_complete: Callback = None,
                 on_failed: Callback = None, on_agent_lost: Callback = None, on_refused: Callback = None,
                 on_assigned: Callback = None, on_accepted: Callback = None, on_agent_ready: Callback = None):
        self.settings = settings
        self.on_progress = on_progress  # (job_id, Progress)
        self.on_complete = on_complete  # (job_id, JobResult)
        self.on_failed = on_failed  # (job_id, error: str, retriable: bool)
        self.on_agent_lost = on_agent_lost  # (agent_id, job_ids: list[str]) -> requeue them
        self.on_refused = on_refused  # (job_id, agent_id, reason) -> requeue, no attempt used
        self.on_assigned = on_assigned  # (job_id, agent_id | None) result of submit()
        self.on_accepted = on_accepted  # (job_id, agent_id)
        self.on_agent_ready = on_agent_ready  # (agent_id) an agent connected or announced its capacity
        self.agents: dict[str, AgentConn] = {}
        self.detached: dict[str, Detached] = {}
        self.waiting: dict[str, EncodeJob] = {}  # jobs no agent could take yet, oldest first
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._monitor: asyncio.Task[None] | None = None

    # --- wiring -------------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """wire.Register ``GET /api/v1/encoders/ws`` and ``GET /api/v1/encoders`` plus start/stop hooks.

        The WebSocket route authenticates agents itself: keep it out of the API's own auth middleware.
        """
        app.router.add_get(WS_PATH, self._ws_handler)
        app.router.add_get(LIST_PATH, self._list_handler)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_startup(self, app: web.Application) -> None:
        self.attach(asyncio.get_running_loop())

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the hub to its loop and start the heartbeat/accept-timeout monitor (called by add_routes)."""
        self.loop = loop
        if self._monitor is None:
            self._monitor = loop.create_task(self._monitor_loop())

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._monitor:
            self._monitor.cancel()
            self._monitor = None
        for conn in list(self.agents.values()):
            await self._send(conn, wire.Shutdown(self.settings.shutdown_reconnect_delay))
            await conn.ws.close()

    # --- thread-safe API ------------------------------------------------------------------------------------

    def submit(self, job: EncodeJob) -> concurrent.futures.Future[str | None]:
        """From any thread: schedule ``assign(job)`` on the hub loop and return at once.

        The outcome is reported through ``on_assigned(job_id, agent_id | None)``; the returned future may be
        ignored (an actor must not wait on it).
        """
        return asyncio.run_coroutine_threadsafe(self._submit(job), self._require_loop())

    def cancel_threadsafe(self, job_id: str) -> concurrent.futures.Future[bool]:
        return asyncio.run_coroutine_threadsafe(self._acancel(job_id), self._require_loop())

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise RuntimeError("encoder hub is not running (no event loop attached)")
        return self.loop

    async def _submit(self, job: EncodeJob) -> str | None:
        already_waiting = job.job_id in self.waiting
        agent_id = self.assign(job)
        if agent_id is None:
            self.waiting.setdefault(job.job_id, job)  # keeps its place in the queue
        if agent_id is not None or not already_waiting:
            self._call(self.on_assigned, job.job_id, agent_id)
        return agent_id

    async def _acancel(self, job_id: str) -> bool:
        return self.cancel(job_id)

    # --- loop-thread API ------------------------------------------------------------------------------------

    def assign(self, job: EncodeJob) -> str | None:
        """Send the job to an agent with a free slot and the needed encoders; None when no agent can take it."""
        current = self.agent_of(job.job_id)
        if current:
            return current
        need = required_encoders(job.profile)
        for conn in sorted(self.agents.values(), key=lambda c: (-c.free_slots() / max(c.max_jobs, 1),
                                                               c.connected_at)):
            if conn.free_slots() <= 0 or not need <= conn.encoders or conn.ws.closed:
                continue
            try:
                msg = wire.JobAssign(job.job_id, wire.map_path(conn.mappings, job.input_path, "agent"),
                                wire.map_path(conn.mappings, job.output_path, "agent"), job.profile.to_dict())
            except UnsafePathError as exc:
                log.warning("encoder_path_unmapped", agent_id=conn.agent_id, job_id=job.job_id, error=str(exc))
                continue
            conn.jobs[job.job_id] = Assignment(job, time.monotonic())
            self.waiting.pop(job.job_id, None)
            self._spawn(self._send(conn, msg))
            metrics.ENCODE_JOB_EVENTS.labels("assigned").inc()
            self._update_gauges()
            log.info("encode_job_assigned", job_id=job.job_id, agent_id=conn.agent_id)
            return conn.agent_id
        metrics.ENCODE_JOB_EVENTS.labels("unassigned").inc()
        return None

    def dispatch_waiting(self) -> None:
        """Slots may have freed: hand waiting jobs, oldest first, to agents that can take them now."""
        for job in list(self.waiting.values()):
            if not any(c.free_slots() > 0 for c in self.agents.values()):
                return
            agent_id = self.assign(job)
            if agent_id is not None:
                self._call(self.on_assigned, job.job_id, agent_id)

    def cancel(self, job_id: str) -> bool:
        """Tell the agent running ``job_id`` to stop and forget the job; False when it is not assigned."""
        if self.waiting.pop(job_id, None) is not None:
            return True
        conn = self._conn_of(job_id)
        if conn is None:
            # Within a reconnect grace: forgotten here; the agent is told to cancel when it lists it again.
            return any(d.jobs.pop(job_id, None) is not None for d in self.detached.values())
        del conn.jobs[job_id]
        self._spawn(self._send(conn, wire.JobCancel(job_id)))
        metrics.ENCODE_JOB_EVENTS.labels("cancelled").inc()
        self._update_gauges()
        self.dispatch_waiting()
        return True

    def agent_of(self, job_id: str) -> str | None:
        """The agent running ``job_id``, connected or within its reconnect grace."""
        conn = self._conn_of(job_id)
        if conn is not None:
            return conn.agent_id
        return next((agent for agent, d in self.detached.items() if job_id in d.jobs), None)

    def _conn_of(self, job_id: str) -> AgentConn | None:
        return next((c for c in self.agents.values() if job_id in c.jobs), None)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view for ``GET /api/v1/encoders``."""
        now = time.monotonic()
        agents = []
        for c in sorted(self.agents.values(), key=lambda c: c.agent_id):
            agents.append({
                "id": c.agent_id, "host": c.host, "version": c.version, "remote": c.remote,
                "connected_at": c.connected_at, "seconds_since_heartbeat": round(now - c.last_seen, 3),
                "encoders": sorted(c.encoders), "max_jobs": c.max_jobs,
                "jobs": [{"job_id": a.job.job_id, "accepted": a.accepted,
                          "percent": a.progress.percent if a.progress else None,
                          "fps": a.progress.fps if a.progress else None,
                          "eta_seconds": a.progress.eta_s if a.progress else None} for a in c.jobs.values()],
            })
        return {"agents": agents}

    # --- HTTP handlers --------------------------------------------------------------------------------------

    async def _list_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    def _authenticate(self, request: web.Request) -> None:
        token = bearer_token(request.headers.get("Authorization"))
        reason = None
        if token is None:
            reason = "missing"
        elif not token_matches(token, self.settings.tokens):
            reason = "invalid"
        if reason:
            metrics.ENCODER_AUTH_REFUSALS.labels(reason).inc()
            log.warning("encoder_auth_refused", remote=request.remote, reason=reason)
            raise web.HTTPUnauthorized(text="encoder token missing or invalid",
                                       headers={"WWW-Authenticate": "Bearer"})

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        if self.loop is None:
            self.attach(asyncio.get_running_loop())
        ws = web.WebSocketResponse(max_msg_size=wire.MAX_MESSAGE_BYTES, autoping=True)
        await ws.prepare(request)
        conn = await self._register(ws, request.remote or "")
        if conn is None:
            return ws
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    self._reject(conn, "non-text frame")
                    continue
                conn.last_seen = time.monotonic()
                try:
                    self._handle(conn, wire.decode(frame.data, wire.AGENT_MESSAGES))
                except InvalidInputError as exc:
                    self._reject(conn, str(exc))
        finally:
            self._drop(conn, "disconnected", grace=True)
        return ws

    async def _register(self, ws: web.WebSocketResponse, remote: str) -> AgentConn | None:
        try:
            frame = await ws.receive(timeout=self.settings.register_timeout)
            if frame.type != WSMsgType.TEXT:
                raise InvalidInputError("expected a register message")
            reg = wire.decode(frame.data, {"register": wire.Register})
            assert isinstance(reg, wire.Register)
        except (TimeoutError, InvalidInputError) as exc:
            log.warning("encoder_register_failed", remote=remote, error=str(exc) or "timeout")
            await ws.close(code=4400, message=b"register first")
            return None
        previous = self._previous_jobs(reg.agent_id)
        mappings = self.settings.path_mappings.get(reg.agent_id, self.settings.default_path_mappings)
        conn = AgentConn(reg.agent_id, ws, remote, tuple(mappings), version=reg.version, host=reg.host)
        self.agents[reg.agent_id] = conn
        await self._send(conn, wire.Registered(reg.agent_id, self.settings.heartbeat_interval,
                                               self.settings.reconnect_grace))
        log.info("encoder_connected", agent_id=reg.agent_id, remote=remote, version=reg.version,
                 protocol=reg.protocol)
        self._reattach(conn, previous, reg.jobs)
        self._update_gauges()
        self.dispatch_waiting()
        self._call(self.on_agent_ready, conn.agent_id)
        return conn

    def _previous_jobs(self, agent_id: str) -> dict[str, Assignment]:
        """The jobs an agent that registers again had: on a connection it replaces, or kept within its grace."""
        jobs: dict[str, Assignment] = {}
        old = self.agents.get(agent_id)
        if old is not None:
            jobs.update(old.jobs)
            old.jobs.clear()
            self._drop(old, "replaced by a new connection")
            self._spawn(old.ws.close(code=4409, message=b"replaced"))
        detached = self.detached.pop(agent_id, None)
        if detached is not None:
            jobs.update(detached.jobs)
        return jobs

    def _reattach(self, conn: AgentConn, previous: dict[str, Assignment], running: tuple[str, ...]) -> None:
        """Jobs the agent still runs stay with it; the rest of its old jobs are lost; jobs it runs that we do not
        know (cancelled, or of an earlier daemon) are cancelled."""
        for job_id in running:
            if job_id in previous:
                conn.jobs[job_id] = previous.pop(job_id)
                metrics.ENCODE_JOB_EVENTS.labels("reattached").inc()
            else:
                self._spawn(self._send(conn, wire.JobCancel(job_id)))
        if running or previous:
            log.info("encoder_reconnected", agent_id=conn.agent_id, kept=sorted(conn.jobs), lost=sorted(previous))
        if previous:
            self._call(self.on_agent_lost, conn.agent_id, list(previous))

    # --- agent messages -------------------------------------------------------------------------------------

    def _handle(self, conn: AgentConn, msg: wire.Message) -> None:
        if isinstance(msg, wire.Capabilities):
            conn.encoders, conn.max_jobs = frozenset(msg.encoders), msg.max_jobs
            self._update_gauges()
            self.dispatch_waiting()
            self._call(self.on_agent_ready, conn.agent_id)
        elif isinstance(msg, wire.Heartbeat):
            self._reconcile(conn, msg)
        elif isinstance(msg, wire.Register):
            self._reject(conn, "register sent twice")
        else:
            job_id = getattr(msg, "job_id", "")
            if job_id not in conn.jobs:
                self._reject(conn, f"{msg.type} for a job not assigned to this agent")
                return
            self._job_message(conn, conn.jobs[job_id], msg)

    def _job_message(self, conn: AgentConn, a: Assignment, msg: wire.Message) -> None:
        job_id = a.job.job_id
        if isinstance(msg, wire.JobProgress):
            a.accepted = True
            a.progress = Progress(frame=msg.frame, fps=msg.fps, speed=msg.speed, percent=msg.percent,
                                  eta_s=msg.eta)
            self._call(self.on_progress, job_id, a.progress)
        elif isinstance(msg, wire.JobAccepted):
            a.accepted = True
            metrics.ENCODE_JOB_EVENTS.labels("accepted").inc()
            self._call(self.on_accepted, job_id, conn.agent_id)
        elif isinstance(msg, wire.JobRefused):
            self._finish(conn, job_id, "refused")
            log.info("encode_job_refused", job_id=job_id, agent_id=conn.agent_id, reason=msg.reason)
            self._call(self.on_refused, job_id, conn.agent_id, msg.reason)
        elif isinstance(msg, wire.JobFailed):
            self._finish(conn, job_id, "failed")
            log.warning("encode_job_failed", job_id=job_id, agent_id=conn.agent_id, retriable=msg.retriable,
                        error=msg.error[-2000:])
            self._call(self.on_failed, job_id, msg.error, msg.retriable)
        elif isinstance(msg, wire.JobComplete):
            self._complete(conn, a, msg)

    def _complete(self, conn: AgentConn, a: Assignment, msg: wire.JobComplete) -> None:
        job_id = a.job.job_id
        try:
            daemon_path = wire.map_path(conn.mappings, msg.output_path, "daemon")
            expected = wire.map_path((), a.job.output_path, "daemon")
            if daemon_path != expected:
                raise UnsafePathError(f"agent reported output {msg.output_path!r}, not the assigned path")
        except UnsafePathError as exc:
            self._finish(conn, job_id, "failed")
            metrics.ENCODER_MESSAGES_REJECTED.inc()
            log.warning("encode_job_bad_output_path", job_id=job_id, agent_id=conn.agent_id, error=str(exc))
            self._call(self.on_failed, job_id, str(exc), False)
            return
        self._finish(conn, job_id, "complete")
        metrics.ENCODE_JOB_SECONDS.observe(msg.elapsed)
        log.info("encode_job_complete", job_id=job_id, agent_id=conn.agent_id, size=msg.size,
                 elapsed=msg.elapsed)
        self._call(self.on_complete, job_id, JobResult(job_id, conn.agent_id, expected, msg.size, msg.duration,
                                                        msg.elapsed))

    def _reconcile(self, conn: AgentConn, hb: wire.Heartbeat) -> None:
        """Cancel jobs the agent runs but we did not assign; fail accepted jobs the agent no longer runs."""
        running = set(hb.jobs)
        for job_id in running - set(conn.jobs):
            log.warning("encoder_unknown_job", agent_id=conn.agent_id, job_id=job_id)
            self._spawn(self._send(conn, wire.JobCancel(job_id)))
        grace = max(5.0, self.settings.heartbeat_interval)
        now = time.monotonic()
        for job_id, a in list(conn.jobs.items()):
            if a.accepted and job_id not in running and now - a.assigned_at > grace:
                self._finish(conn, job_id, "failed")
                self._call(self.on_failed, job_id, "agent no longer runs the job", True)

    def _finish(self, conn: AgentConn, job_id: str, event: str) -> None:
        conn.jobs.pop(job_id, None)
        metrics.ENCODE_JOB_EVENTS.labels(event).inc()
        self._update_gauges()
        self.dispatch_waiting()

    def _reject(self, conn: AgentConn, why: str) -> None:
        conn.invalid_messages += 1
        metrics.ENCODER_MESSAGES_REJECTED.inc()
        log.warning("encoder_message_rejected", agent_id=conn.agent_id, error=why[:300])
        if conn.invalid_messages >= MAX_INVALID_MESSAGES:
            self._spawn(conn.ws.close(code=4400, message=b"too many invalid messages"))

    # --- liveness -------------------------------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        period = max(0.05, min(1.0, self.settings.heartbeat_timeout / 4, self.settings.accept_timeout / 4))
        while True:
            await asyncio.sleep(period)
            try:
                self.check_timeouts(time.monotonic())
            except Exception:
                log.exception("encoder_monitor_failed")

    def check_timeouts(self, now: float) -> None:
        for agent_id, detached in list(self.detached.items()):
            if now >= detached.deadline:
                del self.detached[agent_id]
                log.warning("encoder_lost", agent_id=agent_id, reason="did not reconnect in time",
                            jobs=sorted(detached.jobs))
                for _ in detached.jobs:
                    metrics.ENCODE_JOB_EVENTS.labels("lost").inc()
                self._call(self.on_agent_lost, agent_id, list(detached.jobs))
        for conn in list(self.agents.values()):
            if now - conn.last_seen > self.settings.heartbeat_timeout:
                log.warning("encoder_heartbeat_timeout", agent_id=conn.agent_id,
                            silent_seconds=round(now - conn.last_seen, 1))
                self._drop(conn, "heartbeat timeout")
                self._spawn(conn.ws.close(code=4408, message=b"heartbeat timeout"))
                continue
            for job_id, a in list(conn.jobs.items()):
                if not a.accepted and now - a.assigned_at > self.settings.accept_timeout:
                    self._finish(conn, job_id, "refused")
                    self._spawn(self._send(conn, wire.JobCancel(job_id)))
                    self._call(self.on_refused, job_id, conn.agent_id, "accept timeout")

    def _drop(self, conn: AgentConn, reason: str, grace: bool = False) -> None:
        """Forget an agent (once); its jobs are reported lost so the caller can requeue them, or, after a plain
        disconnect with a reconnect grace, kept for it until the grace runs out."""
        if self.agents.get(conn.agent_id) is not conn:
            return
        del self.agents[conn.agent_id]
        if grace and conn.jobs and self.settings.reconnect_grace > 0:
            self.detached[conn.agent_id] = Detached(dict(conn.jobs), time.monotonic() + self.settings.reconnect_grace)
            conn.jobs.clear()
            self._update_gauges()
            log.warning("encoder_disconnected_jobs_kept", agent_id=conn.agent_id, reason=reason,
                        jobs=sorted(self.detached[conn.agent_id].jobs), grace_s=self.settings.reconnect_grace)
            return
        job_ids = list(conn.jobs)
        conn.jobs.clear()
        for _ in job_ids:
            metrics.ENCODE_JOB_EVENTS.labels("lost").inc()
        self._update_gauges()
        log.warning("encoder_lost", agent_id=conn.agent_id, reason=reason, jobs=job_ids)
        self._call(self.on_agent_lost, conn.agent_id, job_ids)

    # --- helpers --------------------------------------------------------------------------------------------

    async def _send(self, conn: AgentConn, msg: wire.Message) -> None:
        if conn.ws.closed:
            return
        try:
            async with conn.send_lock:
                await asyncio.wait_for(conn.ws.send_str(msg.encode()), timeout=10)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            log.warning("encoder_send_failed", agent_id=conn.agent_id, type=msg.type, error=str(exc))

    def _spawn(self, coro: Any) -> None:
        """Run a coroutine in the background on the hub loop, keeping a reference until it is done."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from another thread
            asyncio.run_coroutine_threadsafe(coro, self._require_loop())
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call(self, cb: Callback, *args: Any) -> None:
        if cb is None:
            return
        try:
            cb(*args)
        except Exception:
            log.exception("encoder_callback_failed", callback=getattr(cb, "__name__", repr(cb)))

    def _update_gauges(self) -> None:
        metrics.ENCODER_AGENTS.set(len(self.agents))
        metrics.ENCODER_SLOTS.labels("busy").set(sum(len(c.jobs) for c in self.agents.values()))
        metrics.ENCODER_SLOTS.labels("total").set(sum(c.max_jobs for c in self.agents.values()))


# --- running a hub on its own thread (tests, benchmarks, a standalone hub) ------------------------------------

class HubServer:
    """An aiohttp app with the hub, served on ``host:port`` by a dedicated thread and event loop."""

    def __init__(self, hub: EncoderHub, host: str = "127.0.0.1", port: int = 0,
                 app: web.Application | None = None):
        self.hub, self.host, self.port = hub, host, port
        self.app = app or web.Application()
        hub.add_routes(self.app)
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="encoder-hub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> HubServer:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            raise RuntimeError(f"hub server did not start: {self._error}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # report to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn()`` on the hub loop and return its result (for tests and non-actor callers)."""
        async def _wrap() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(_wrap(), self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the app down (agents get ``shutdown`` and are reported lost) and end the thread; idempotent."""
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout)
            self._runner = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self.loop.close()
