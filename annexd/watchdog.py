"""The systemd watchdog: ``WATCHDOG=1`` every half ``WatchdogSec`` (systemd passes it as WATCHDOG_USEC) while the
daemon's core is alive and ticking (:func:`core_alive`: the supervisor answers, the DB writer has ticked
recently), and nothing otherwise, so systemd restarts a daemon that hangs. Not pure: a thread and the notify
socket.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

import pykka
import structlog

from actors.context import ActorContext

log = structlog.get_logger("annexd.watchdog")


def ping_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between pings (half the watchdog timeout), or None when systemd asked for no watchdog, or asked
    another process (WATCHDOG_PID)."""
    usec, for_pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if for_pid.isdigit() and int(for_pid) != (os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000 / 2


def core_alive(ctx: ActorContext, ask_timeout: float, writer_silence: float) -> str | None:
    """Why the supervisor or the writer is not alive and ticking, or None."""
    supervisor, writer = ctx.supervisor, ctx.writer
    if supervisor is None or not supervisor.is_alive():
        return "the supervisor is not running"
    try:
        supervisor.ask("status", timeout=ask_timeout)
    except pykka.Timeout:
        return "the supervisor does not answer"
    if writer is None or not writer.is_alive():
        return "the database writer is not running"
    silent = time.monotonic() - ctx.beats.get("writer", 0.0)
    return f"the database writer has not ticked for {silent:.0f} s" if silent > writer_silence else None


class Watchdog:
    def __init__(self, alive: Callable[[], str | None], interval_s: float, notify: Callable[[str], None]):
        self.alive = alive
        self.interval_s = interval_s
        self.notify = notify
        self._withheld: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def beat(self) -> bool:
        """Ping if the core is alive; True when pinged."""
        reason = self.alive()
        if reason is None:
            if self._withheld is not None:
                log.info("watchdog_resumed")
            self._withheld = None
            self.notify("WATCHDOG=1")
            return True
        if reason != self._withheld:
            log.error("watchdog_withheld", reason=reason)  # systemd restarts us if this lasts
        self._withheld = reason
        return False
