"""The import report: what a person reads after ``import-annex`` (and ``--dry-run``), as text or one JSON
object (pure: built from the plan as it streams past).

JSON: ``{dry_run, shape, requests: {created, merged}, items: {STATUS: n}, conflicts: [{legacy_ids, season,
episode, winner, ...}], files_unknown: [...], secrets: {carried, skipped}, config_disabled: [{entry, reason}]}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from annexd.legacy.config_plan import ConfigPlan
from annexd.legacy.plan import Conflict, FileUnknown, PlannedItem, PlannedRequest, merged_count
from annexd.legacy.secrets import SecretOutcome, Skipped

TEXT_LIMIT = 50  # lines per list in the text report; --json has them all


@dataclass
class Report:
    dry_run: bool
    shape: str
    requests_created: int = 0
    requests_merged: int = 0
    items: Counter[str] = field(default_factory=Counter)
    conflicts: list[Conflict] = field(default_factory=list)
    files_unknown: list[FileUnknown] = field(default_factory=list)
    secrets_carried: list[str] = field(default_factory=list)
    secrets_skipped: list[Skipped] = field(default_factory=list)
    config_disabled: list[dict[str, str]] = field(default_factory=list)
    written: dict[str, Any] | None = None  # what the write changed (annexd.legacy.writer.WriteCounts); None: dry run

    def add_requests(self, requests: Mapping[str, PlannedRequest]) -> None:
        self.requests_created += len(requests)
        self.requests_merged += merged_count(requests)

    def add_item(self, item: PlannedItem) -> None:
        self.items[item.status.value] += 1
        self.conflicts.extend(item.conflicts)
        if item.file_unknown is not None:
            self.files_unknown.append(item.file_unknown)

    def add_items(self, items: Iterable[PlannedItem]) -> None:
        for item in items:
            self.add_item(item)

    def merge(self, other: Report) -> None:
        """The items another part of the same import planned (a worker process's range)."""
        self.items.update(other.items)
        self.conflicts += other.conflicts
        self.files_unknown += other.files_unknown

    def add_secrets(self, outcome: SecretOutcome) -> None:
        self.secrets_carried += sorted(outcome.carried_names)
        self.secrets_skipped += outcome.skipped

    def add_config(self, plan: ConfigPlan) -> None:
        self.config_disabled += plan.disabled()

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "shape": self.shape,
            "requests": {"created": self.requests_created, "merged": self.requests_merged},
            "items": dict(sorted(self.items.items())),
            "conflicts": [_conflict(c) for c in self.conflicts],
            "files_unknown": [{"legacy_id": f.legacy_id, "title": f.title, "season": f.season, "episode": f.episode,
                               "legacy_status": f.legacy_status, "reason": f.reason} for f in self.files_unknown],
            "secrets": {"carried": self.secrets_carried,
                        "skipped": [{"name": s.name, "source": s.source, "reason": s.reason}
                                    for s in self.secrets_skipped]},
            "config_disabled": self.config_disabled,
            **({"written": self.written} if self.written is not None else {}),
        }

    def text(self) -> str:
        total = sum(self.items.values())
        lines = [f"Annex database ({self.shape} shape)" + (": dry run, nothing written" if self.dry_run else ""),
                 f"Requests: {self.requests_created} ({self.requests_merged} legacy requests merged into another "
                 "of the same title)",
                 f"Items: {total}" + (": " + ", ".join(f"{s} {n}" for s, n in sorted(self.items.items()))
                                      if total else "")]
        lines += _listing("Conflicts, and how each was decided", [_conflict_line(c) for c in self.conflicts])
        lines += _listing("Items whose files are unknown",
                          [f"{_where(f.title, f.season, f.episode)} (legacy {f.legacy_id}, {f.legacy_status}): "
                           f"{f.reason}"
                           for f in self.files_unknown])
        lines += _listing("Secrets carried into annexd's secret store", self.secrets_carried)
        lines += _listing("Secrets not carried", [f"{s.name} ({s.source}): {s.reason}" for s in self.secrets_skipped])
        lines += _listing("Config entries written disabled",
                          [f"{d['entry']}: {d['reason']}" for d in self.config_disabled])
        lines += _written(self.written)
        return "\n".join(lines) + "\n"


def _written(written: dict[str, Any] | None) -> list[str]:
    if written is None:
        return []
    req = written["requests"]
    return [f"Written: {req['created']} new request(s), {req['merged']} merged into a request annexd had for the "
            f"title, {req['known']} imported before; {written['items_added']} new item(s), {written['items_kept']} "
            "left as annexd has them; "
            f"{len(written['secrets_stored'])} secret(s) stored, {len(written['secrets_kept'])} already in the store "
            "(left as they are)"]


def _conflict(c: Conflict) -> dict[str, Any]:
    return {"legacy_ids": list(c.legacy_ids), "season": c.season, "episode": c.episode, "winner": c.winner,
            "kind": c.kind, "request": c.request_legacy_id, "title": c.title, "winner_source": c.winner_source, "reason": c.reason,
            "statuses": {i: s for i, s in c.statuses}}


def _conflict_line(c: Conflict) -> str:
    rows = ", ".join(f"{i} {s}" for i, s in c.statuses)
    return f"{_where(c.title, c.season, c.episode)} ({c.kind}: {rows}): {c.winner} wins, {c.reason}"


def _where(title: str, season: int, episode: int) -> str:
    return f"{title} S{season:02}E{episode:02}" if season or episode else title


def _listing(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return [f"{title}: none"]
    shown = [f"  {line}" for line in lines[:TEXT_LIMIT]]
    more = [f"  ... and {len(lines) - TEXT_LIMIT} more (see --json)"] if len(lines) > TEXT_LIMIT else []
    return [f"{title} ({len(lines)}):", *shown, *more]
