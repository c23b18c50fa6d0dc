"""Items of a big import planned and written by several processes (I/O): the work rows are split into ranges of
title (group key, byte order), each read by a worker process in the snapshot the main reader exported (one
consistent state of the legacy database for all of them), planned there and written there into annexd's
database. Titles never cross ranges, so a title's items, its season pack and its request's status are one
worker's; a Download shared by two titles is upserted by hash and linked, never written twice.

Planning is pure Python (about 100 µs an item), so one process cannot go past roughly 10,000 items/s; the
workers share that work across the machine's cores. The main process keeps the reader (and its snapshot) open
until every worker is done.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime

from annexd.config import Config
from annexd.legacy.plan import PlannedRequest, PlanSettings, plan_items
from annexd.legacy.reader import LegacyReader
from annexd.legacy.report import Report

KeyRange = tuple[str | None, str | None]
PARALLEL_FROM_ROWS = 20_000  # below this, starting processes costs more than it saves
RANGES_PER_JOB = 4  # smaller ranges than workers: a slow range does not leave the others idle


def default_jobs(rows: int, postgres: bool) -> int:
    """On SQLite one writer at a time holds the database: one process. On PostgreSQL up to 4, by the CPUs."""
    return 1 if rows < PARALLEL_FROM_ROWS or not postgres else max(1, min(4, os.cpu_count() or 1))


def key_ranges(keys: Sequence[str], parts: int) -> list[KeyRange]:
    """``parts`` contiguous ranges of the sorted group keys, as [first key, next range's first key)."""
    ordered = sorted(keys)
    parts = max(1, min(parts, len(ordered)))
    starts = [ordered[len(ordered) * i // parts] for i in range(parts)]
    return [(None if i == 0 else start, starts[i + 1] if i + 1 < parts else None) for i, start in enumerate(starts)]


def in_range(key: str, keys: KeyRange) -> bool:
    return (keys[0] is None or key >= keys[0]) and (keys[1] is None or key < keys[1])


@dataclass(frozen=True)
class Share:
    """One worker's range and everything it needs (pickled to the worker process)."""

    dsn: str
    snapshot: str
    keys: KeyRange
    requests: dict[str, PlannedRequest]  # the range's only
    request_ids: dict[str, int]
    settings: PlanSettings
    client: str
    now: datetime
    database_url: str
    busy_ms: int


@dataclass
class ShareResult:
    report: Report
    added: int
    rows: int


def run_share(share: Share) -> ShareResult:
    """In a worker process: read, plan and write one range of titles."""
    from annexd.legacy.writer import write_items
    from store.db import open_database

    db = open_database(share.database_url, 2, busy_ms=share.busy_ms)
    report = Report(dry_run=False, shape="")
    rows = 0

    def advance(n: int) -> None:
        nonlocal rows
        rows += n

    try:
        with LegacyReader(share.dsn, snapshot=share.snapshot) as reader:
            items = plan_items(reader.work_rows(share.keys), share.requests, share.settings)
            added = write_items(items, share.request_ids, share.requests, share.client, share.now, db, report,
                                advance)
    finally:
        getattr(db, "close_all", db.close)()
    return ShareResult(report, added, rows)


def write_in_parallel(reader: LegacyReader, dsn: str, requests: Mapping[str, PlannedRequest],
                      request_ids: Mapping[str, int], settings: PlanSettings, client: str, now: datetime,
                      cfg: Config, jobs: int, report: Report, advance: Callable[[int], None]) -> int:
    """Every item, planned and written by ``jobs`` processes; returns how many were new."""
    snapshot = reader.export_snapshot()
    shares = [Share(dsn, snapshot, keys, {k: r for k, r in requests.items() if in_range(k, keys)},
                    {k: i for k, i in request_ids.items() if in_range(k, keys)}, settings, client, now,
                    cfg.database_url, cfg.database.sqlite_busy_timeout_ms)
              for keys in key_ranges(list(requests), jobs * RANGES_PER_JOB)]
    added = 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in as_completed([pool.submit(run_share, share) for share in shares]):
            result = done.result()
            report.merge(result.report)
            added += result.added
            advance(result.rows)
    return added
