"""What the `annexd` command's parts share: the configuration and the database as a command opens them, and
output (rich tables for people, JSON with --json). Not pure: reads the environment, opens the database, prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import peewee

from annexd.config import Config, load_config

PIPE_WIDTH = 160


def out(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def console() -> Any:
    """rich's console; into a pipe or a file, 160 columns rather than 80 so tables are not wrapped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)


def show(args: argparse.Namespace, data: Any, render: Callable[[Any], Any]) -> None:
    """``data`` as JSON with --json, else what ``render`` makes of it, printed by rich."""
    if getattr(args, "json", False):
        out(data)
        return
    console().print(render(data))


def config_path(args: argparse.Namespace) -> str | None:
    return args.config or os.environ.get("ANNEX_CONFIG") or None


def config(args: argparse.Namespace) -> Config:
    return load_config(config_path(args))


def create_db(cfg: Config) -> peewee.Database:
    """The database, created if needed (only `annexd migrate` uses this)."""
    from store.db import open_database

    return open_database(cfg.database_url, cfg.database.max_connections, cfg.database.pool_timeout_seconds,
                         cfg.database.sqlite_busy_timeout_ms)


def existing_db(cfg: Config) -> peewee.Database:
    """The database with every migration applied; never created (PendingMigrationsError, StoreError)."""
    from store.migrate import open_current

    return open_current(cfg.database_url, cfg.database.max_connections, cfg.database.pool_timeout_seconds,
                        cfg.database.sqlite_busy_timeout_ms)


@contextmanager
def current_db(args: argparse.Namespace) -> Iterator[peewee.Database]:
    """The configured database (every migration applied, never created), one connection held for the command."""
    db = existing_db(config(args))
    with db.connection_context():
        yield db
