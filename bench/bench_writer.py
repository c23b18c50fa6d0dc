"""DB writer vs. the legacy "one UPDATE per progress report", against a throwaway PostgreSQL.

Run: ``python -m bench.bench_writer [--quick] [--seconds N] [--items N] [--warmup S]``.

N simulated downloads (default 10,000; each finishes in 10-60 minutes, random per item, seeded RNG) report
their progress on a fixed schedule. They are already under way: the database holds each one's progress at time
0, as it would in a running daemon. Three runs, one after the other, each on its own fresh database and with
identical simulated inputs (report k of every run carries the state at simulated time k * report interval):

  (a) legacy      one autocommit UPDATE per item per report, reports every 500 ms, one thread/connection
  (b) writer      DbWriter, one ProgressBatch message per report (all items), reports every 500 ms,
                  writer flush interval 500 ms
  (c) writer-dflt reports every 5 s (the default download poll interval) with the writer at its own default
                  flush interval (WriterConfig.flush_interval_ms = 1000 ms)

Measured for each: reports sent, rows written (PostgreSQL ``pg_stat_user_tables.n_tup_upd`` delta for
processing_item, and the writer's stats), transactions (``pg_stat_database.xact_commit`` delta, and the
writer's stats), peak connections (``pg_stat_activity`` sampled every ~10 ms from another database, and the
pool's own in-use/idle counts), process CPU seconds and wall time. The legacy run is capped at the run
duration: it processes reports in order and we record how many it managed and how far behind it fell.

The writer keeps state (what it last wrote, and when), so its runs first send reports for a warm-up (default
40 s, longer than its 30 s per-item checkpoint interval) and are measured over the window after it: the steady
state of a running daemon, neither the start (nothing written yet) nor a restart. Rows and transactions in the
window come from the writer's own counts; PostgreSQL's counts over the whole run (warm-up included) are the
cross-check. The rows ratio compares with what the legacy pattern had to write over the same simulated window.
The legacy run replays that same window of the same report stream (it needs no warm-up: it keeps no state), so
the report also gives, for each pattern, the rows it actually wrote in the window beside the rows due (the
legacy pattern falls behind: it writes fewer than are due). The window starts at the warm-up rounded up to
the slowest report interval (5 s), the same simulated time for every run.

Targets (from the issue): rows(a)/rows(c) >= 50, writer transactions <= 1 per flush interval, peak connections
<= the configured maximum. Exit status 0 if all pass, 1 if a target fails, 2 on an error.
Results go to ``bench/results/writer.json``.

One file, although over 400 lines: a benchmark is read as a whole (simulation, the three runs, measurement and
report), and keeping it in one module keeps ``python -m bench.bench_writer`` self-explanatory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "writer.json"
MAX_CONNECTIONS = 5
ROWS_RATIO_TARGET = 50.0
LEGACY_REPORT_S = 0.5
WARMUP_S = 40.0  # longer than the writer's default per-item checkpoint interval (30 s)
EXIT_OK, EXIT_TARGET_FAILED, EXIT_ERROR = 0, 1, 2


# --- the simulation (pure, deterministic) ------------------------------------------------------------------
@dataclass(frozen=True)
class SimItem:
    size: int  # bytes
    duration_s: float  # time from 0 % to 100 %
    p0: float  # progress at simulated time 0
    wobble_phase: float


def make_items(n: int, seed: int) -> list[SimItem]:
    rnd = random.Random(seed)
    items = []
    for _ in range(n):
        items.append(SimItem(
            size=rnd.randint(300, 8000) * 1024 * 1024,
            duration_s=rnd.uniform(600.0, 3600.0),  # finishes in 10-60 minutes
            p0=round(rnd.uniform(0.0, 95.0), 3),  # downloads already under way at different stages
            wobble_phase=rnd.uniform(0.0, 2 * math.pi),
        ))
    return items


def progress_at(item: SimItem, t: float) -> float:
    return min(100.0, item.p0 + 100.0 * t / item.duration_s)


@dataclass
class Schedule:
    """The identical input stream: report k carries every still-active item's state at k * interval."""

    items: list[SimItem]
    ids: list[int]
    interval_s: float
    _done: set[int] = field(default_factory=set)

    def reports(self, k: int) -> list[tuple[int, float, int, int]]:
        t = k * self.interval_s
        out = []
        for idx, item in enumerate(self.items):
            if idx in self._done:
                continue
            progress = progress_at(item, t)
            base = item.size / item.duration_s
            speed = int(base * (1.0 + 0.15 * math.sin(t / 7.0 + item.wobble_phase)))
            eta = int(item.size * (100.0 - progress) / 100.0 / max(speed, 1))
            out.append((self.ids[idx], round(progress, 4), speed, eta))
            if progress >= 100.0:
                self._done.add(idx)  # reported once at 100 %, then it leaves DOWNLOADING
        return out


def reports_due(items: list[SimItem], ids: list[int], interval_s: float, start_s: float, seconds: float) -> int:
    """Item reports a schedule makes from simulated time ``start_s`` for ``seconds``."""
    sched = Schedule(items, ids, interval_s)
    first, n = round(start_s / interval_s), math.ceil(seconds / interval_s - 1e-9)
    counts = [len(sched.reports(k)) for k in range(first + n)]  # from 0: an item stops once reported at 100 %
    return sum(counts[first:])


# --- PostgreSQL-side measurement -----------------------------------------------------------------------------
class PgStats:
    """Counters of one database, read on short-lived connections (their own commits are calibrated out)."""

    def __init__(self, host: str, port: int, dbname: str):
        self.host, self.port, self.dbname = host, port, dbname

    def _connect(self, dbname: str) -> Any:
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user="postgres", dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def read(self) -> dict[str, int]:
        conn = self._connect(self.dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT d.xact_commit, d.xact_rollback, t.n_tup_upd, t.n_tup_hot_upd "
                    "FROM pg_stat_database d, pg_stat_user_tables t "
                    "WHERE d.datname = current_database() AND t.relname = 'processing_item'"
                )
                xc, xr, upd, hot = cur.fetchone()
        finally:
            conn.close()
        return {"xact_commit": int(xc), "xact_rollback": int(xr), "n_tup_upd": int(upd), "n_tup_hot_upd": int(hot)}

    def client_backends(self) -> int:
        conn = self._connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                            (self.dbname,))
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no client is connected to the database (exiting backends flush their statistics)."""
        deadline = time.monotonic() + timeout
        while self.client_backends() > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"connections to {self.dbname} did not close within {timeout}s")
            time.sleep(0.02)


class ConnectionSampler(threading.Thread):
    """Samples pg_stat_activity (from the ``postgres`` database) and the pool's own counts every ~10 ms."""

    def __init__(self, stats: PgStats, db: Any, period_s: float = 0.01):
        super().__init__(name="bench-conn-sampler", daemon=True)
        self.stats, self.db, self.period_s = stats, db, period_s
        self._stop_event = threading.Event()
        self.samples = 0
        self.peak_backends = 0
        self.peak_pool_in_use = 0
        self.peak_pool_open = 0
        self.pool_max = 0
        self.error: str | None = None

    def run(self) -> None:
        from store.db import pool_snapshot

        try:
            conn = self.stats._connect("postgres")
            with conn.cursor() as cur:
                while not self._stop_event.is_set():
                    cur.execute("SELECT count(*) FROM pg_stat_activity "
                                "WHERE datname = %s AND backend_type = 'client backend'", (self.stats.dbname,))
                    self.peak_backends = max(self.peak_backends, int(cur.fetchone()[0]))
                    snap = pool_snapshot(self.db)
                    self.peak_pool_in_use = max(self.peak_pool_in_use, snap["in_use"])
                    self.peak_pool_open = max(self.peak_pool_open, snap["in_use"] + snap["idle"])
                    self.pool_max = snap["max"]
                    self.samples += 1
                    self._stop_event.wait(self.period_s)
            conn.close()
        except Exception as exc:  # reported in the results, never silently
            self.error = repr(exc)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


# --- the runs ------------------------------------------------------------------------------------------------
@dataclass
class RunSpec:
    key: str
    label: str
    mode: str  # "legacy" | "writer"
    report_interval_ms: int
    flush_interval_ms: int | None = None


SPECS = (
    RunSpec("legacy", "(a) legacy 500ms", "legacy", 500),
    RunSpec("writer_report_rate", "(b) writer 500ms", "writer", 500, 500),
    RunSpec("writer_default", "(c) writer 5s/1s", "writer", 5000, 1000),
)


@dataclass
class RunResult:
    key: str
    label: str
    mode: str
    report_interval_ms: int
    flush_interval_ms: int | None
    items: int
    duration_s: float
    reports_due: int = 0  # report ticks scheduled within the duration
    reports_done: int = 0  # report ticks fully processed (legacy) / sent (writer)
    updates_due: int = 0  # item progress reports scheduled
    updates_sent: int = 0  # item progress reports actually written (legacy) / told to the writer
    messages_sent: int = 0  # actor messages (writer runs: one ProgressBatch per report)
    lag_at_end_s: float = 0.0  # legacy: how far the report being written lagged real time when the run ended
    max_report_s: float = 0.0  # legacy: slowest report tick (all its UPDATEs)
    first_flush_s: float | None = None  # writer: first report sent -> first transaction committed (every item)
    final_flush_wait_s: float | None = None  # writer: end of run -> answer to Flush (its backlog at the end)
    rows_db: int = 0  # pg_stat_user_tables.n_tup_upd delta (whole run, warm-up included)
    hot_rows_db: int = 0
    rows_writer: int | None = None  # whole run, warm-up included (equals rows_db)
    warmup_s: float = 0.0  # writer runs: reports sent before the measured window (the writer reaches its steady state)
    window_start_s: float = 0.0  # simulated time the measured window starts at (the same for every run)
    rows_window: int = 0  # rows written in the measured window (writer stats delta; legacy: rows_db)
    legacy_rows_due: int = 0  # one UPDATE per active item per 500 ms report over the same simulated window
    transactions_db: int = 0  # pg_stat_database.xact_commit delta
    rollbacks_db: int = 0
    transactions_writer: int | None = None
    writer_received: int | None = None
    writer_coalesced: int | None = None
    flush_intervals: float | None = None  # writer wall time / flush interval
    transactions_per_interval: float | None = None
    max_transactions_in_one_interval: int | None = None
    peak_backends: int = 0
    peak_pool_in_use: int = 0
    peak_pool_open: int = 0
    pool_max: int = 0
    conn_samples: int = 0
    cpu_s: float = 0.0  # process CPU (time.process_time delta) minus the sampler thread's own CPU
    sim_cpu_s: float = 0.0  # part of cpu_s spent generating the simulated reports (the same input for all)
    wall_s: float = 0.0
    loadavg_1m: tuple[float, float] = (0.0, 0.0)  # machine load before / after (other processes share the CPUs)
    notes: list[str] = field(default_factory=list)


def _seed_database(items: list[SimItem], now: datetime) -> list[int]:
    """Downloads already under way: every item DOWNLOADING, the database holding its progress at time 0."""
    from annexd.domain.pipeline import ProcessingStatus
    from annexd.domain.request_specs import EpisodeSpec, RequestSpec
    from store import queries
    from store.models import ProcessingItem

    n, per_request = len(items), 100
    for r in range(math.ceil(n / per_request)):
        count = min(per_request, n - r * per_request)
        episodes = tuple(EpisodeSpec(season=1 + e // 50, episode=1 + e % 50) for e in range(count))
        queries.create_request(RequestSpec(kind="tv", title=f"Bench Show {r:04d}", episodes=episodes), now)
    status = ProcessingStatus.DOWNLOADING.value
    ProcessingItem.update(status=status).execute()
    pk: Any = ProcessingItem._meta.primary_key
    rows: Any = ProcessingItem.select(pk).order_by(pk).tuples()
    ids = [int(row[0]) for row in rows][:n]
    queries.write_progress([(i, status, round(it.p0, 2), None, None, None) for i, it in zip(ids, items, strict=True)], now)
    return ids


def _wait_until(deadline: float, stop: threading.Event | None = None) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        (stop or threading.Event()).wait(delay)


def _drive_legacy(db: Any, sched: Schedule, seconds: float, first: int, res: RunResult) -> None:
    """One autocommit UPDATE per item per report, in report order, on one connection, until time is up. It
    replays the stream from report ``first`` (the writer runs' measured window); the reports before it are only
    computed (the schedule drops items once reported at 100 %), not written."""
    from store.models import ProcessingItem, utcnow

    pk: Any = ProcessingItem._meta.primary_key
    interval = sched.interval_s
    for k in range(first):
        sched.reports(k)
    t0 = time.monotonic()
    end = t0 + seconds
    behind_since: float | None = None  # due time of the oldest report not yet fully written
    with db.connection_context():
        for k in range(first, first + res.reports_due):
            due = t0 + (k - first) * interval
            if time.monotonic() >= end:
                behind_since = due if behind_since is None else behind_since
                break
            _wait_until(due)
            g0 = time.thread_time()
            reports = sched.reports(k)
            res.sim_cpu_s += time.thread_time() - g0
            started = time.monotonic()
            behind_since = due
            for item_id, progress, speed, eta in reports:
                if time.monotonic() >= end:
                    break
                ProcessingItem.update(
                    {ProcessingItem.progress: round(progress, 2), ProcessingItem.speed: speed,
                     ProcessingItem.eta_seconds: eta, ProcessingItem.updated_at: utcnow()}
                ).where(pk == item_id).execute()
                res.updates_sent += 1
            else:
                res.reports_done += 1
                behind_since = None
            res.max_report_s = max(res.max_report_s, time.monotonic() - started)
    res.lag_at_end_s = round(max(0.0, end - behind_since), 3) if behind_since is not None else 0.0


class Window:
    """The measured part of a run: process CPU (less the connection sampler's thread), wall time and load from
    ``start()`` to ``stop()``."""

    def __init__(self, sampler: threading.Thread) -> None:
        self.sampler = sampler
        self.cpu0 = self.wall0 = self.load0 = 0.0
        self.cpu_s = self.wall_s = self.load1 = 0.0

    def _cpu(self) -> float:
        assert self.sampler.ident is not None
        return time.process_time() - time.clock_gettime(time.pthread_getcpuclockid(self.sampler.ident))

    def start(self) -> None:
        self.load0, self.cpu0, self.wall0 = os.getloadavg()[0], self._cpu(), time.perf_counter()

    def stop(self) -> None:
        self.cpu_s, self.wall_s = self._cpu() - self.cpu0, time.perf_counter() - self.wall0
        self.load1 = os.getloadavg()[0]


def _drive_writer(db: Any, sched: Schedule, seconds: float, flush_ms: int, warmup_s: float, window: Window,
                  res: RunResult) -> None:
    """One ProgressBatch per report tick; the writer flushes on its own schedule. Reports run for ``warmup_s``
    before the measured window opens, so every item has been written on its own rhythm (threshold and minimum
    interval) and the window shows the steady state, not the start. Final Flush to collect stats."""
    from actors.context import ActorContext
    from actors.messages import Flush, ProgressBatch, ProgressUpdate
    from actors.writer import DbWriter, WriterStats
    from annexd.config import Config, WriterConfig
    from annexd.domain.pipeline import ProcessingStatus

    flush_times: list[float] = []

    class TimedWriter(DbWriter):  # records when each transaction committed; behaviour unchanged
        def _flushed(self, *args: Any, **kwargs: Any) -> None:
            super()._flushed(*args, **kwargs)
            flush_times.append(time.monotonic())

        def snapshot(self) -> WriterStats:  # called through a proxy: runs in the actor's thread
            return replace(self.stats)

    config = replace(Config(), writer=replace(WriterConfig(), flush_interval_ms=flush_ms))
    status = ProcessingStatus.DOWNLOADING
    interval = sched.interval_s
    warm = math.ceil(warmup_s / interval - 1e-9) if warmup_s > 0 else 0
    res.warmup_s = round(warm * interval, 3)
    ref = TimedWriter.start(ActorContext(db=db, config=config))
    writer: Any = ref.proxy()
    try:
        t0 = time.monotonic()
        for k in range(warm + res.reports_due):
            _wait_until(t0 + k * interval)
            if k == warm:
                before: WriterStats = writer.snapshot().get()
                window.start()
                w0, flushes0, sim0 = time.monotonic(), len(flush_times), res.sim_cpu_s
            g0 = time.thread_time()
            batch = ProgressBatch(tuple(ProgressUpdate(item_id, status, progress, speed=speed, eta_seconds=eta)
                                        for item_id, progress, speed, eta in sched.reports(k)))
            res.sim_cpu_s += time.thread_time() - g0
            ref.tell(batch)
            if k >= warm:
                res.messages_sent += 1
                res.reports_done += 1
                res.updates_sent += len(batch.updates)
        _wait_until(w0 + seconds)
        after: WriterStats = writer.snapshot().get()
        window.stop()
        res.sim_cpu_s -= sim0
        w_end = time.monotonic()
        before_final = len(flush_times)
        stats: Any = ref.ask(Flush(), timeout=120)
        res.final_flush_wait_s = round(time.monotonic() - w_end, 3)
        window_flushes = flush_times[flushes0:before_final]
        if window_flushes:
            res.first_flush_s = round(window_flushes[0] - w0, 3)
        final_flushes = len(flush_times) - before_final
    finally:
        if ref.is_alive():
            ref.stop(timeout=60)
    res.rows_writer = stats.rows_written
    res.rows_window = after.rows_written - before.rows_written
    res.transactions_writer = after.transactions - before.transactions
    res.writer_received = after.received - before.received
    res.writer_coalesced = after.coalesced - before.coalesced
    flush_s = flush_ms / 1000.0
    # Transactions on the writer's own schedule (ticks and batch-full), over the intervals the window lasted.
    # The bench's explicit final Flush (what shutdown does) is counted in the totals but not in this rate.
    res.flush_intervals = round((w_end - w0) / flush_s, 2)
    res.transactions_per_interval = round(len(window_flushes) / max(res.flush_intervals, 1e-9), 3)
    buckets: dict[int, int] = {}
    for t in window_flushes:
        b = int((t - w0) / flush_s)
        buckets[b] = buckets.get(b, 0) + 1
    res.max_transactions_in_one_interval = max(buckets.values(), default=0)
    if final_flushes:
        res.notes.append(f"the bench's final Flush wrote a transaction ({final_flushes}); excluded from the rate")


def run_one(server: Any, spec: RunSpec, items: list[SimItem], seconds: float, warmup_s: float) -> RunResult:
    from store import migrate
    from store.db import open_database
    from store.models import utcnow

    res = RunResult(key=spec.key, label=spec.label, mode=spec.mode, report_interval_ms=spec.report_interval_ms,
                    flush_interval_ms=spec.flush_interval_ms, items=len(items), duration_s=seconds)
    dbname = server.create_database()
    stats = PgStats("127.0.0.1", server.port, dbname)
    db: Any = open_database(server.url(dbname), max_connections=MAX_CONNECTIONS, timeout=10)
    try:
        with db.connection_context():
            migrate.apply_all(db)
            ids = _seed_database(items, utcnow())
            # No autovacuum/autoanalyze transactions in the middle of the counts (same for every run).
            for (table,) in db.execute_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                db.execute_sql(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
        db.close_all()
        stats.wait_idle()
        r0 = stats.read()
        r1 = stats.read()  # the reader's own commits land in the next reading: calibrate them out
        reader_commits = r1["xact_commit"] - r0["xact_commit"]

        interval_s = spec.report_interval_ms / 1000.0
        res.reports_due = math.ceil(seconds / interval_s - 1e-9)
        # The same stream, counted up front over the measured window: what was asked of the run, and what the
        # legacy pattern (a report every 500 ms) would have had to write over that same simulated time.
        start_s = math.ceil(warmup_s / interval_s - 1e-9) * interval_s if warmup_s > 0 else 0.0
        res.updates_due = reports_due(items, ids, interval_s, start_s, seconds)
        res.legacy_rows_due = reports_due(items, ids, LEGACY_REPORT_S, start_s, seconds)
        sched = Schedule(items, ids, interval_s)
        sampler = ConnectionSampler(stats, db)
        sampler.start()
        window = Window(sampler)
        res.window_start_s = round(start_s, 3)
        if spec.mode == "legacy":  # stateless: one UPDATE per item per report, over the writer runs' window
            window.start()
            _drive_legacy(db, sched, seconds, round(start_s / interval_s), res)
            window.stop()
        else:
            assert spec.flush_interval_ms is not None
            _drive_writer(db, sched, seconds, spec.flush_interval_ms, warmup_s, window, res)
        res.wall_s = round(window.wall_s, 3)
        sampler.stop()
        res.loadavg_1m = (round(window.load0, 2), round(window.load1, 2))
        res.cpu_s = round(window.cpu_s, 3)
        res.sim_cpu_s = round(res.sim_cpu_s, 3)
        res.peak_backends, res.peak_pool_in_use = sampler.peak_backends, sampler.peak_pool_in_use
        res.peak_pool_open, res.pool_max, res.conn_samples = sampler.peak_pool_open, sampler.pool_max, sampler.samples
        if sampler.error:
            res.notes.append(f"connection sampler failed: {sampler.error}")

        db.close_all()
        stats.wait_idle()
        r2 = stats.read()
        res.rows_db = r2["n_tup_upd"] - r1["n_tup_upd"]
        if spec.mode == "legacy":
            res.rows_window = res.rows_db
        res.hot_rows_db = r2["n_tup_hot_upd"] - r1["n_tup_hot_upd"]
        res.transactions_db = r2["xact_commit"] - r1["xact_commit"] - reader_commits
        res.rollbacks_db = r2["xact_rollback"] - r1["xact_rollback"]
    finally:
        db.close_all()
    return res


# --- reporting -----------------------------------------------------------------------------------------------
def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else math.inf


def expected_steady_state_ratio(items: list[SimItem], report_s: float, threshold: float, min_interval_s: float) -> float:
    """Rows/s of the legacy pattern over rows/s of the writer in its steady state (arithmetic on the simulated
    items): legacy writes every item every 500 ms; the writer writes an item at the first report after it moved
    ``threshold`` points and at least ``min_interval_s`` passed since its last write."""
    legacy = len(items) / LEGACY_REPORT_S
    writer = sum(1.0 / (math.ceil(max(min_interval_s, threshold * it.duration_s / 100.0) / report_s - 1e-9) * report_s)
                 for it in items)
    return round(legacy / writer, 2)


def evaluate(runs: dict[str, RunResult], items: list[SimItem]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from annexd.config import WriterConfig

    a, b, c = runs["legacy"], runs["writer_report_rate"], runs["writer_default"]
    ratios = {
        # rows the legacy pattern had to write (one per item per report, had it kept up) / rows the writer wrote
        # over the same simulated window (after the writer's warm-up)
        "rows_a_due_over_b": _ratio(b.legacy_rows_due, b.rows_window),
        "rows_a_due_over_c": _ratio(c.legacy_rows_due, c.rows_window),
        # rows the legacy run actually wrote (it falls behind) / rows the writer wrote, over the same simulated
        # window of the same report stream
        "rows_a_written_over_b": _ratio(a.rows_window, b.rows_window),
        "rows_a_written_over_c": _ratio(a.rows_window, c.rows_window),
        # what the rules predict for (c) (arithmetic on the simulated items, no database)
        "rows_a_over_c_steady_state_expected": expected_steady_state_ratio(
            items, c.report_interval_ms / 1000, WriterConfig().progress_threshold,
            WriterConfig().progress_min_interval_ms / 1000),
        "transactions_a_over_b": _ratio(a.transactions_db, b.transactions_writer or 0),
        "transactions_a_over_c": _ratio(a.transactions_db, c.transactions_writer or 0),
        "cpu_a_over_b": _ratio(a.cpu_s, b.cpu_s),
        "cpu_a_over_c": _ratio(a.cpu_s, c.cpu_s),
        "legacy_fraction_of_reports_written": round(a.updates_sent / a.updates_due, 4) if a.updates_due else None,
        "legacy_updates_per_s": round(a.updates_sent / a.wall_s, 1) if a.wall_s else None,
    }
    targets = [
        {"name": "rows(a)/rows(c) >= 50: legacy rows due (one per item per report) / writer rows at defaults, "
                 "steady-state window",
         "value": ratios["rows_a_due_over_c"], "limit": ROWS_RATIO_TARGET,
         "pass": float(ratios["rows_a_due_over_c"] or 0.0) >= ROWS_RATIO_TARGET},
    ]
    for r in (b, c):
        targets.append({"name": f"({r.key}) writer transactions per flush interval <= 1 (average over the run)",
                        "value": r.transactions_per_interval, "limit": 1.0,
                        "pass": r.transactions_per_interval is not None and r.transactions_per_interval <= 1.0})
        targets.append({"name": f"({r.key}) writer transactions in any single flush interval <= 1",
                        "value": r.max_transactions_in_one_interval, "limit": 1,
                        "pass": r.max_transactions_in_one_interval is not None
                        and r.max_transactions_in_one_interval <= 1})
    for r in (a, b, c):
        peak = max(r.peak_backends, r.peak_pool_open)
        targets.append({"name": f"({r.key}) peak connections <= configured max {MAX_CONNECTIONS}",
                        "value": peak, "limit": MAX_CONNECTIONS, "pass": peak <= MAX_CONNECTIONS and r.conn_samples > 0})
    return ratios, targets


def print_report(runs: dict[str, RunResult], ratios: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    cols = list(runs.values())

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    rows = [
        ("report interval (ms)", "report_interval_ms"), ("writer flush interval (ms)", "flush_interval_ms"),
        ("report ticks due / done", None), ("progress reports due", "updates_due"),
        ("progress reports sent", "updates_sent"), ("actor messages", "messages_sent"),
        ("legacy lag at end (s)", "lag_at_end_s"), ("slowest report tick (s)", "max_report_s"),
        ("writer: first commit after (s)", "first_flush_s"), ("writer: final Flush answered in (s)", "final_flush_wait_s"),
        ("writer warm-up before the window (s)", "warmup_s"), ("legacy rows due in the window", "legacy_rows_due"),
        ("rows written in the window", "rows_window"),
        ("rows written, whole run (DB n_tup_upd)", "rows_db"), ("rows written, whole run (writer)", "rows_writer"),
        ("transactions, whole run (DB xact_commit)", "transactions_db"),
        ("transactions in the window (writer)", "transactions_writer"),
        ("flush intervals elapsed", "flush_intervals"), ("transactions / flush interval", "transactions_per_interval"),
        ("max transactions in 1 interval", "max_transactions_in_one_interval"),
        ("peak connections (pg_stat_activity)", "peak_backends"), ("peak pool in use", "peak_pool_in_use"),
        ("peak pool open (in use + idle)", "peak_pool_open"), ("pool max", "pool_max"),
        ("load average 1m before/after", "loadavg_1m"), ("CPU s (process)", "cpu_s"), ("  of which simulation", "sim_cpu_s"), ("wall s", "wall_s"),
    ]
    width = 38
    print(f"\n{'':<{width}}" + "".join(f"{c.label:>22}" for c in cols))
    for title, attr in rows:
        if attr is None:
            vals = [f"{c.reports_due:,} / {c.reports_done:,}" for c in cols]
        else:
            vals = [fmt(getattr(c, attr)) for c in cols]
        print(f"{title:<{width}}" + "".join(f"{v:>22}" for v in vals))
    a = runs["legacy"]
    print(f"\nrows in the same window of the same report stream (simulated t = {a.window_start_s:g} s to "
          f"{a.window_start_s + a.duration_s:g} s):")
    print(f"  {'pattern':<24}{'rows due (legacy rule)':>24}{'rows actually written':>24}")
    for c in cols:
        print(f"  {c.label:<24}{fmt(c.legacy_rows_due):>24}{fmt(c.rows_window):>24}")
    print("\nratios (legacy / writer):")
    for k, v in ratios.items():
        print(f"  {k:<40} {fmt(v)}")
    print("\n(c) = reports every 5 s (the default download poll interval, ANNEX_DOWNLOAD_POLL_INTERVAL=5000) with the")
    print("    writer at its own default flush interval of 1 s (WriterConfig.flush_interval_ms=1000).")
    print("rows due = what the legacy pattern had to write to keep up; rows written = what it managed in the time.")
    print("DB xact_commit also counts the pool's liveness check (SELECT 1, autocommit) on every connection checkout;")
    print("the writer-stats column counts only the writer's write transactions.")
    for c in cols:
        for note in c.notes:
            print(f"note ({c.key}): {note}")
    print("\ntargets:")
    for t in targets:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {fmt(t['value'])} (limit {fmt(t['limit'])})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_writer", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 items for 5 s")
    parser.add_argument("--items", type=int, default=None, help="simulated downloads (default 10,000)")
    parser.add_argument("--seconds", type=float, default=None, help="duration of each run (default 30)")
    parser.add_argument("--warmup", type=float, default=None,
                        help=f"writer runs: seconds of reports before the measured window (default {WARMUP_S:g})")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    n_items = args.items or (1000 if args.quick else 10_000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else WARMUP_S)
    slowest = max(spec.report_interval_ms for spec in SPECS) / 1000.0
    warmup = math.ceil(warmup / slowest - 1e-9) * slowest  # one window start for every run
    from tests.servers.postgres import start_postgres

    specs = SPECS
    items = make_items(n_items, args.seed)
    print(f"bench_writer: {n_items:,} simulated downloads, {seconds:g} s per run, seed {args.seed}, "
          f"pool max {MAX_CONNECTIONS}; starting a throwaway PostgreSQL...", flush=True)
    runs: dict[str, RunResult] = {}
    try:
        server = start_postgres()
    except Exception as exc:
        print(f"bench_writer: cannot start PostgreSQL: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        for spec in specs:
            print(f"  running {spec.label} ...", flush=True)
            runs[spec.key] = run_one(server, spec, items, seconds, warmup)
    except Exception:
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    finally:
        server.destroy()

    ratios, targets = evaluate(runs, items)
    print_report(runs, ratios, targets)
    passed = all(t["pass"] for t in targets)
    result = {
        "bench": "writer",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"items": n_items, "seconds": seconds, "seed": args.seed, "max_connections": MAX_CONNECTIONS,
                   "item_duration_s": [600, 3600], "progress_threshold": 1.0, "quick": args.quick},
        "runs": {k: asdict(v) for k, v in runs.items()},
        "ratios": ratios,
        "window": {"start_s": runs["legacy"].window_start_s, "seconds": seconds,
                   "rows": {k: {"due": v.legacy_rows_due, "written": v.rows_window} for k, v in runs.items()}},
        "targets": targets,
        "passed": passed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nresults written to {args.output}; {'all targets PASS' if passed else 'some targets FAIL'}")
    return EXIT_OK if passed else EXIT_TARGET_FAILED


if __name__ == "__main__":
    sys.exit(main())
