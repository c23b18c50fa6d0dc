"""Request quotas as in Overseerr: at most N movies and N seasons per user per rolling period (pure).

A unit is one movie, or one season of a show (the first episode of a season a user adds counts the season; more
episodes of it do not count again). The store reads when each of the user's units within the period was
requested; :func:`check` decides whether ``wanted`` more fit and, if not, when enough old units leave the
period for them to fit (``resets_at``). Admins are exempt (the caller does not ask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from annexd.domain.users import Quota


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int = 0
    limit: int | None = None
    resets_at: datetime | None = None  # when the request would fit, if it cannot now
    reason: str = ""


def window_start(quota: Quota, now: datetime) -> datetime:
    return now - timedelta(days=quota.days)


def check(quota: Quota, unit: str, used_at: Sequence[datetime], wanted: int, now: datetime) -> Verdict:
    """Whether ``wanted`` more units fit, given when the units in the period were taken (any order)."""
    if quota.limit is None or wanted <= 0:
        return Verdict(True, len(used_at), quota.limit)
    start = window_start(quota, now)
    taken = sorted(t for t in used_at if t > start)
    if len(taken) + wanted <= quota.limit:
        return Verdict(True, len(taken), quota.limit)
    if wanted > quota.limit:
        return Verdict(False, len(taken), quota.limit, None,
                       f"asks for {wanted} {unit}s; the quota allows {quota.limit} per {_days(quota)}")
    must_expire = len(taken) + wanted - quota.limit
    resets_at = taken[must_expire - 1] + timedelta(days=quota.days)
    return Verdict(False, len(taken), quota.limit, resets_at,
                   f"{unit} quota reached: {len(taken)} of {quota.limit} per {_days(quota)}")


def _days(quota: Quota) -> str:
    days = quota.days
    return f"{days:g} day" + ("" if days == 1 else "s")
