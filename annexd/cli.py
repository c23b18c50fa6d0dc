"""The `annexd` command: run, migrate, check-config, request add|list|show|cancel|approve|decline, user, status,
maintenance recompute, announce, parse. Request commands act as ``--user NAME`` (default admin; see
annexd.users_cli)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import peewee

from annexd import __version__, announce_cli, users_cli
from annexd.config import Config, describe, dumps, load_config
from annexd.domain.users import ADMIN
from annexd.errors import (
    ConfigError,
    InvalidInputError,
    NotFoundError,
    PendingMigrationsError,
    QuotaExceededError,
    StateConflictError,
    StoreError,
)
from annexd.exitcodes import ExitCode

_EPISODE = re.compile(r"^S(\d{1,4})E(\d{1,5})(?:@(\d{4}-\d{2}-\d{2}))?$", re.IGNORECASE)


def _out(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config or os.environ.get("ANNEX_CONFIG") or None)


def _db(cfg: Config) -> peewee.Database:
    from store.db import open_database

    return open_database(cfg.database_url, cfg.database.max_connections, cfg.database.pool_timeout_seconds,
                         cfg.database.sqlite_busy_timeout_ms)


@contextmanager
def _current_db(args: argparse.Namespace) -> Iterator[peewee.Database]:
    """The configured database, migrated, with one connection held for the command."""
    from store.migrate import require_current

    db = _db(_config(args))
    with db.connection_context():
        require_current(db)
        yield db


# --- commands --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from annexd.daemon import Daemon, configure_logging

    cfg = _config(args)
    configure_logging(cfg)
    return int(Daemon(cfg).run())


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _config(args)
    print("configuration OK")
    print(dumps(describe(cfg)))
    return ExitCode.OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from store import migrate

    cfg = _config(args)
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


def _episodes(values: Sequence[str]) -> list[Any]:
    from annexd.domain.request_specs import EpisodeSpec

    out = []
    for value in values:
        m = _EPISODE.match(value)
        if not m:
            raise SystemExit(f"--episode {value!r}: expected S01E02 or S01E02@2024-05-01")
        air = date.fromisoformat(m.group(3)) if m.group(3) else None
        out.append(EpisodeSpec(int(m.group(1)), int(m.group(2)), "", air))
    return out


def cmd_request(args: argparse.Namespace) -> int:
    from annexd.domain.request_specs import RequestSpec
    from annexd.http import views
    from store import queries
    from store.models import utcnow

    cfg = _config(args)
    with _current_db(args):
        try:
            caller = users_cli.acting_user(args)
        except (NotFoundError, StateConflictError) as exc:
            print(f"--user: {exc}", file=sys.stderr)
            return ExitCode.FORBIDDEN
        who = None if caller.is_admin else caller.name
        if args.action == "add":
            kind = "tv" if args.episode else "movie"
            spec = RequestSpec(kind=kind, title=args.title, year=args.year, tmdb_id=args.tmdb_id,
                                       episodes=tuple(_episodes(args.episode or [])), targets=tuple(args.target or ()))
            try:
                req, waits = queries.submit_as(caller, spec, utcnow(), cfg.quotas.movies(), cfg.quotas.seasons())
            except QuotaExceededError as exc:
                print(f"{exc}; room again at {exc.resets_at} UTC", file=sys.stderr)
                return ExitCode.QUOTA_EXCEEDED
            except InvalidInputError as exc:
                print(exc, file=sys.stderr)
                return ExitCode.QUOTA_EXCEEDED
            _out({"id": req.id, "pending_approval": waits})
        elif args.action == "list":
            rows, total = queries.list_requests(None, 0, args.limit, visible_to=who)
            _out({"total": total, "requests": [views.request_view(r, s) for r, s in rows]})
        else:
            try:
                req = queries.get_request(args.id, who)
            except NotFoundError as exc:
                print(exc, file=sys.stderr)
                return ExitCode.NOT_FOUND
            if args.action == "cancel":
                _out({"id": req.id, "cancelled_items": queries.cancel_request(req.id, utcnow())})
            else:
                row = queries.request_row(req.id)
                view = views.request_view(row, queries.request_summary(row))
                view["items"] = [views.item_view(i) for i in queries.request_items(req.id)]
                _out(view)
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from annexd.redaction import redact_url
    from store import migrate, queries
    from store.db import pool_snapshot

    cfg = _config(args)
    db = _db(cfg)
    with db.connection_context():
        _out({
            "version": __version__, "database": redact_url(cfg.database_url),
            "pending_migrations": migrate.pending(db), "items": queries.items_by_status(),
            "pool": pool_snapshot(db),
        })
    return ExitCode.OK


def cmd_maintenance(args: argparse.Namespace) -> int:
    """``maintenance recompute``: rebuild every request's derived status from its items."""
    from store import queries
    from store.migrate import require_current

    db = _db(_config(args))
    with db.connection_context():
        require_current(db)
        seen, changed = queries.recompute_all()
    _out({"requests": seen, "corrected": changed})
    return ExitCode.OK


def cmd_secret(args: argparse.Namespace) -> int:
    from annexd.daemon import open_secret_store
    from annexd.errors import InvalidInputError
    from store.migrate import require_current

    cfg = _config(args)
    db = _db(cfg)
    with db.connection_context():
        require_current(db)
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
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon", parents=[common]).set_defaults(func=cmd_run)
    sub.add_parser("check-config", help="validate the config, listing every problem", parents=[common]).set_defaults(
        func=cmd_check_config)
    sec = sub.add_parser("secret", help="the encrypted secret store").add_subparsers(dest="action", required=True)
    for action, text in (("set", "store NAME, reading the value from stdin"), ("delete", "remove NAME")):
        sp = sec.add_parser(action, help=text, parents=[common])
        sp.add_argument("name")
        sp.set_defaults(func=cmd_secret)
    sec.add_parser("list", help="names only, never values", parents=[common]).set_defaults(func=cmd_secret)
    enc = sub.add_parser("encoder", help="run a remote encoder agent (see `annexd encoder --help`)", add_help=False)
    enc.add_argument("agent_args", nargs=argparse.REMAINDER)
    enc.set_defaults(func=cmd_encoder)
    p = sub.add_parser("migrate", help="apply database migrations", parents=[common])
    p.add_argument("--list", action="store_true", help="list migrations and whether they are applied")
    p.add_argument("--rollback", type=int, metavar="N", help="roll back the last N migrations")
    p.set_defaults(func=cmd_migrate)
    sub.add_parser("status", help="items by status and database state", parents=[common]).set_defaults(
        func=cmd_status)
    maint = sub.add_parser("maintenance", help="database upkeep").add_subparsers(dest="action", required=True)
    maint.add_parser("recompute", help="rebuild every request's derived status from its items",
                     parents=[common]).set_defaults(func=cmd_maintenance)
    users_cli.register(sub, common, _current_db)
    as_user = argparse.ArgumentParser(add_help=False, parents=[common])
    as_user.add_argument("--user", default=ADMIN, help="act as this user, with its rights (default: admin)")
    req = sub.add_parser("request", help="add, list, show, cancel, approve or decline requests").add_subparsers(
        dest="action", required=True)
    add = req.add_parser("add", help="request a movie, or TV episodes with --episode", parents=[as_user])
    add.add_argument("title")
    add.add_argument("--year", type=int)
    add.add_argument("--tmdb-id", type=int)
    add.add_argument("--episode", action="append", help="S01E02 or S01E02@2024-05-01 (repeatable)")
    add.add_argument("--target", action="append", help="storage target name (repeatable)")
    lst = req.add_parser("list", parents=[as_user])
    lst.add_argument("--limit", type=int, default=50)
    for action in ("show", "cancel"):
        req.add_parser(action, parents=[as_user]).add_argument("id", type=int)
    for p in req.choices.values():
        p.set_defaults(func=cmd_request)
    users_cli.register_decisions(req, as_user, _current_db)
    announce_cli.register(sub)
    parse = sub.add_parser("parse", help="show how annexd reads release names (for people and bug reports)")
    parse.add_argument("names", nargs="+", metavar="NAME", help="release name, torrent title, file name or path")
    parse.add_argument("--json", action="store_true", help="one JSON object per name and line")
    parse.set_defaults(func=cmd_parse)
    return parser



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
        print(f"refusing to start: {exc}", file=sys.stderr)
        return ExitCode.PENDING_MIGRATIONS
    except (StoreError, peewee.OperationalError, peewee.InterfaceError) as exc:
        print(f"database unavailable: {str(exc).strip()[:300]}", file=sys.stderr)
        return ExitCode.DATABASE_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
