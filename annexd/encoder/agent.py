"""The remote encoder agent: ``annexd encoder --server URL --token-file FILE [--max-jobs N] [--id NAME]``.

It connects to the daemon's ``/api/v1/encoders/ws`` with ``Authorization: Bearer <token>``, announces its
encoders, sends heartbeats, and runs assigned jobs with ``annexd.encoder.ffmpeg.encode`` in worker threads (the event
loop never blocks). Progress is rate-limited (``progress_interval``, default 0.5 s per job).

- A job beyond capacity, or while draining, is refused (``job_refused``, which does not use an attempt).
- A refused token (HTTP 401/403) is logged and the agent exits with EXIT_AUTH; it does not retry.
- Other connection failures are retried with capped exponential backoff and jitter.
- When the connection drops, running jobs keep running for the reconnect grace the server announced
  (``registered.reconnect_grace``, protocol v2): the agent reconnects, lists them in its ``register`` and sends
  the results of jobs that finished meanwhile. Past the grace (or with a server that announces none, or after a
  ``shutdown`` from the server) they are cancelled: the daemon requeues them, so finishing them would only
  produce duplicates.
- SIGTERM/SIGINT: refuse new jobs, let running jobs finish within ``drain_seconds``, then cancel them (reported as
  retriable failures) and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import os
import random
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from annexd.encoder import protocol as wire
from annexd.encoder.ffmpeg import EncodeCancelled, EncodeError, Progress, available_encoders, encode
from annexd.encoder.profiles import EncodeProfile
from annexd.errors import InvalidInputError, UnsafePathError

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_AUTH = 3
VERSION = "0.1.0"
WS_PATH = "/api/v1/encoders/ws"


@dataclass(frozen=True)
class AgentSettings:
    server_url: str
    agent_id: str = field(default_factory=socket.gethostname)
    max_jobs: int = 1
    # Roots (agent_prefix of each mapping) the agent accepts job paths under; empty: any absolute path.
    path_mappings: tuple[wire.PathMapping, ...] = ()
    heartbeat_interval: float = 30.0  # replaced by the interval the server sends in ``registered``
    progress_interval: float = 0.5
    stall_seconds: float = 120.0
    encode_timeout: float | None = None
    drain_seconds: float = 300.0
    connect_timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0


class AuthRefused(Exception):
    pass


def ws_url(server_url: str) -> str:
    """Accept ``http(s)://host:port`` (the WS path is added) or a full ``ws(s)://.../ws`` URL."""
    url = server_url.rstrip("/")
    if url.startswith("http://"):
        url = "ws://" + url[len("http://"):]
    elif url.startswith("https://"):
        url = "wss://" + url[len("https://"):]
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"server URL must be http(s):// or ws(s)://, got {server_url!r}")
    return url if url.endswith(WS_PATH) else url + WS_PATH


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """``initial * 2**attempt`` capped at ``cap``, with ±10 % jitter."""
    base = min(cap, initial * (2 ** min(attempt, 30)))
    return base * (1 + (rng or random).uniform(-0.1, 0.1))


@dataclass
class RunningJob:
    job_id: str
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""
    latest: Progress | None = None
    task: asyncio.Task[None] | None = None


class Agent:
    def __init__(self, settings: AgentSettings, token: str):
        self.settings = settings
        self._token = token
        self.jobs: dict[str, RunningJob] = {}
        self.draining = False
        self._stop = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=settings.max_jobs,
                                                               thread_name_prefix="encode")
        self._heartbeat_interval = settings.heartbeat_interval
        self._server_delay = 0.0  # reconnect delay asked for by a server ``shutdown`` message
        self._reconnect_grace = 0.0  # announced by the server in ``registered``
        self._server_shutdown = False
        self._grace_task: asyncio.Task[None] | None = None
        # Results of jobs that finished while disconnected, sent once registered again.
        self.outbox: dict[str, wire.Message] = {}

    # --- lifecycle ------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        if not self.draining:
            log.info("encoder_agent_stopping", running=list(self.jobs), drain_seconds=self.settings.drain_seconds)
        self.draining = True
        self._stop.set()

    async def run(self) -> int:
        attempt = 0
        url = ws_url(self.settings.server_url)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.settings.connect_timeout)) as session:
                while not self._stop.is_set():
                    try:
                        registered = await self._session(session, url)
                    except AuthRefused as exc:
                        log.error("encoder_auth_refused", server=url, status=str(exc))
                        return EXIT_AUTH
                    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                        log.warning("encoder_connect_failed", server=url, error=str(exc) or type(exc).__name__)
                        registered = False
                    if self._stop.is_set():
                        break
                    attempt = 0 if registered else attempt + 1
                    delay = max(self._server_delay, backoff_delay(attempt, self.settings.reconnect_initial,
                                                                  self.settings.reconnect_max))
                    self._server_delay = 0.0
                    log.info("encoder_reconnect_wait", seconds=round(delay, 2))
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                    except TimeoutError:
                        pass
        finally:
            self._end_grace()
            await self._cancel_all("agent exiting")
            self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("encoder_agent_exit")
        return EXIT_OK

    async def _session(self, session: aiohttp.ClientSession, url: str) -> bool:
        """One connection; True when it got registered (resets the backoff)."""
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            connect = session.ws_connect(url, headers=headers, max_msg_size=wire.MAX_MESSAGE_BYTES, autoping=True)
            ws = await asyncio.wait_for(connect, self.settings.connect_timeout)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise AuthRefused(exc.status) from None
            raise
        registered = False
        self._ws = ws
        self._server_shutdown = False
        tasks: list[asyncio.Task[Any]] = []
        try:
            kept = tuple(sorted({*self.jobs, *self.outbox}))
            await self._send(wire.Register(self.settings.agent_id, VERSION, socket.gethostname(), jobs=kept))
            first = await ws.receive(timeout=self.settings.connect_timeout)
            if first.type != aiohttp.WSMsgType.TEXT:
                raise aiohttp.ClientError(f"server closed during registration ({first.type.name})")
            reg = wire.decode(first.data, wire.SERVER_MESSAGES)
            if not isinstance(reg, wire.Registered):
                raise aiohttp.ClientError(f"expected registered, got {reg.type}")
            registered = True
            self._heartbeat_interval = reg.heartbeat_interval
            self._reconnect_grace = reg.reconnect_grace
            self._end_grace()
            encoders = await asyncio.to_thread(available_encoders)  # a subprocess the first time
            await self._send(wire.Capabilities(tuple(sorted(encoders)), self.settings.max_jobs))
            await self._flush_outbox()
            log.info("encoder_registered", server=url, agent_id=self.settings.agent_id,
                     max_jobs=self.settings.max_jobs)
            tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._drain_on_stop())]
            await self._receive_loop(ws)
        except InvalidInputError as exc:
            log.warning("encoder_bad_server_message", error=str(exc))
        finally:
            for t in tasks:
                t.cancel()
            self._ws = None
            await ws.close()
            await self._after_disconnect()
            log.info("encoder_disconnected", server=url)
        return registered

    async def _after_disconnect(self) -> None:
        """Keep running jobs for the reconnect grace (not after a deliberate stop); else cancel them."""
        keep = self._reconnect_grace > 0 and not self._server_shutdown and not self._stop.is_set()
        if keep and (self.jobs or self.outbox):
            log.warning("encoder_jobs_kept_while_disconnected", jobs=sorted({*self.jobs, *self.outbox}),
                        grace_s=self._reconnect_grace)
            if self._grace_task is None:
                self._grace_task = asyncio.create_task(self._expire_grace(self._reconnect_grace))
            return
        self.outbox.clear()
        await self._cancel_all("connection lost")

    async def _expire_grace(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._grace_task = None
        if self._ws is None:
            log.warning("encoder_reconnect_grace_expired", jobs=sorted(self.jobs))
            self.outbox.clear()
            await self._cancel_all("connection lost")

    def _end_grace(self) -> None:
        if self._grace_task is not None:
            self._grace_task.cancel()
            self._grace_task = None

    async def _flush_outbox(self) -> None:
        for job_id, msg in list(self.outbox.items()):
            await self._send(msg)
            self.outbox.pop(job_id, None)

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                msg = wire.decode(frame.data, wire.SERVER_MESSAGES)
            except InvalidInputError as exc:
                log.warning("encoder_bad_server_message", error=str(exc))
                continue
            if isinstance(msg, wire.JobAssign):
                await self._on_assign(msg)
            elif isinstance(msg, wire.JobCancel):
                self._cancel(msg.job_id, "cancelled by server")
                self.outbox.pop(msg.job_id, None)
            elif isinstance(msg, wire.Shutdown):
                log.info("encoder_server_shutdown", reconnect_delay=msg.reconnect_delay)
                self._server_delay = min(msg.reconnect_delay, self.settings.reconnect_max)
                self._server_shutdown = True
                return

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            await self._send(wire.Heartbeat(tuple(self.jobs)))

    async def _drain_on_stop(self) -> None:
        """After SIGTERM: wait for running jobs up to the budget, cancel the rest, then close the socket."""
        await self._stop.wait()
        deadline = time.monotonic() + self.settings.drain_seconds
        while self.jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await self._cancel_all("agent shutting down")
        if self._ws is not None:
            await self._ws.close()

    async def _send(self, msg: wire.Message) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            async with self._send_lock:
                await asyncio.wait_for(ws.send_str(msg.encode()), timeout=10)
        except (ConnectionError, TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
            log.warning("encoder_send_failed", type=msg.type, error=str(exc))

    # --- jobs -----------------------------------------------------------------------------------------------

    async def _on_assign(self, msg: wire.JobAssign) -> None:
        if self.draining or len(self.jobs) >= self.settings.max_jobs or msg.job_id in self.jobs:
            reason = "draining" if self.draining else "capacity"
            log.info("encode_job_refused", job_id=msg.job_id, reason=reason)
            await self._send(wire.JobRefused(msg.job_id, reason))
            return
        try:
            profile = EncodeProfile.from_dict(msg.profile)
            self._check_paths(msg.input_path, msg.output_path)
        except InvalidInputError as exc:  # includes UnsafePathError
            log.warning("encode_job_invalid", job_id=msg.job_id, error=str(exc))
            await self._send(wire.JobFailed(msg.job_id, str(exc), False))
            return
        job = RunningJob(msg.job_id)
        self.jobs[msg.job_id] = job
        await self._send(wire.JobAccepted(msg.job_id))
        job.task = asyncio.create_task(self._run_job(job, profile, msg.input_path, msg.output_path))

    def _check_paths(self, *paths: str) -> None:
        roots = self.settings.path_mappings
        for p in paths:
            if roots and not any(m.covers_agent_path(p) for m in roots):
                raise UnsafePathError(f"path {p!r} is outside this agent's roots")

    async def _run_job(self, job: RunningJob, profile: EncodeProfile, src: str, dst: str) -> None:
        loop = asyncio.get_running_loop()
        log.info("encode_job_started", job_id=job.job_id, codec=profile.codec)

        def on_progress(p: Progress) -> None:  # reader thread: only store the latest
            job.latest = p

        fut = loop.run_in_executor(self._executor, functools.partial(
            encode, profile, src, dst, on_progress, job.cancel_event, self.settings.stall_seconds,
            timeout=self.settings.encode_timeout))
        reply: wire.Message | None = None
        try:
            await self._report_progress(job, fut)
            result = await fut
            reply = wire.JobComplete(job.job_id, result.output_path, result.size, result.duration,
                                     result.elapsed)
        except EncodeCancelled:
            if job.cancel_reason != "cancelled by server":
                reply = wire.JobFailed(job.job_id, job.cancel_reason or "cancelled", True)
        except EncodeError as exc:
            reply = wire.JobFailed(job.job_id, _error_text(exc), exc.retriable)
        except InvalidInputError as exc:
            reply = wire.JobFailed(job.job_id, str(exc)[:4000], False)
        except Exception as exc:
            log.exception("encode_job_crashed", job_id=job.job_id)
            reply = wire.JobFailed(job.job_id, f"{type(exc).__name__}: {exc}"[:4000], True)
        try:
            log.info("encode_job_finished", job_id=job.job_id, result=reply.type if reply else "cancelled")
            if reply is not None and self._ws is None and self._grace_task is not None:
                self.outbox[job.job_id] = reply  # disconnected within the grace: sent once registered again
            elif reply is not None:
                await self._send(reply)
        finally:  # only now: draining waits for self.jobs to empty before closing the socket
            self.jobs.pop(job.job_id, None)

    async def _report_progress(self, job: RunningJob, fut: asyncio.Future[Any]) -> None:
        sent: Progress | None = None
        while not fut.done():
            await asyncio.wait({fut}, timeout=self.settings.progress_interval)
            p = job.latest
            if p is not None and p is not sent and not fut.done():
                sent = p
                await self._send(wire.JobProgress(job.job_id, p.percent, p.fps, p.speed, p.eta_s, p.frame))

    def _cancel(self, job_id: str, reason: str) -> None:
        job = self.jobs.get(job_id)
        if job and not job.cancel_event.is_set():
            log.info("encode_job_cancelling", job_id=job_id, reason=reason)
            job.cancel_reason = reason
            job.cancel_event.set()

    async def _cancel_all(self, reason: str) -> None:
        jobs = list(self.jobs.values())
        for job in jobs:
            self._cancel(job.job_id, reason)
        tasks = [j.task for j in jobs if j.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=30)


def _error_text(exc: EncodeError) -> str:
    text = str(exc)
    if exc.stderr_tail:
        text += "\n" + exc.stderr_tail
    return text[-4000:]


# --- entry points ---------------------------------------------------------------------------------------------

async def run_agent(settings: AgentSettings, token: str) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a refused token (EXIT_AUTH)."""
    agent = Agent(settings, token)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.request_stop)
    try:
        return await agent.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def read_token(path: str) -> str:
    """The token in ``path`` (stripped). Warns when group/other can read it; ValueError when empty."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token_file_permissions_loose", path=path, mode=oct(stat.S_IMODE(mode)),
                    hint="chmod 600")
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"token file {path} is empty")
    return token


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="annexd encoder", description="Run a remote encoder agent.")
    p.add_argument("--server", required=True, help="daemon URL, e.g. http://daemon:8080")
    p.add_argument("--token-file", required=True, help="file holding the encoder token (chmod 600)")
    p.add_argument("--max-jobs", type=int, default=1)
    p.add_argument("--id", dest="agent_id", default=socket.gethostname())
    p.add_argument("--root", action="append", default=[],
                   help="only accept job paths under this directory (repeatable)")
    p.add_argument("--heartbeat", type=float, default=30.0, help=argparse.SUPPRESS)
    p.add_argument("--progress-interval", type=float, default=0.5)
    p.add_argument("--stall-seconds", type=float, default=120.0)
    p.add_argument("--drain-seconds", type=float, default=300.0)
    p.add_argument("--reconnect-max", type=float, default=60.0)
    p.add_argument("--log-level", default="info")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from annexd import logs

    logs.configure(args.log_level)
    try:
        token = read_token(args.token_file)
        ws_url(args.server)
        if not 1 <= args.max_jobs <= 64:
            raise ValueError("--max-jobs must be 1..64")
        roots = tuple(wire.PathMapping(r, r) for r in args.root)
    except (OSError, ValueError, InvalidInputError) as exc:
        log.error("encoder_config_error", error=str(exc))
        return EXIT_CONFIG
    logs.add_secrets([token])
    settings = AgentSettings(server_url=args.server, agent_id=args.agent_id, max_jobs=args.max_jobs,
                             path_mappings=roots, heartbeat_interval=args.heartbeat,
                             progress_interval=args.progress_interval, stall_seconds=args.stall_seconds,
                             drain_seconds=args.drain_seconds, reconnect_max=args.reconnect_max)
    return asyncio.run(run_agent(settings, token))


if __name__ == "__main__":
    sys.exit(main())
