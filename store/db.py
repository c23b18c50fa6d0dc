"""The database, configured from one URL: SQLite (embedded default, WAL) or PostgreSQL, both pooled.

The pool's budget is the configured ``max_connections`` and is never exceeded: a thread that finds the pool
full waits up to ``pool_timeout`` for a connection to come back. Threads hold a connection only for one unit
of work (``with db.connection_context():``), so the budget is shared by every actor and the HTTP thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from annexd import metrics
from annexd.errors import ConfigError

# Every model binds to this proxy; open_database() points it at the real database.
database_proxy = peewee.DatabaseProxy()


class _PoolStats:
    """Read pool counts under the pool's own lock (peewee has no public API for them)."""

    def __init__(self, db: peewee.Database):
        self.db = db

    def snapshot(self) -> dict[str, int]:
        lock = getattr(self.db, "_pool_lock", threading.RLock())
        with lock:
            return {
                "in_use": len(getattr(self.db, "_in_use", {})),
                "idle": len(getattr(self.db, "_connections", [])),
                "max": int(getattr(self.db, "_max_connections", 0) or 0),
            }


def _sqlite(url: str, max_connections: int, timeout: float, busy_ms: int) -> peewee.Database:
    path = unquote(url[len("sqlite:///"):])
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return PooledSqliteDatabase(
        path,
        max_connections=max_connections,
        timeout=timeout,
        stale_timeout=3600,
        pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": busy_ms,
            "synchronous": "normal",
        },
        check_same_thread=False,
    )


def _postgres(url: str, max_connections: int, timeout: float) -> peewee.Database:
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return PooledPostgresqlDatabase(
        unquote(parts.path.lstrip("/")) or "annexd",
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        max_connections=max_connections,
        timeout=timeout,
        stale_timeout=3600,
        connect_timeout=int(options.pop("connect_timeout", 5)),
        **options,
    )


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite:///"):
        return None
    path = unquote(url[len("sqlite:///"):])
    return None if path == ":memory:" else Path(path)


def make_database(url: str, max_connections: int = 5, timeout: float = 10.0, busy_ms: int = 5000) -> peewee.Database:
    if url.startswith("sqlite:///"):
        return _sqlite(url, max_connections, timeout, busy_ms)
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres(url, max_connections, timeout)
    raise ConfigError([f"database.url: unsupported scheme in {url.split(':')[0]!r}"])


def open_database(url: str, max_connections: int = 5, timeout: float = 10.0, busy_ms: int = 5000) -> peewee.Database:
    """Create the database for ``url`` and bind every model to it."""
    db = make_database(url, max_connections, timeout, busy_ms)
    database_proxy.initialize(db)
    return db


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def write_transaction(db: peewee.Database | None = None) -> Any:
    """A transaction that will write. On SQLite it takes the write lock up front (BEGIN IMMEDIATE): a
    deferred transaction that reads first and then writes fails at once with "database is locked" instead
    of waiting for the busy timeout."""
    db = db or database_proxy.obj
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def pool_snapshot(db: peewee.Database) -> dict[str, int]:
    return _PoolStats(db).snapshot()


def export_pool_metrics(db: peewee.Database) -> dict[str, int]:
    snap = pool_snapshot(db)
    metrics.DB_POOL_CONNECTIONS.labels("in_use").set(snap["in_use"])
    metrics.DB_POOL_CONNECTIONS.labels("idle").set(snap["idle"])
    metrics.DB_POOL_MAX.set(snap["max"])
    return snap

