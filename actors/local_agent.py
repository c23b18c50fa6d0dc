"""LocalEncoderAgent: keeps the built-in encoder agent (a child process) running, as a supervised child.

The agent connects to the daemon's own HTTP server, so it is started once the daemon listens
(``ActorContext.http_url``). A Ticker checks it every second: an agent that died (a crash, the OOM killer, a
SIGKILL) makes this actor fail, the supervisor restarts it with backoff within its budget, and the new
incarnation starts a new agent. Its jobs are reported lost by the hub and requeued; its ffmpeg died with it
(PR_SET_PDEATHSIG). The agent itself dies with the thread that started it, so it never outlives this actor or
the daemon. Stopping the actor stops the agent (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pykka
import structlog

from actors.context import ActorContext
from actors.messages import ChildFailed, Tick, Wake
from actors.ticker import Ticker
from annexd.processes import die_with_parent

log = structlog.get_logger("annexd.local_encoder")


class AgentDied(Exception):
    """The built-in encoder agent exited while it should be running."""


class LocalEncoderAgent(pykka.ThreadingActor):
    name = "local-encoder"

    def __init__(self, ctx: ActorContext, command: Callable[[str], list[str]], check_interval_s: float = 1.0,
                 stop_timeout_s: float = 8.0):
        super().__init__()
        self.ctx = ctx
        self.command = command  # daemon URL -> the agent's argv
        self.check_interval_s = check_interval_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._ticker: Ticker | None = None

    def on_start(self) -> None:
        self._ticker = Ticker(self.actor_ref, self.check_interval_s, Tick, self.name).start()
        self.actor_ref.tell(Tick(time.monotonic()))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Tick | Wake):  # Wake: the daemon's HTTP address is known (start at once)
            self.check()
            return None
        raise TypeError(f"{self.name}: unexpected message {message!r}")

    def check(self) -> None:
        if self.proc is None:
            if self.ctx.http_url:
                self.spawn(self.ctx.http_url)
            return
        code = self.proc.poll()
        if code is not None:
            raise AgentDied(f"the built-in encoder agent (pid {self.proc.pid}) exited with {code}")

    def spawn(self, url: str) -> None:
        # SIGTERM when this actor's thread (or the daemon) dies, even by SIGKILL: no orphan agent.
        self.proc = subprocess.Popen(self.command(url), stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent(15))
        log.info("local_encoder_started", pid=self.proc.pid)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def on_stop(self) -> None:
        if self._ticker:
            self._ticker.stop()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.info("local_encoder_stopped", pid=proc.pid, exit_code=proc.returncode)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._ticker:
            self._ticker.stop()
        log.error("local_encoder_died", error=str(exception_value))
        if self.ctx.supervisor is not None and self.ctx.supervisor.is_alive():
            self.ctx.supervisor.tell(ChildFailed(self.name, repr(exception_value)))


def start(ctx: ActorContext, command: Callable[[str], list[str]]) -> pykka.ActorRef[Any]:
    return LocalEncoderAgent.start(ctx, command)
