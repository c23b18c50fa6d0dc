"""`annexd request add|list|show|cancel|watch` (approve|decline: annexd.cli_users) and `annexd item show|retry`,
as ``--user`` (default admin): one request per title (store.queries.submit_request), tables for
people and the API's JSON views with --json, and `watch` following each item's stage and progress until every item
is done. Not pure: reads and writes the database, prints."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import date
from typing import Any

import peewee

from annexd import cli_users
from annexd.cli_common import config, console, existing_db, show
from annexd.cli_users import acting_user
from annexd.config import Config
from annexd.domain.users import ADMIN, Caller
from annexd.exitcodes import ExitCode

_EPISODE = re.compile(r"^S(\d{1,4})E(\d{1,5})(?:@(\d{4}-\d{2}-\d{2}))?$", re.IGNORECASE)


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
    """Acting as ``--user`` (default admin): a requester sees its own requests only, its requests count against
    its quota (exit 12 past it) and wait for approval unless it auto-approves the type."""
    from annexd import cli_render as render
    from annexd.errors import InvalidInputError, NotFoundError, QuotaExceededError, StateConflictError
    from store import queries

    cfg = config(args)
    db = existing_db(cfg)
    with db.connection_context():
        try:
            caller = acting_user(args)
        except (NotFoundError, StateConflictError) as exc:
            print(f"--user: {exc}", file=sys.stderr)
            return ExitCode.FORBIDDEN
    who = None if caller.is_admin else caller.name
    if args.action == "watch":
        return _watch(args, db, who)
    with db.connection_context():
        if args.action == "add":
            try:
                show(args, _submit(args, cfg, caller), render.submitted)
            except QuotaExceededError as exc:
                print(f"{exc}; room again at {exc.resets_at} UTC", file=sys.stderr)
                return ExitCode.QUOTA_EXCEEDED
            except InvalidInputError as exc:
                print(exc, file=sys.stderr)
                return ExitCode.QUOTA_EXCEEDED
        elif args.action == "list":
            rows, total = queries.list_requests(None, 0, args.limit, visible_to=who)
            from annexd.http import views

            data = {"total": total, "requests": [views.request_view(r, s) for r, s in rows]}
            show(args, data, lambda d: render.requests_table(d["requests"], d["total"]))
        elif args.action == "cancel":
            queries.get_request(args.id, who)
            data = {"id": args.id, "cancelled_items": queries.cancel_request(args.id, _now())}
            show(args, data, lambda d: f"request {d['id']}: {d['cancelled_items']} item(s) cancelled")
        else:
            view, items = _request_views(args.id, who)
            show(args, {**view, "items": items}, lambda d: render.request_detail(d, d["items"]))
    return ExitCode.OK


def _now() -> Any:
    from store.models import utcnow

    return utcnow()


def _submit(args: argparse.Namespace, cfg: Config, caller: Caller) -> dict[str, Any]:
    from annexd.domain.request_specs import RequestSpec
    from store import queries

    kind = "tv" if args.episode else "movie"
    spec = RequestSpec(kind=kind, title=" ".join(args.title.split()), year=args.year, tmdb_id=args.tmdb_id,
                       episodes=tuple(args.episode or ()), targets=tuple(args.target or ()),
                       monitor=cfg.requests.monitor if kind == "tv" else "none")
    outcome, waits = queries.submit_as(caller, spec, _now(), cfg.quotas.movies(), cfg.quotas.seasons())
    return {"id": outcome.request_id, "created": outcome.created, "added": outcome.added.as_dict(),
            "pending_approval": waits}


def _request_views(request_id: int, who: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The request and its items as the API shows them (NotFoundError for an unknown id, or one ``who`` may
    not see)."""
    from annexd.http import views
    from store import queries

    queries.get_request(request_id, who)
    row = queries.request_row(request_id)
    items = queries.request_items(request_id)
    hashes = queries.download_hashes([i.id for i in items if i.download_id is not None])
    return views.request_view(row, queries.request_summary(row)), [
        views.item_view(i, download_hash=hashes.get(i.id)) for i in items]


def _watch(args: argparse.Namespace, db: peewee.Database, who: str | None) -> int:
    """Each item's stage and progress until every item is COMPLETED, FAILED or CANCELLED (the database's
    checkpoints: progress is at most writer.progress_min_interval_ms behind the daemon's live view)."""
    from rich.live import Live

    from annexd import cli_render as render

    def frame() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with db.connection_context():
            return _request_views(args.id, who)

    view, items = frame()
    if args.json:
        while True:
            print(json.dumps({"request": view, "items": items}, default=str), flush=True)
            if render.all_done(items):
                return ExitCode.OK
            time.sleep(args.interval)
            view, items = frame()
    with Live(render.watch_frame(view, items), console=console(), auto_refresh=False) as live:
        while not render.all_done(items):
            time.sleep(args.interval)
            view, items = frame()
            live.update(render.watch_frame(view, items), refresh=True)
    return ExitCode.OK


def cmd_item(args: argparse.Namespace) -> int:
    """``item show ID`` and ``item retry ID [--from search]`` (a FAILED item resumes where it failed)."""
    from annexd import cli_render as render
    from annexd.http import views
    from store import queries

    cfg = config(args)
    with existing_db(cfg).connection_context():
        if args.action == "show":
            item = queries.get_item(args.id)
            view = views.item_view(item, queries.deliveries_by_item([item.id]).get(item.id, []),
                                   download_hash=queries.download_hashes([item.id]).get(item.id))
            show(args, view, lambda d: render.items_table([d], bars=False))
            return ExitCode.OK
        status, stage = queries.retry_item(args.id, _now(), from_search=args.start == "search")
    data = {"id": args.id, "status": status.value, "resumed_at": stage}
    show(args, data, lambda d: f"item {d['id']}: {d['status']}, resumed at {d['resumed_at']}")
    return ExitCode.OK


def register(sub: Any, shown: argparse.ArgumentParser) -> None:
    as_user = argparse.ArgumentParser(add_help=False, parents=[shown])
    as_user.add_argument("--user", default=ADMIN, help="act as this user, with its rights (default: admin)")
    req = sub.add_parser("request", help="add, list, show, watch, cancel, approve or decline requests"
                         ).add_subparsers(dest="action", required=True)
    add = req.add_parser("add", help="request a movie, or TV episodes with --episode (one request per title: "
                                     "what is new is added to the request that holds it)", parents=[as_user])
    add.add_argument("title")
    add.add_argument("--year", type=int)
    add.add_argument("--tmdb-id", type=int)
    add.add_argument("--episode", action="append", type=episode_arg,
                     help="S01E02 or S01E02@2024-05-01 (repeatable)")
    add.add_argument("--target", action="append", help="storage target name (repeatable)")
    lst = req.add_parser("list", help="the newest requests with their status and progress", parents=[as_user])
    lst.add_argument("--limit", type=int, default=50)
    for action, text in (("show", "one request and its items"), ("cancel", "cancel every unfinished item")):
        req.add_parser(action, help=text, parents=[as_user]).add_argument("id", type=int)
    watch = req.add_parser("watch", help="each item's stage and progress, until every item is done",
                           parents=[as_user])
    watch.add_argument("id", type=int)
    watch.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    for p in req.choices.values():
        p.set_defaults(func=cmd_request)
    cli_users.register_decisions(req, as_user)
    item = sub.add_parser("item", help="show or retry one work item").add_subparsers(dest="action", required=True)
    item.add_parser("show", help="one work item with its deliveries", parents=[shown]).add_argument("id", type=int)
    retry = item.add_parser("retry", help="retry a FAILED item where it failed (or --from search)", parents=[shown])
    retry.add_argument("id", type=int)
    retry.add_argument("--from", dest="start", choices=["search"], help="start over from the search")
    for p in item.choices.values():
        p.set_defaults(func=cmd_item)
