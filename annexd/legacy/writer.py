"""The write side of ``import-annex``: an :class:`~annexd.legacy.command.ImportPlan` into annexd's database and
secret store (I/O; the rules are in store.queries.legacy_import and the columns in annexd.legacy.columns).

Order: secrets first (a name already in annexd's store is left as it is), then the users who asked and the
requests (found again by legacy id, or merged through the one request per title), then the items in batches.
Reading and planning the items (this thread) overlaps writing them: a writer thread with its own connection
takes batches from a bounded queue, so neither side waits for the other longer than one batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import peewee

from annexd.config import Config
from annexd.legacy.columns import download_columns, item_columns, request_columns
from annexd.legacy.config_plan import ConfigPlan
from annexd.legacy.parallel import default_jobs, write_in_parallel
from annexd.legacy.plan import PlannedItem, PlannedRequest
from annexd.legacy.report import Report
from annexd.secrets import MasterKey, SecretStore
from store import queries
from store.db import is_postgres
from store.migrate import open_current
from store.models import utcnow
from store.secret_backend import DbSecretBackend

if TYPE_CHECKING:
    from annexd.legacy.command import ImportPlan

BATCH = 5000
QUEUE_BATCHES = 4


@dataclass
class WriteCounts:
    """What the write changed, for the report (a re-run of the same legacy database counts zeros)."""

    secrets_stored: list[str] = field(default_factory=list)
    secrets_kept: list[str] = field(default_factory=list)  # already in annexd's store: left as they are
    requests: dict[str, int] = field(default_factory=lambda: {"created": 0, "merged": 0, "known": 0})
    items_added: int = 0
    items_kept: int = 0  # annexd had the (request, season, episode) already: left as it is

    def to_json(self) -> dict[str, Any]:
        return {"secrets_stored": self.secrets_stored, "secrets_kept": self.secrets_kept,
                "requests": dict(self.requests), "items_added": self.items_added, "items_kept": self.items_kept}


def write_plan(plan: ImportPlan, dsn: str, cfg: Config, advance: Callable[[int], None] | None = None) -> Report:
    """Write ``plan`` (read from ``dsn``) into the database of ``cfg`` (migrated: PendingMigrationsError
    otherwise); the items by several processes when the plan is big (annexd.legacy.parallel)."""
    db = open_current(cfg.database_url, max(cfg.database.max_connections, 2), cfg.database.pool_timeout_seconds,
                      cfg.database.sqlite_busy_timeout_ms)
    now = utcnow()
    report = Report(dry_run=False, shape=plan.shape)
    report.add_requests(plan.requests)
    counts = WriteCounts()
    try:
        with db.connection_context():
            store = SecretStore(DbSecretBackend(), MasterKey.load_or_create(cfg.master_key_path))
            store_secrets(plan.secrets.carried, store, counts)
            ids = write_requests(plan.requests, now, counts)
        client, advance = client_name(cfg, plan.config), advance or (lambda n: None)
        jobs = plan.jobs or default_jobs(plan.rows, is_postgres(db))
        counts.items_added = (
            write_in_parallel(plan.reader, dsn, plan.requests, ids, plan.settings, client, now, cfg, jobs, report,
                              advance) if jobs > 1
            else write_items(plan.items, ids, plan.requests, client, now, db, report, advance))
    finally:
        getattr(db, "close_all", db.close)()  # the pool's connections, not only this thread's
    counts.items_kept = sum(report.items.values()) - counts.items_added
    report.written = counts.to_json()
    return report


def client_name(cfg: Config, config: ConfigPlan) -> str:
    """The download client imported torrents are tracked in: annexd's first enabled one, else the first one
    the written config enables, else "qbittorrent"."""
    configured = [c.name for c in cfg.download_clients if getattr(c, "enabled", True)]
    planned = [e.name for e in config.section("download_clients") if e.enabled]
    return next(iter([*configured, *planned]), "qbittorrent")


def store_secrets(carried: Iterable[tuple[str, Any]], store: SecretStore, counts: WriteCounts) -> None:
    existing = set(store.names())
    for name, value in carried:
        if name in existing:
            counts.secrets_kept.append(name)
        else:
            store.set(name, value)
            counts.secrets_stored.append(name)


def write_requests(requests: Mapping[str, PlannedRequest], now: datetime, counts: WriteCounts,
                   chunk: int = 500) -> dict[str, int]:
    """Planned request key -> annexd request id, the users who asked made first (disabled, without keys)."""
    queries.ensure_users({name for r in requests.values() for name in (r.requested_by, *r.usernames)}, now)
    index = queries.legacy_request_index()
    planned = list(requests.values())
    ids: dict[str, int] = {}
    for start in range(0, len(planned), chunk):
        part = planned[start:start + chunk]
        outcomes = queries.adopt_requests([request_columns(r, now) for r in part], index)
        for request, outcome in zip(part, outcomes, strict=True):
            ids[request.key] = outcome.request_id
            counts.requests[outcome.outcome] += 1
    return ids


class BatchWriter:
    """A thread writing item batches (store.queries.import_items) from a bounded queue, in its own connection.
    An error in the thread is raised again in the caller at the next :meth:`put` or at :meth:`close`."""

    def __init__(self, db: peewee.Database, slots: int = QUEUE_BATCHES):
        self.db = db
        self.queue: queue.Queue[tuple[list[dict[str, Any]], dict[str, dict[str, Any]]] | None] = queue.Queue(slots)
        self.added = 0
        self.error: BaseException | None = None
        self.download_ids: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.db.connection_context():
                while (batch := self.queue.get()) is not None:
                    self.added += queries.import_items(batch[0], batch[1], self.download_ids)
        except BaseException as exc:  # handed to the caller, which stops reading
            self.error = exc
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return

    def put(self, items: list[dict[str, Any]], downloads: dict[str, dict[str, Any]]) -> None:
        while True:
            self._raise()
            try:
                self.queue.put((items, downloads), timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> int:
        """Wait for every batch to be written; the number of items added."""
        while self.thread.is_alive():
            try:
                self.queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self.thread.join()
        self._raise()
        return self.added

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class _Batch:
    items: list[dict[str, Any]] = field(default_factory=list)
    downloads: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_items(items: Iterable[PlannedItem], request_ids: Mapping[str, int], requests: Mapping[str, PlannedRequest],
                client: str, now: datetime, db: peewee.Database, report: Report,
                advance: Callable[[int], None] = lambda n: None, batch_size: int = BATCH) -> int:
    """Every planned item, written in batches by a :class:`BatchWriter`; returns how many were new."""
    writer = BatchWriter(db)
    batch = _Batch()
    try:
        for item in items:
            report.add_item(item)
            _add(batch, item, request_ids[item.request_key], requests[item.request_key].requested_by, client, now)
            advance(max(len(item.merged_ids), 1))
            if len(batch.items) >= batch_size:
                writer.put(batch.items, batch.downloads)
                batch = _Batch()
        if batch.items:
            writer.put(batch.items, batch.downloads)
    finally:
        added = writer.close()
    return added


def _add(batch: _Batch, item: PlannedItem, request_id: int, requested_by: str, client: str, now: datetime) -> None:
    batch.items.append(item_columns(item, request_id, requested_by, now))
    link = item.download
    if link is not None and link.info_hash not in batch.downloads:
        release = {**(item.release or {}), "season_pack": link.is_pack, "season": link.season}
        batch.downloads[link.info_hash] = download_columns(link, client, release, now)
