"""``annexd user add|list|disable|key|quota`` and ``annexd request approve|decline``: people on the command line.
Not pure: reads and writes the database, prints.

The CLI works on the database directly, so whoever can run it with the daemon's config can already read and
write everything: it acts as a user named with ``--user NAME`` (default ``admin``) and takes that user's rights
(a requester sees its own requests; its requests wait for approval and count against its quota). A key is
printed once, when it is made (``user add``) or rotated (``user key``); only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from annexd.cli_common import current_db, out
from annexd.domain.users import ADMIN, Caller, Role, parse_auto_approve
from annexd.errors import ForbiddenError, InvalidInputError, NotFoundError, StateConflictError
from annexd.exitcodes import ExitCode


def acting_user(args: argparse.Namespace) -> Caller:
    """The user the CLI acts as (``--user``, default admin); NotFoundError/StateConflictError if unusable."""
    from store import queries

    return queries.caller_by_name(getattr(args, "user", None) or ADMIN)


def cmd_user(args: argparse.Namespace) -> int:
    from annexd.http import views
    from store import queries
    from store.models import utcnow

    with current_db(args):
        try:
            if args.action == "add":
                kinds = parse_auto_approve(args.auto_approve or "")
                key = queries.add_user(args.name, Role.ADMIN if args.admin else Role.REQUESTER, kinds, utcnow())
                _print_key(args.name, key)
            elif args.action == "key":
                _print_key(args.name, queries.rotate_key(args.name, utcnow()))
            elif args.action == "disable":
                queries.disable_user(args.name)
                print(f"user {args.name!r} disabled (its key no longer works; its requests stay)")
            elif args.action == "quota":
                _set_quotas(args)
                out(views.user_view(queries.get_user(args.name)))
            else:
                out({"users": [views.user_view(u) for u in queries.list_users()]})
        except (ValueError, InvalidInputError) as exc:
            print(f"user {args.action}: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        except NotFoundError as exc:
            print(exc, file=sys.stderr)
            return ExitCode.NOT_FOUND
        except StateConflictError as exc:
            print(exc, file=sys.stderr)
            return ExitCode.USAGE
    return ExitCode.OK


def _print_key(name: str, key: str) -> None:
    print(f"API key of {name} (shown once; only its hash is stored):", file=sys.stderr)
    print(key)


def _set_quotas(args: argparse.Namespace) -> None:
    """``--movies N`` / ``--seasons N`` (0: unlimited, ``default``: the configured one) per ``--days D``."""
    from store import queries

    for kind, value in (("movie", args.movies), ("season", args.seasons)):
        if value is None:
            continue
        limit = None if value == "default" else int(value)
        if limit is not None and limit < 0:
            raise ValueError(f"--{kind}s must be >= 0, or 'default'")
        queries.set_quota(args.name, kind, limit, args.days if limit is not None else None)


def cmd_decide(args: argparse.Namespace) -> int:
    """``request approve ID [--season N]... [--item N]...`` / ``request decline ID [--reason TEXT]`` (admins).
    The search picks approved items up at its next poll (the API wakes it at once)."""
    from store import queries
    from store.models import utcnow

    with current_db(args):
        try:
            caller = acting_user(args)
            if not caller.is_admin:
                raise ForbiddenError(f"user {caller.name!r} is not an admin")
            if args.action == "approve":
                if args.season and args.item:
                    raise InvalidInputError("give --season or --item, not both")
                moved = queries.approve(args.id, caller.name, utcnow(), seasons=args.season or None,
                                        item_ids=args.item or None)
                out({"id": args.id, "approved_items": moved})
            else:
                out({"id": args.id, "declined_items": queries.decline(args.id, caller.name, utcnow(), args.reason)})
        except ForbiddenError as exc:
            print(exc, file=sys.stderr)
            return ExitCode.FORBIDDEN
        except NotFoundError as exc:
            print(exc, file=sys.stderr)
            return ExitCode.NOT_FOUND
        except (StateConflictError, InvalidInputError) as exc:
            print(f"request {args.action}: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    return ExitCode.OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    users = sub.add_parser("user", help="users and their API keys").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="a new user; prints its key once", parents=[common])
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="an admin (default: a requester)")
    add.add_argument("--auto-approve", metavar="TYPES", help="movie, tv or movie,tv: its requests of these types "
                                                              "need no approval")
    users.add_parser("list", help="every user (never keys)", parents=[common])
    for action, text in (("disable", "its key stops working"), ("key", "rotate the key; prints the new one once "
                                                                      "(enables a disabled user)")):
        users.add_parser(action, help=text, parents=[common]).add_argument("name")
    quota = users.add_parser("quota", help="this user's quotas instead of the configured ones", parents=[common])
    quota.add_argument("name")
    quota.add_argument("--movies", metavar="N|default", help="movies per period (0: unlimited)")
    quota.add_argument("--seasons", metavar="N|default", help="seasons per period (0: unlimited)")
    quota.add_argument("--days", type=float, default=7.0, help="the period in days (default 7)")
    for p in users.choices.values():
        p.set_defaults(func=cmd_user)


def register_decisions(req: Any, common: argparse.ArgumentParser) -> None:
    approve = req.add_parser("approve", help="approve a request's pending items (admins)", parents=[common])
    approve.add_argument("id", type=int)
    approve.add_argument("--season", type=int, action="append", help="only this season (repeatable)")
    approve.add_argument("--item", type=int, action="append", help="only this item id (repeatable)")
    decline = req.add_parser("decline", help="decline a request's pending items (admins)", parents=[common])
    decline.add_argument("id", type=int)
    decline.add_argument("--reason")
    for p in (approve, decline):
        p.set_defaults(func=cmd_decide)
