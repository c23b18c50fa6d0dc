"""Users and their keys: add, list, disable, rotate a key, find the caller behind a key, the first start's
adoption of ``http.api_key`` as ``admin``'s key, and the disabled users of names that asked before users existed.

Only a key's SHA-256 is stored (:mod:`annexd.domain.users`); a key is looked up by its hash and the hash compared
again in constant time.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar, cast

from annexd.domain.users import ADMIN, Caller, Quota, Role, key_hash, new_key, same_hash, valid_name
from annexd.errors import InvalidInputError, NotFoundError, StateConflictError
from store.db import write_transaction
from store.models import User

P = ParamSpec("P")
R = TypeVar("R")
_generation = itertools.count(1)
_users_generation = 0


def users_generation() -> int:
    """A number that changes whenever this process changes a user (a cached key check is stale after it)."""
    return _users_generation


def _changes_users(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def changing(*args: P.args, **kwargs: P.kwargs) -> R:
        global _users_generation
        try:
            return fn(*args, **kwargs)
        finally:
            _users_generation = next(_generation)

    return changing


def caller_of(user: User) -> Caller:
    kinds = frozenset(k for k, on in (("movie", user.auto_approve_movie), ("tv", user.auto_approve_tv)) if on)
    return Caller(name=user.name, role=Role(user.role), auto_approve=kinds,
                  movie_quota=_quota(user.movie_quota_limit, user.movie_quota_days),
                  season_quota=_quota(user.season_quota_limit, user.season_quota_days))


def _quota(limit: int | None, days: float | None) -> Quota | None:
    if limit is None:
        return None
    return Quota(limit or None, days or 7.0)


def caller_by_key(key: str | None) -> Caller | None:
    """The enabled user holding ``key``, or None."""
    if not key:
        return None
    wanted = key_hash(key)
    user = User.get_or_none(User.key_hash == wanted)
    if user is None or not user.enabled or not same_hash(wanted, user.key_hash or ""):
        return None
    return caller_of(user)


def caller_by_name(name: str) -> Caller:
    """The enabled user ``name`` (the CLI's ``--user``); NotFoundError, StateConflictError when disabled."""
    user = get_user(name)
    if not user.enabled:
        raise StateConflictError(f"user {name!r} is disabled")
    return caller_of(user)


def get_user(name: str) -> User:
    user = User.get_or_none(User.name == name)
    if user is None:
        raise NotFoundError(f"no user named {name!r}")
    return cast(User, user)


def list_users() -> list[User]:
    return list(User.select().order_by(User.name))


def any_key() -> bool:
    """Whether any enabled user has a key (without one the API is closed)."""
    return User.select().where(User.enabled & User.key_hash.is_null(False)).exists()


@_changes_users
def add_user(name: str, role: Role, auto_approve: frozenset[str], now: datetime) -> str:
    """A new enabled user with a fresh key; returns the key (shown once, never stored)."""
    if not valid_name(name):
        raise InvalidInputError("a user name is 1-100 letters, digits, and _ . @ - (not starting with one of those)")
    key = new_key()
    with write_transaction():
        if User.select().where(User.name == name).exists():
            raise StateConflictError(f"user {name!r} exists (rotate its key with `annexd user key {name}`)")
        User.create(name=name, role=role.value, auto_approve_movie="movie" in auto_approve,
                    auto_approve_tv="tv" in auto_approve, key_hash=key_hash(key), enabled=True, created_at=now,
                    key_created_at=now)
    return key


@_changes_users
def rotate_key(name: str, now: datetime) -> str:
    """A new key for ``name`` (the old one stops working at once); enables the user. Returns the key."""
    key = new_key()
    with write_transaction():
        get_user(name)
        User.update(key_hash=key_hash(key), key_created_at=now, enabled=True).where(User.name == name).execute()
    return key


@_changes_users
def disable_user(name: str) -> None:
    """The user's key stops working; its requests stay."""
    with write_transaction():
        get_user(name)
        User.update(enabled=False).where(User.name == name).execute()


@_changes_users
def set_quota(name: str, kind: str, limit: int | None, days: float | None) -> None:
    """Override the configured quota for one user (``limit`` 0: unlimited; None: back to the default)."""
    columns = {"movie": (User.movie_quota_limit, User.movie_quota_days),
               "season": (User.season_quota_limit, User.season_quota_days)}[kind]
    with write_transaction():
        get_user(name)
        User.update({columns[0]: limit, columns[1]: days}).where(User.name == name).execute()


@_changes_users
def ensure_users(names: set[str], now: datetime) -> None:
    """Disabled users without keys for names that asked before users existed (imported requests)."""
    for name in sorted(n[:100] for n in names if n):
        User.insert(name=name, role=Role.REQUESTER.value, enabled=False, auto_approve_movie=True,
                    auto_approve_tv=True, created_at=now).on_conflict_ignore().execute()


@_changes_users
def adopt_config_key(key: str, now: datetime) -> str:
    """The first start after users came: the configured ``http.api_key`` becomes ``admin``'s key.

    Returns what happened: ``adopted`` (admin made, or given the key it lacked), ``ignored`` (admin already
    has a key: the setting no longer counts, the daemon warns), ``none`` (no key configured; admin is made
    without one, so ``annexd user key admin`` gives it one)."""
    with write_transaction():
        admin = User.get_or_none(User.name == ADMIN)
        if admin is not None and admin.key_hash is not None:
            return "ignored" if key else "none"
        values = {User.role: Role.ADMIN.value, User.enabled: True, User.auto_approve_movie: True,
                  User.auto_approve_tv: True}
        if key:
            values.update({User.key_hash: key_hash(key), User.key_created_at: now})
        if admin is None:
            User.insert({**values, User.name: ADMIN, User.created_at: now}).execute()
        elif key:
            User.update(values).where(User.name == ADMIN).execute()
    return "adopted" if key else "none"


__all__ = ["add_user", "adopt_config_key", "any_key", "caller_by_key", "caller_by_name", "caller_of",
           "disable_user", "ensure_users", "get_user", "list_users", "new_key", "rotate_key", "set_quota",
           "users_generation"]
