"""The `annexd` command: run, migrate, check-config, request add|list|show|cancel|watch, status, maintenance
recompute, secret, encoder, announce, parse. People get tables (rich); ``--json`` gives scripts the same views the API answers with.

Commands that use the database open it as it is (``store.migrate.open_current``): a database with pending
migrations is refused with exit 4 and its migrations listed, and a missing SQLite file is never created (only
``annexd migrate`` creates it). ``run`` and ``check-config`` share one validation (annexd.config_check).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import peewee

from annexd import __version__, announce_cli
from annexd.config import Config, describe, dumps, load_config
from annexd.errors import AnnexdError, ConfigError, NotFoundError, PendingMigrationsError, StoreError
from annexd.exitcodes import ExitCode

PIPE_WIDTH = 160
_EPISODE = re.compile(r"^S(\d{1,4})E(\d{1,5})(?:@(\d{4}-\d{2}-\d{2}))?$", re.IGNORECASE)


def _out(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _console() -> Any:
    """rich's console; into a pipe or a file, 160 columns rather than 80 so tables are not wrapped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)


def _show(args: argparse.Namespace, data: Any, render: Callable[[Any], Any]) -> None:
    """``data`` as JSON with --json, else what ``render`` makes of it, printed by rich."""
    if getattr(args, "json", False):
        _out(data)
        return
    _console().print(render(data))


def _config_path(args: argparse.Namespace) -> str | None:
    return args.config or os.environ.get("ANNEX_CONFIG") or None


def _config(args: argparse.Namespace) -> Config:
    return load_config(_config_path(args))


def _checked_config(args: argparse.Namespace) -> Config:
    """The one validation (check-config and run): the file, the environment and every reference in it."""
    from annexd.config_check import check_config, store_problems

    return check_config(_config_path(args), os.environ,
                        lambda cfg, wanted: store_problems(cfg, wanted, _existing_db))


def _db(cfg: Config) -> peewee.Database:
    """The database, created if needed (only `annexd migrate` uses this)."""
    from store.db import open_database

    return open_database(cfg.database_url, cfg.database.max_connections, cfg.database.pool_timeout_seconds,
                         cfg.database.sqlite_busy_timeout_ms)


def _existing_db(cfg: Config) -> peewee.Database:
    """The database with every migration applied; never created (PendingMigrationsError, StoreError)."""
    from store.migrate import open_current

    return open_current(cfg.database_url, cfg.database.max_connections, cfg.database.pool_timeout_seconds,
                        cfg.database.sqlite_busy_timeout_ms)


# --- commands --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from annexd.daemon import Daemon, configure_logging

    cfg = _checked_config(args)
    configure_logging(cfg)
    return int(Daemon(cfg).run())


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = _checked_config(args)
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


def episode_arg(value: str) -> Any:
    """``S01E02`` or ``S01E02@2024-05-01`` (an air date); a usage error (exit 2) otherwise."""
    from annexd.domain.request_specs import EpisodeSpec

    m = _EPISODE.match(value)
    try:
        air = date.fromisoformat(m.group(3)) if m and m.group(3) else None
    except ValueError:
        m = None
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r}: expected S01E02 or S01E02@2024-05-01")
    return EpisodeSpec(int(m.group(1)), int(m.group(2)), "", air)


def cmd_request(args: argparse.Namespace) -> int:
    from annexd import cli_render as render
    from store import queries

    cfg = _config(args)
    db = _existing_db(cfg)
    if args.action == "watch":
        return _watch(args, db)
    with db.connection_context():
        if args.action == "add":
            _show(args, _submit(args, cfg), render.submitted)
        elif args.action == "list":
            rows, total = queries.list_requests(None, 0, args.limit)
            from annexd.http import views

            data = {"total": total, "requests": [views.request_view(r, s) for r, s in rows]}
            _show(args, data, lambda d: render.requests_table(d["requests"], d["total"]))
        elif args.action == "cancel":
            queries.get_request(args.id)
            data = {"id": args.id, "cancelled_items": queries.cancel_request(args.id, _now())}
            _show(args, data, lambda d: f"request {d['id']}: {d['cancelled_items']} item(s) cancelled")
        else:
            view, items = _request_views(args.id)
            _show(args, {**view, "items": items}, lambda d: render.request_detail(d, d["items"]))
    return ExitCode.OK


def _now() -> Any:
    from store.models import utcnow

    return utcnow()


def _submit(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from annexd.domain.request_specs import RequestSpec
    from store import queries

    kind = "tv" if args.episode else "movie"
    spec = RequestSpec(kind=kind, title=" ".join(args.title.split()), year=args.year, tmdb_id=args.tmdb_id,
                       episodes=tuple(args.episode or ()), targets=tuple(args.target or ()), requested_by="cli",
                       monitor=cfg.requests.monitor if kind == "tv" else "none")
    outcome = queries.submit_request(spec, _now())
    return {"id": outcome.request_id, "created": outcome.created, "added": outcome.added.as_dict()}


def _request_views(request_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request and its items as the API shows them (NotFoundError for an unknown id)."""
    from annexd.http import views
    from store import queries

    row = queries.request_row(request_id)
    return views.request_view(row, queries.request_summary(row)), [
        views.item_view(i) for i in queries.request_items(request_id)]


def _watch(args: argparse.Namespace, db: peewee.Database) -> int:
    """Each item's stage and progress until every item is COMPLETED, FAILED or CANCELLED (the database's
    checkpoints: progress is at most writer.progress_min_interval_ms behind the daemon's live view)."""
    from rich.live import Live

    from annexd import cli_render as render

    def frame() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with db.connection_context():
            return _request_views(args.id)

    view, items = frame()
    if args.json:
        while True:
            print(json.dumps({"request": view, "items": items}, default=str), flush=True)
            if render.all_done(items):
                return ExitCode.OK
            time.sleep(args.interval)
            view, items = frame()
    with Live(render.watch_frame(view, items), console=_console(), auto_refresh=False) as live:
        while not render.all_done(items):
            time.sleep(args.interval)
            view, items = frame()
            live.update(render.watch_frame(view, items), refresh=True)
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
    _request_parsers(sub, shown)
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


def _request_parsers(sub: Any, shown: argparse.ArgumentParser) -> None:
    req = sub.add_parser("request", help="add, list, show, watch or cancel requests").add_subparsers(
        dest="action", required=True)
    add = req.add_parser("add", help="request a movie, or TV episodes with --episode (one request per title: "
                                     "what is new is added to the request that holds it)", parents=[shown])
    add.add_argument("title")
    add.add_argument("--year", type=int)
    add.add_argument("--tmdb-id", type=int)
    add.add_argument("--episode", action="append", type=episode_arg,
                     help="S01E02 or S01E02@2024-05-01 (repeatable)")
    add.add_argument("--target", action="append", help="storage target name (repeatable)")
    lst = req.add_parser("list", help="the newest requests with their status and progress", parents=[shown])
    lst.add_argument("--limit", type=int, default=50)
    for action, text in (("show", "one request and its items"), ("cancel", "cancel every unfinished item")):
        req.add_parser(action, help=text, parents=[shown]).add_argument("id", type=int)
    watch = req.add_parser("watch", help="each item's stage and progress, until every item is done",
                           parents=[shown])
    watch.add_argument("id", type=int)
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    for p in req.choices.values():
        p.set_defaults(func=cmd_request)


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
