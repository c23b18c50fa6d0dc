"""What the daemon's health is, from its checks' last results (pure).

Each check has a severity: a failed ``down`` check (the database, the actors) makes the daemon "down" (HTTP 503:
it cannot do its work); a failed ``degraded`` check (a download client, the encoder agents, a target, a media
server, an indexer) makes it "degraded" (HTTP 200: it works, one stage waits). A ``down`` check that has not run
yet counts as failed (nothing is claimed before it is known); a ``degraded`` one does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Severity = Literal["down", "degraded"]
OK, DEGRADED, DOWN = "ok", "degraded", "down"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: Any
    checked_at: datetime  # naive UTC, like every time annexd stores
    seconds: float  # how long the check took


def overall(results: Mapping[str, CheckResult | None], severity: Mapping[str, Severity]) -> str:
    """"ok", "degraded" or "down"."""
    failed = {name for name, r in results.items() if (r is None and severity[name] == DOWN) or (r and not r.ok)}
    if any(severity[name] == DOWN for name in failed):
        return DOWN
    return DEGRADED if failed else OK


def report(results: Mapping[str, CheckResult | None], severity: Mapping[str, Severity], now: datetime
           ) -> dict[str, dict[str, Any]]:
    """Each check's last result and its age, for callers allowed to see the detail."""
    out: dict[str, dict[str, Any]] = {}
    for name, r in sorted(results.items()):
        if r is None:
            out[name] = {"ok": None, "severity": severity[name], "detail": "not run yet", "checked_at": None,
                         "age_seconds": None}
            continue
        out[name] = {"ok": r.ok, "severity": severity[name], "detail": r.detail,
                     "checked_at": r.checked_at.isoformat(timespec="milliseconds") + "Z",
                     "age_seconds": round(max(0.0, (now - r.checked_at).total_seconds()), 1),
                     "seconds": round(r.seconds, 3)}
    return out
