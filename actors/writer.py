"""DbWriter: the one actor that writes progress, batched and debounced, plus ordered status changes.

Workers tell it immutable messages. Every progress report is published at once to the in-memory live view
(annexd.domain.live, what the API shows); the database gets checkpoints: progress is coalesced per item (latest wins)
and written only when it moved at least the threshold and the item's last write is at least the minimum
interval old (status changes, 0 % and 100 % are never held back). Status changes are applied in arrival order and never dropped. One transaction
per flush, at every interval or as soon as the batch is full. When the database is down the batch is kept and
the flush retried with backoff; on stop the writer flushes what it holds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee
import pykka
import structlog

from actors.context import ActorContext
from actors.messages import ChildFailed, Flush, ProgressBatch, ProgressUpdate, StatusChange, Tick
from actors.ticker import Ticker
from actors.worker import report_start_failure
from annexd import metrics
from annexd.domain.coalesce import Coalescer
from annexd.domain.pipeline import PROGRESS_STATUSES, ProcessingStatus
from annexd.domain.retry import RetryPolicy
from store import queries
from store.db import write_transaction

# Errors that mean "the database is unreachable or busy right now": keep the batch and retry later.
RETRYABLE_DB_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


@dataclass
class WriterStats:
    received: int = 0
    coalesced: int = 0
    rows_written: int = 0
    transactions: int = 0
    transitions_applied: int = 0
    transitions_refused: int = 0
    flush_failures: int = 0


class DbWriter(pykka.ThreadingActor):
    name = "writer"

    def __init__(self, ctx: ActorContext, on_status: Callable[[int, ProcessingStatus], None] | None = None):
        super().__init__()
        self.ctx = ctx
        cfg = ctx.config.writer
        self.interval_s = cfg.flush_interval_ms / 1000.0
        self.max_batch = cfg.max_batch
        self.coalescer: Coalescer[ProgressUpdate] = Coalescer(
            threshold=cfg.progress_threshold, min_interval_s=cfg.progress_min_interval_ms / 1000.0)
        self.status_queue: deque[StatusChange] = deque()
        self.stats = WriterStats()
        self.on_status = on_status
        self._retry = RetryPolicy(base_seconds=0.2, factor=2.0, cap_seconds=cfg.retry_max_ms / 1000.0, jitter=0.1)
        self._failures = 0
        self._not_before = 0.0
        self._ticker: Ticker | None = None
        self.log = structlog.get_logger("annexd.writer").bind(actor=self.name)

    # --- lifecycle ---------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.ctx.beat(self.name)
        try:
            self._load_baseline()
            self._ticker = Ticker(self.actor_ref, self.interval_s, Tick, self.name).start()
        except Exception:
            report_start_failure(self, self.ctx, self.name)
            raise

    def _load_baseline(self) -> None:
        """Learn the progress the database holds, so a restart does not rewrite every active item's row."""
        try:
            with self.ctx.db.connection_context():
                baseline = queries.progress_baseline(PROGRESS_STATUSES)
        except RETRYABLE_DB_ERRORS as exc:  # not fatal: without a baseline the first report of each item is written
            self.log.warning("baseline_unavailable", error=str(exc).strip()[:200])
            return
        self.coalescer.remember(baseline)

    def on_stop(self) -> None:
        if self._ticker:
            self._ticker.stop()
        # The final flush: one try now, one more after a short pause if the database blinked.
        for _ in range(2):
            if self.flush(force=True) or not self.backlog():
                break
            time.sleep(0.5)  # on_stop runs once at shutdown, never while serving messages
        if self.backlog():
            self.log.error("writer_stopped_with_backlog", backlog=self.backlog())

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._ticker:
            self._ticker.stop()
        if self.ctx.supervisor is not None and self.ctx.supervisor.is_alive():
            self.ctx.supervisor.tell(ChildFailed(self.name, repr(exception_value)))

    # --- messages ----------------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ProgressBatch):
            for update in message.updates:
                self.coalescer.offer(update)
            self.ctx.live.publish(message.updates, self.ctx.clock())
            self._received(len(message.updates))
        elif isinstance(message, ProgressUpdate):
            self.coalescer.offer(message)
            self.ctx.live.publish((message,), self.ctx.clock())
            self._received(1)
        elif isinstance(message, StatusChange):
            self.status_queue.append(message)
            self._received(1)
        elif isinstance(message, Tick):
            self.ctx.beat(self.name)
            self.flush()
        elif isinstance(message, Flush):
            self.flush(force=True)
            return self.stats
        else:
            raise TypeError(f"writer: unexpected message {message!r}")
        if self.backlog() >= self.max_batch:
            self.flush()
        return None

    def _received(self, n: int) -> None:
        self.stats.received += n
        metrics.WRITER_RECEIVED.inc(n)
        metrics.WRITER_BACKLOG.set(self.backlog())

    def backlog(self) -> int:
        return len(self.coalescer.pending) + len(self.status_queue)

    # --- flushing ----------------------------------------------------------------------------------
    def flush(self, force: bool = False) -> bool:
        """Write everything pending in one transaction; False if it had to be kept for a retry."""
        if not force and time.monotonic() < self._not_before:
            return False
        changes = list(self.status_queue)
        batch = self.coalescer.drain(force=force)
        coalesced = self.coalescer.take_coalesced()
        self.stats.coalesced += coalesced
        metrics.WRITER_COALESCED.inc(coalesced)
        if not changes and not batch:
            metrics.WRITER_BACKLOG.set(self.backlog())
            return True
        started = time.perf_counter()
        try:
            with self.ctx.db.connection_context(), write_transaction(self.ctx.db), queries.status_batch():
                applied = self._apply_changes(changes)
                rows = self._write_progress(batch)
        except RETRYABLE_DB_ERRORS as exc:
            self._flush_failed(batch, exc)
            return False
        self.status_queue.clear()
        self._flushed(batch, applied, rows, time.perf_counter() - started)
        return True

    def _apply_changes(self, changes: list[StatusChange]) -> list[tuple[int, ProcessingStatus, float]]:
        applied = []
        now = self.ctx.clock()
        for change in changes:
            ok = queries.apply_transition(
                change.item_id, change.expected, change.event, now,
                error=change.error, retry_at=change.retry_at, fields=dict(change.fields),
            )
            if ok:
                row = queries.get_item(change.item_id)
                applied.append((change.item_id, ProcessingStatus(row.status), row.progress))
            else:
                self.stats.transitions_refused += 1
                self.log.info("transition_refused", item_id=change.item_id, expected=change.expected,
                              transition_event=change.event)
        return applied

    def _write_progress(self, batch: list[ProgressUpdate]) -> int:
        rows = [(u.item_id, str(u.status), round(u.progress, 2), u.speed, u.eta_seconds,
                 u.detail[:500] if u.detail is not None else None) for u in batch]
        return queries.write_progress(rows, self.ctx.clock()) if rows else 0

    def _flush_failed(self, batch: list[ProgressUpdate], exc: Exception) -> None:
        self.coalescer.restore(batch)
        self._failures += 1
        delay = self._retry.delay(self._failures - 1)
        self._not_before = time.monotonic() + delay
        self.stats.flush_failures += 1
        metrics.WRITER_FLUSH_ERRORS.inc()
        metrics.WRITER_BACKLOG.set(self.backlog())
        self.log.warning("flush_failed", error=str(exc).strip()[:200], retry_in_s=round(delay, 2),
                         backlog=self.backlog())

    def _flushed(self, batch: list[ProgressUpdate], applied: list[tuple[int, ProcessingStatus, float]],
                 rows: int, seconds: float) -> None:
        self._failures = 0
        self._not_before = 0.0
        self.coalescer.mark_written(batch)
        for item_id, status, progress in applied:
            self.coalescer.forget(item_id, status.value, progress)
        self.ctx.live.discard(item_id for item_id, _, _ in applied)
        self.stats.rows_written += rows + len(applied)
        self.stats.transactions += 1
        self.stats.transitions_applied += len(applied)
        metrics.WRITER_ROWS.inc(rows + len(applied))
        metrics.WRITER_TRANSACTIONS.inc()
        metrics.WRITER_FLUSH_SECONDS.observe(seconds)
        metrics.WRITER_BACKLOG.set(self.backlog())
        if self.on_status:
            for item_id, status, _ in applied:
                self.on_status(item_id, status)
