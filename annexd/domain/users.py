"""Users, their keys and their rights (pure: no I/O; keys come from the ``secrets`` module's CSPRNG).

A user has a name, a role (``admin`` or ``requester``), auto-approve per request type and an API key. Only the
key's SHA-256 is stored: a key is 32 random bytes (URL-safe base64 behind the ``annexd_`` prefix), so a plain
hash is as strong as any slow hash would be, and lookup by hash needs no per-user salt. The key is shown once,
when it is made or rotated.

Rights: an admin sees and acts on everything and approves or declines; a requester sees and acts on the
requests it asked for (anything else answers 404, so others' requests are not even confirmed to exist), and
its requests wait for approval unless it auto-approves their type. Quotas apply to requesters only.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "annexd_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
ADMIN = "admin"  # the user the configured http.api_key becomes, and whom the CLI acts as by default


class Role(enum.StrEnum):
    ADMIN = "admin"
    REQUESTER = "requester"


KINDS = ("movie", "tv")


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` units (movies, or seasons) per ``days``; ``limit`` None means unlimited."""

    limit: int | None = None
    days: float = 7.0


@dataclass(frozen=True)
class Caller:
    """Who made a call (API key, CLI ``--user``): the rights of one enabled user."""

    name: str
    role: Role
    auto_approve: frozenset[str] = frozenset()
    movie_quota: Quota | None = None  # None: the configured default
    season_quota: Quota | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def needs_approval(self, kind: str) -> bool:
        """Whether a request of ``kind`` (movie | tv) by this user waits for an admin. Admins never wait."""
        return not self.is_admin and kind not in self.auto_approve

    def may_see(self, requested_by: str, item_requesters: frozenset[str] = frozenset()) -> bool:
        """Admins see everything; a requester its own requests (those it asked for, or added items to)."""
        return self.is_admin or requested_by == self.name or self.name in item_requesters


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def parse_auto_approve(value: str) -> frozenset[str]:
    """``movie,tv`` -> {"movie", "tv"}; ValueError naming an unknown type."""
    kinds = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"unknown request type(s) {', '.join(sorted(unknown))}: use movie, tv or movie,tv")
    return frozenset(kinds)


def new_key() -> str:
    """A fresh API key: 32 random bytes."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What is stored of a key (hex SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two stored hashes (after a lookup by hash, the row is checked again)."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
