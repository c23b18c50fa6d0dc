"""What the `annexd` command shows people: rich tables and progress bars built from the same JSON views the API
answers with (``--json`` prints those views instead). Pure: functions of view dicts returning rich renderables;
printing is the caller's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from annexd.domain.pipeline import STAGE_OF, ProcessingStatus

DONE_STAGE = "done"
STATUS_STYLE = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "dim", "QUALITY_UNAVAILABLE": "yellow",
                "AWAITING": "yellow", "PARTIAL": "yellow"}
BAR_WIDTH = 24


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def stage_of(status: str) -> str:
    try:
        return STAGE_OF[ProcessingStatus(status)]
    except ValueError:
        return "?"


def item_label(item: Mapping[str, Any]) -> str:
    """S01E02 for an episode, "movie" for a movie."""
    if item.get("kind") == "episode":
        return f"S{item['season']:02}E{item['episode']:02}"
    return "movie"


def _note(item: Mapping[str, Any]) -> str:
    """Why an item waits or what it is doing: its error, else its detail, else when it is retried."""
    note = item.get("error") or item.get("detail") or ""
    if item.get("next_retry_at") and stage_of(item["status"]) != DONE_STAGE:
        note = f"{note} (next try {item['next_retry_at']})".strip()
    return note


def _progress(item: Mapping[str, Any]) -> RenderableType:
    value = float(item.get("progress") or 0.0)
    bar = ProgressBar(total=100.0, completed=value, width=BAR_WIDTH)
    table = Table.grid(padding=(0, 1))
    table.add_row(bar, Text(f"{value:5.1f} %"))
    return table


def requests_table(views: Sequence[Mapping[str, Any]], total: int) -> Table:
    table = Table(title=f"{len(views)} of {total} request(s)", title_justify="left")
    for column in ("ID", "TYPE", "TITLE", "STATUS", "PROGRESS", "ITEMS", "CREATED"):
        table.add_column(column, justify="right" if column in ("ID", "ITEMS") else "left")
    for v in views:
        title = f"{v['title']} ({v['year']})" if v.get("year") else v["title"]
        table.add_row(str(v["id"]), v["type"], title, status_text(v["status"]), f"{v['progress']:.1f} %",
                      str(v["items"]), (v.get("created_at") or "")[:19])
    return table


def items_table(items: Sequence[Mapping[str, Any]], *, bars: bool = True) -> Table:
    table = Table(title_justify="left")
    for column in ("ITEM", "", "TITLE", "STAGE", "STATUS", "PROGRESS", "NOTE"):
        table.add_column(column, justify="right" if column == "ITEM" else "left", overflow="fold")
    for item in items:
        progress = _progress(item) if bars else f"{float(item.get('progress') or 0):.1f} %"
        table.add_row(str(item["id"]), item_label(item), item.get("title") or "", stage_of(item["status"]),
                      status_text(item["status"]), progress, _note(item))
    return table


def request_detail(view: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> Group:
    title = f"{view['title']} ({view['year']})" if view.get("year") else view["title"]
    head = Table.grid(padding=(0, 2))
    head.add_row(Text(f"request {view['id']}", style="bold"), Text(f"{view['type']}: {title}"),
                 status_text(view["status"]), Text(f"{view['progress']:.1f} %"))
    if view.get("targets"):
        head.add_row("", Text("targets: " + ", ".join(view["targets"])), "", "")
    return Group(head, items_table(items))


def watch_frame(view: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> Group:
    """One refresh of `annexd request watch`: the request, then each item's stage and a progress bar."""
    done = sum(1 for i in items if stage_of(i["status"]) == DONE_STAGE)
    footer = Text(f"{done} of {len(items)} item(s) done", style="dim")
    return Group(request_detail(view, items), footer)


def all_done(items: Sequence[Mapping[str, Any]]) -> bool:
    """Every item COMPLETED, FAILED or CANCELLED: nothing more will happen without a person."""
    return bool(items) and all(stage_of(i["status"]) == DONE_STAGE for i in items)


def status_tables(data: Mapping[str, Any]) -> Group:
    counts = Table(title="items by status", title_justify="left")
    counts.add_column("STATUS")
    counts.add_column("ITEMS", justify="right")
    for status, n in sorted(data.get("items", {}).items()):
        counts.add_row(status_text(status), str(n))
    facts = Table.grid(padding=(0, 2))
    facts.add_row("version", str(data.get("version", "")))
    facts.add_row("database", str(data.get("database", "")))
    pool = data.get("pool") or {}
    facts.add_row("pool", ", ".join(f"{k} {v}" for k, v in pool.items()))
    pending = data.get("pending_migrations") or []
    facts.add_row("pending migrations", ", ".join(pending) if pending else "none")
    return Group(facts, counts)


def submitted(outcome: Mapping[str, Any]) -> Text:
    """One line for `request add`: created, what was added to the existing request, or nothing new."""
    rid = outcome["id"]
    waits = " (waits for an admin's approval)" if outcome.get("pending_approval") else ""
    if outcome["created"]:
        return Text(f"request {rid} created{waits}")
    added = outcome["added"]
    parts = [", ".join(f"S{e['season']:02}E{e['episode']:02}" for e in added["episodes"]),
             ", ".join(f"season {s}" for s in added["seasons"]),
             ", ".join(f"target {t}" for t in added["targets"]),
             f"following the show ({added['monitor']})" if added.get("monitor") else ""]
    what = "; ".join(p for p in parts if p)
    if what:
        return Text(f"request {rid} already holds this title: added {what}{waits}")
    return Text(f"nothing new: request {rid} already holds all of it", style="yellow")
