"""Where the HTTP thread runs blocking work, so ``/health`` and ``/metrics`` never queue behind API calls.

* :class:`BoundedExecutor` runs the API's database work on a few threads with a bounded queue: past it a call
  is refused at once (:class:`Overloaded`, answered 503 with ``Retry-After``) instead of waiting behind
  hundreds of others; at shutdown the queued calls are cancelled.
* :class:`Shared` lets identical calls that run at the same time share one run (single flight): 32 clients
  polling the same list page, or the same key checked by 32 calls at once, cost one query, not 32. Nothing is
  kept once the run ends, so no answer is older than the call it joined; a write through the API starts a new
  generation, so a read that follows a write never joins one started before it.
* :class:`Recent` keeps answers for a few seconds while nothing was written meanwhile (a found key; a list's
  total): a write through the API, or a change to users, starts a new generation and they are not used again.
* :class:`Cached` holds a value, loaded at most every ``max_age_s`` and never served older than ``max_stale_s``,
  refreshed on its own thread, one load at a time:
  the item counts by status (``/metrics``, ``/api/v1/status``, the status page: never a counting query per
  call) and the rendered ``/metrics`` body (rendering the registry costs milliseconds of the event loop).

``/health`` gets its own single thread (see annexd.http.app). Not pure: threads and a clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Overloaded(Exception):
    """The API's queue is full: try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"the API is busy; retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


class BoundedExecutor:
    """``workers`` threads; at most ``max_pending`` calls running or queued, the rest refused."""

    def __init__(self, workers: int, max_pending: int, name: str, retry_after_s: int = 1):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max_pending)
        self.max_pending = max_pending
        self.retry_after_s = retry_after_s

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Overloaded(self.retry_after_s)
        try:
            future = self._pool.submit(fn)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    def shutdown(self) -> None:
        """Cancel every queued call; running ones finish on their own (their answers go nowhere)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class Shared:
    """Single flight: a call whose key matches a run in flight (same generation) waits for that run's answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[int, Hashable], Future[Any]] = {}
        self._generation = 0

    def new_generation(self) -> None:
        """Something was written: calls from now on never join a run that started before."""
        with self._lock:
            self._generation += 1

    async def run(self, key: Hashable, start: Callable[[], Future[T]]) -> T:
        """The answer of the run in flight for ``key``, or of a new one ``start`` submits."""
        with self._lock:
            slot = (self._generation, key)
            future = self._running.get(slot)
            if future is None:
                future = self._running[slot] = start()
                started = True
            else:
                started = False
        if started:
            future.add_done_callback(lambda done: self._finished(slot, done))
        # Shielded: a caller that goes away (a closed connection) must not cancel the run the others wait for.
        return cast(T, await asyncio.shield(asyncio.wrap_future(future)))

    def _finished(self, slot: tuple[int, Hashable], done: Future[Any]) -> None:
        with self._lock:
            if self._running.get(slot) is done:
                del self._running[slot]

    @property
    def generation(self) -> int:
        return self._generation


class Recent(Generic[K, T]):
    """Answers kept ``ttl_seconds``, and only for the generation they were found in (read before the lookup).
    No lock: one dict read or write is atomic, and a lost entry only costs one lookup."""

    def __init__(self, ttl_seconds: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds, self.max_entries, self._clock = ttl_seconds, max_entries, clock
        self._kept: dict[K, tuple[float, int, T]] = {}

    def get(self, key: K, generation: int) -> T | None:
        entry = self._kept.get(key)
        if entry is None or entry[0] <= self._clock() or entry[1] != generation:
            return None
        return entry[2]

    def put(self, key: K, generation: int, value: T) -> None:
        if len(self._kept) >= self.max_entries:
            self._kept.clear()
        self._kept[key] = (self._clock() + self.ttl_seconds, generation, value)


class Cached(Generic[T]):
    """The latest result of ``load`` (the item counts by status; the /metrics body), never older than
    ``max_stale_s``.

    Up to ``max_age_s`` old it is answered as it is. Older, a caller starts one refresh on the cache's own thread
    and, while the value is at most ``max_stale_s`` old, gets it at once (callers in a steady stream never wait);
    past that (the first caller, or one after a quiet spell, such as a scrape every 15 s) it waits for the
    refresh: a scrape never shows the previous scrape's values. Concurrent callers never start a second load.
    """

    def __init__(self, load: Callable[[], T], max_age_s: float, max_stale_s: float, name: str = "http-cache",
                 clock: Callable[[], float] = time.monotonic):
        self._load, self.max_age_s, self.max_stale_s, self._clock = load, max_age_s, max_stale_s, clock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = float("-inf")
        self._refresh: Future[T] | None = None

    def _current(self) -> tuple[T | None, Future[T] | None]:
        """(the value to answer with, or None and the refresh to wait for)."""
        with self._lock:
            age = self._clock() - self._at
            if self._value is not None and age <= self.max_age_s:
                return self._value, None
            if self._refresh is None:
                self._refresh = self._pool.submit(self._reload)
            return (self._value, None) if self._value is not None and age <= self.max_stale_s else (None, self._refresh)

    async def get(self) -> T:
        value, refresh = self._current()
        if refresh is None:
            return cast(T, value)
        return await asyncio.wrap_future(refresh)

    def get_blocking(self, timeout: float | None = None) -> T:
        """:meth:`get` for a thread that may block (another cache's loader)."""
        value, refresh = self._current()
        return cast(T, value) if refresh is None else refresh.result(timeout)

    def _reload(self) -> T:
        try:
            value = self._load()
        except BaseException:
            with self._lock:
                self._refresh = None
            raise
        with self._lock:
            self._value, self._at, self._refresh = value, self._clock(), None
        return value

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
