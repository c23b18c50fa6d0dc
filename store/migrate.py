"""Apply, list and roll back the migrations in migrations/ (peewee-migrate)."""

from __future__ import annotations

import logging
from pathlib import Path

import peewee
from peewee_migrate import Router

import migrations
from annexd.errors import MissingDatabaseError, PendingMigrationsError, StoreError
from annexd.redaction import redact_url
from store.db import open_database, sqlite_file

MIGRATIONS_DIR = Path(migrations.__file__).parent
_log = logging.getLogger("annexd.migrate")


def router(db: peewee.Database) -> Router:
    return Router(db, migrate_dir=MIGRATIONS_DIR, migrate_table="migratehistory", logger=_log)


def pending(db: peewee.Database) -> list[str]:
    return list(router(db).diff)


def applied(db: peewee.Database) -> list[str]:
    return list(router(db).done)


def apply_all(db: peewee.Database) -> list[str]:
    """Apply every pending migration; returns their names."""
    todo = pending(db)
    if todo:
        router(db).run()
    return todo


def rollback(db: peewee.Database, steps: int = 1) -> list[str]:
    r = router(db)
    undone: list[str] = []
    for _ in range(steps):
        if not r.done:
            break
        undone.append(r.done[-1])
        r.rollback()
    return undone


def all_names() -> list[str]:
    """Every migration in migrations/, in order, without a database."""
    return sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.py"))


def open_current(url: str, max_connections: int = 5, timeout: float = 10.0, busy_ms: int = 5000) -> peewee.Database:
    """The database at ``url``, refusing one with pending migrations. A SQLite file that does not exist is not
    created (MissingDatabaseError: every migration is pending); an unreachable server is a StoreError."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise MissingDatabaseError(str(path), all_names())
    db = open_database(url, max_connections, timeout, busy_ms)
    try:
        with db.connection_context():
            require_current(db)
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        raise StoreError(f"database {redact_url(url)} unavailable: {str(exc).strip()[:200]}") from exc
    return db


def require_current(db: peewee.Database) -> None:
    """Refuse to run on a database with pending migrations."""
    todo = pending(db)
    if todo:
        raise PendingMigrationsError(todo)
