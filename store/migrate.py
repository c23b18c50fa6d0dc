"""Apply, list and roll back the migrations in migrations/ (peewee-migrate)."""

from __future__ import annotations

import logging
from pathlib import Path

import peewee
from peewee_migrate import Router

import migrations
from annexd.errors import PendingMigrationsError

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


def require_current(db: peewee.Database) -> None:
    """Refuse to run on a database with pending migrations."""
    todo = pending(db)
    if todo:
        raise PendingMigrationsError(todo)
