"""Health checks on a background timer: each configured stage's dependencies are checked every interval in a
small thread pool (never in an HTTP request), and /health reports their last results (annexd.domain.health
decides ok, degraded or down). Not pure: checks reach the database, qBittorrent, targets and media servers.

A check returns ``(ok, detail)``; an exception is a failed check with its type and message. A check still
running past its timeout is reported failed ("no answer within N s") and not started again until it returns.
Each run is a daemon thread of its own, so a check hanging on the network never holds up the daemon's exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from annexd import metrics
from annexd.domain.health import CheckResult, Severity, overall, report

log = structlog.get_logger("annexd.health")
CheckFn = Callable[[], tuple[bool, Any]]


@dataclass(frozen=True)
class Check:
    name: str
    severity: Severity
    run: CheckFn
    timeout: float = 15.0


class HealthMonitor:
    def __init__(self, checks: Iterable[Check], interval_s: float = 10.0, clock: Callable[[], datetime] | None = None):
        from store.models import utcnow

        self.checks = {c.name: c for c in checks}
        self.interval_s = interval_s
        self.clock = clock or utcnow
        self._results: dict[str, CheckResult | None] = dict.fromkeys(self.checks)
        self._started: dict[str, float] = {}  # checks running now -> monotonic start
        self._late: set[str] = set()  # running checks already reported as not answering
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health-timer", daemon=True)

    # --- what /health shows ------------------------------------------------------------------------------
    def status(self) -> str:
        with self._lock:
            return overall(self._results, self._severity())

    def report(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return report(self._results, self._severity(), self.clock())

    def _severity(self) -> dict[str, Severity]:
        return {name: c.severity for name, c in self.checks.items()}

    # --- the timer ---------------------------------------------------------------------------------------
    def start(self) -> HealthMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        next_round = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            self._expire(now)
            if now >= next_round:
                self.run_once()
                next_round = now + self.interval_s
            self._stop.wait(min(1.0, self.interval_s))

    def run_once(self, wait: float | None = None) -> None:
        """Start every check that is not still running; with ``wait``, return once they finished (tests)."""
        with self._lock:
            due = [c for name, c in self.checks.items() if name not in self._started]
            for check in due:
                self._started[check.name] = time.monotonic()
        threads = [threading.Thread(target=self._run, args=(c,), name=f"health-{c.name}", daemon=True) for c in due]
        for thread in threads:
            thread.start()
        for thread in threads if wait is not None else ():
            thread.join(wait)

    def _run(self, check: Check) -> None:
        started = time.monotonic()
        try:
            ok, detail = check.run()
        except Exception as exc:  # a failing dependency is a failed check, never a crash of the monitor
            ok, detail = False, f"{type(exc).__name__}: {str(exc)[:300]}"
        self._record(check.name, CheckResult(bool(ok), detail, self.clock(), time.monotonic() - started))
        with self._lock:
            self._started.pop(check.name, None)
            self._late.discard(check.name)

    def _expire(self, now: float) -> None:
        """A check that did not answer within its timeout counts as failed until it returns."""
        with self._lock:
            late = [(name, now - t) for name, t in self._started.items()
                    if now - t > self.checks[name].timeout and name not in self._late]
            self._late.update(name for name, _ in late)
        for name, seconds in late:
            self._record(name, CheckResult(False, f"no answer within {self.checks[name].timeout:g} s",
                                           self.clock(), seconds))

    def _record(self, name: str, result: CheckResult) -> None:
        with self._lock:
            before = self._results.get(name)
            self._results[name] = result
        metrics.HEALTH_CHECK_OK.labels(name).set(1 if result.ok else 0)
        if before is None or before.ok != result.ok:
            (log.info if result.ok else log.warning)("health_check_changed", check=name, ok=result.ok,
                                                     detail=str(result.detail)[:300])
