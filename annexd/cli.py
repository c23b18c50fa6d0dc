"""The `annexd` command: run, migrate, check-config, request add|list|show|cancel|watch|approve|decline and item
show|retry (annexd.cli_requests), user (annexd.cli_users), status, maintenance recompute, secret, encoder,
announce, parse, import-annex (annexd.legacy.command). People get tables (rich, annexd.cli_render); ``--json``
gives scripts the same views the API answers with. Request commands act as ``--user NAME`` (default admin), with
that user's rights.

Commands that use the database open it as it is (``store.migrate.open_current``): a database with pending
migrations is refused with exit 4 and its migrations listed, and a missing SQLite file is never created (only
``annexd migrate`` creates it). ``run`` and ``check-config`` share one validation (annexd.config_check).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

import peewee

from annexd import __version__, announce_cli, cli_requests, cli_users
from annexd.cli_common import (
    config as _config,
    config_path as _config_path,
    create_db as _db,
    existing_db as _existing_db,
    out as _out,
    show as _show,
)
from annexd.config import Config, describe, dumps
from annexd.errors import AnnexdError, ConfigError, NotFoundError, PendingMigrationsError, StoreError
from annexd.exitcodes import ExitCode
from annexd.legacy import command as legacy_command


def _checked_config(args: argparse.Namespace) -> Config:
    """The one validation (check-config and run): the file, the environment and every reference in it."""
    from annexd.config_check import check_config, store_problems

    return check_config(_config_path(args), os.environ,
                        lambda cfg, wanted: store_problems(cfg, wanted, _existing_db))


# --- commands --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from annexd.daemon import Daemon, configure_logging

    cfg = _checked_config(args)
    configure_logging(cfg)
    return int(Daemon(cfg).run())


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _checked_config(args)
    for notice in cfg.notices:
        print(f"warning: {notice}", file=sys.stderr)
    if not args.json:
        print("configuration OK")
    print(dumps(describe(cfg)))
    return ExitCode.OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from store import migrate
    from store.db import sqlite_file

    cfg = _config(args)
    missing = (path := sqlite_file(cfg.database_url)) is not None and not path.exists()
    if args.list and missing:  # listing creates nothing
        for name in migrate.all_names():
            print(f"[ ] {name}")
        return ExitCode.OK
    db = _db(cfg)
    with db.connection_context():
        if args.list:
            done = set(migrate.applied(db))
            for name in migrate.router(db).todo:
                print(f"[{'x' if name in done else ' '}] {name}")
        elif args.rollback:
            for name in migrate.rollback(db, args.rollback):
                print(f"rolled back {name}")
        else:
            applied = migrate.apply_all(db)
            print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from annexd import cli_render as render
    from annexd.redaction import redact_url
    from store import queries
    from store.db import pool_snapshot

    cfg = _config(args)
    try:
        db = _existing_db(cfg)
    except PendingMigrationsError as exc:
        data: dict[str, Any] = {"version": __version__, "database": redact_url(cfg.database_url),
                                "pending_migrations": exc.pending}
        _show(args, data, render.status_tables)
        print(f"annexd: {exc}", file=sys.stderr)
        return ExitCode.PENDING_MIGRATIONS
    with db.connection_context():
        data = {"version": __version__, "database": redact_url(cfg.database_url), "pending_migrations": [],
                "items": queries.items_by_status(), "pool": pool_snapshot(db)}
    _show(args, data, render.status_tables)
    return ExitCode.OK


def cmd_maintenance(args: argparse.Namespace) -> int:
    """``maintenance recompute``: rebuild every request's derived status from its items."""
    from store import queries

    db = _existing_db(_config(args))
    with db.connection_context():
        seen, changed = queries.recompute_all()
    _out({"requests": seen, "corrected": changed})
    return ExitCode.OK


def cmd_secret(args: argparse.Namespace) -> int:
    from annexd.daemon import open_secret_store
    from annexd.errors import InvalidInputError

    cfg = _config(args)
    db = _existing_db(cfg)
    with db.connection_context():
        store = open_secret_store(cfg)
        if args.action == "set":
            value = sys.stdin.read().rstrip("\r\n")
            try:
                store.set(args.name, value)
            except InvalidInputError as exc:
                print(f"secret {args.name!r} not stored: {exc}", file=sys.stderr)
                return ExitCode.USAGE
            print(f"stored secret {args.name!r} (refer to it as secret:{args.name})")
        elif args.action == "delete":
            store.delete(args.name)
            print(f"deleted secret {args.name!r}")
        else:
            for name in store.names():
                print(name)
    return ExitCode.OK


def cmd_encoder(args: argparse.Namespace) -> int:
    from annexd.encoder import agent as encoder_agent

    return int(encoder_agent.main(args.agent_args))


def cmd_parse(args: argparse.Namespace) -> int:
    """How annexd reads each release name: a table per name, or with --json one JSON object per line whose keys
    are ParsedRelease's fields plus ``quality`` (annexd.domain.quality.quality_of, e.g. "480p sdtv")."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from annexd.domain.quality import quality_of
    from annexd.domain.releases import parse_release

    console = Console(highlight=False, soft_wrap=True)
    for name in args.names:
        parsed = parse_release(name)
        row = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)}
        row = {k: list(v) if isinstance(v, tuple) else v.isoformat() if isinstance(v, date) else v
               for k, v in row.items()}
        row["quality"] = quality_of(parsed)
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        table = Table("field", "value", title=name, title_justify="left", show_header=False)
        for key, value in row.items():
            if key != "title":
                table.add_row(key, json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value)
        console.print(table)
    return ExitCode.OK


# --- parser ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="annexd", description="annexd media-pipeline daemon")
    parser.add_argument("--version", action="version", version=f"annexd {__version__}")
    parser.add_argument("-c", "--config", help="TOML config file (default: $ANNEX_CONFIG, else none)")
    # --config is also accepted after the command (`annexd run --config FILE`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    shown = argparse.ArgumentParser(add_help=False, parents=[common])
    shown.add_argument("--json", action="store_true", help="JSON for scripts instead of tables")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon", parents=[common]).set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate the config and what it points at, listing every problem",
                   parents=[shown]).set_defaults(func=cmd_check_config)
    _secret_parsers(sub, common)
    enc = sub.add_parser("encoder", help="run a remote encoder agent (see `annexd encoder --help`)", add_help=False)
    enc.add_argument("agent_args", nargs=argparse.REMAINDER)
    enc.set_defaults(func=cmd_encoder)
    p = sub.add_parser("migrate", help="apply database migrations", parents=[common])
    p.add_argument("--list", action="store_true", help="list migrations and whether they are applied")
    p.add_argument("--rollback", type=int, metavar="N", help="roll back the last N migrations")
    p.set_defaults(func=cmd_migrate)
    sub.add_parser("status", help="items by status, pending migrations, pool", parents=[shown]).set_defaults(
        func=cmd_status)
    maint = sub.add_parser("maintenance", help="database upkeep").add_subparsers(dest="action", required=True)
    maint.add_parser("recompute", help="rebuild every request's derived status from its items",
                     parents=[common]).set_defaults(func=cmd_maintenance)
    cli_users.register(sub, common)
    cli_requests.register(sub, shown)
    legacy_command.register(sub, common)
    announce_cli.register(sub)
    parse = sub.add_parser("parse", help="show how annexd reads release names (for people and bug reports)")
    parse.add_argument("names", nargs="+", metavar="NAME", help="release name, torrent title, file name or path")
    parse.add_argument("--json", action="store_true", help="one JSON object per name and line")
    parse.set_defaults(func=cmd_parse)
    return parser


def _secret_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    sec = sub.add_parser("secret", help="the encrypted secret store").add_subparsers(dest="action", required=True)
    for action, text in (("set", "store NAME, reading the value from stdin"), ("delete", "remove NAME")):
        sp = sec.add_parser(action, help=text, parents=[common])
        sp.add_argument("name")
        sp.set_defaults(func=cmd_secret)
    sec.add_parser("list", help="names only, never values", parents=[common]).set_defaults(func=cmd_secret)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["encoder"]:  # the agent has its own options (argparse cannot pass a leading --help on)
        return cmd_encoder(argparse.Namespace(agent_args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.CONFIG
    except PendingMigrationsError as exc:
        print(f"annexd: {exc}", file=sys.stderr)
        return ExitCode.PENDING_MIGRATIONS
    except (StoreError, peewee.OperationalError, peewee.InterfaceError) as exc:
        print(f"database unavailable: {str(exc).strip()[:300]}", file=sys.stderr)
        return ExitCode.DATABASE_UNAVAILABLE
    except NotFoundError as exc:
        print(f"annexd: {exc}", file=sys.stderr)
        return ExitCode.NOT_FOUND
    except KeyboardInterrupt:
        return ExitCode.FORCED_EXIT
    except AnnexdError as exc:  # expected, named errors: one line, no traceback
        print(f"annexd: {exc}", file=sys.stderr)
        return ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
