"""The upgrade history kept on an item (pure: no I/O, time passed in).

``ProcessingItem.upgrade_history`` is a JSON list with one entry per upgrade, oldest first::

    {"started_at", "from": <release dict>, "to": <release dict>, "from_quality", "to_quality", "reason",
     "outcome": "running" | "replaced" | "failed", "finished_at", "error",
     "targets": {<target>: {"old": <path replaced>, "new": <path delivered>, "at"}}}

Only the last entry can be running (an item upgrades once at a time). The functions return new lists; the caller
stores them in the transaction of the transition they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from annexd.domain.quality import quality_of
from annexd.domain.releases import parse_release

History = list[dict[str, Any]]
RUNNING, REPLACED, FAILED = "running", "replaced", "failed"


def _quality(release: Mapping[str, Any] | None) -> str | None:
    title = str((release or {}).get("title") or "")
    return quality_of(parse_release(title)) if title else None


def started(history: Sequence[Mapping[str, Any]] | None, old: Mapping[str, Any] | None, new: Mapping[str, Any],
            reason: str | None, now: datetime) -> History:
    """An upgrade from the delivered release ``old`` to ``new`` begins."""
    entry = {"started_at": now.isoformat(), "from": dict(old or {}), "to": dict(new), "from_quality": _quality(old),
             "to_quality": _quality(new), "reason": reason, "outcome": RUNNING, "targets": {}}
    return [*(dict(e) for e in history or ()), entry]


def running(history: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The upgrade under way, if any."""
    last = dict(history[-1]) if history else None
    return last if last is not None and last.get("outcome") == RUNNING else None


def _with_last(history: Sequence[Mapping[str, Any]] | None, **changes: Any) -> History:
    entries = [dict(e) for e in history or ()]
    if entries and entries[-1].get("outcome") == RUNNING:
        entries[-1].update(changes)
    return entries


def replaced_on(history: Sequence[Mapping[str, Any]] | None, target: str, old: str, new: str,
                now: datetime) -> History:
    """The new file is verified on ``target`` and took the place of ``old`` there."""
    entry = running(history)
    targets = {**(entry or {}).get("targets", {}), target: {"old": old, "new": new, "at": now.isoformat()}}
    return _with_last(history, targets=targets)


def finished(history: Sequence[Mapping[str, Any]] | None, now: datetime, error: str | None = None) -> History:
    """The upgrade landed on every target (no ``error``), or failed with ``error``."""
    return _with_last(history, outcome=FAILED if error else REPLACED, finished_at=now.isoformat(), error=error)


def delivered_release(history: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The release whose files a failed upgrade leaves delivered: the one the running upgrade started from."""
    entry = running(history)
    return dict(entry["from"]) if entry and entry.get("from") else None
