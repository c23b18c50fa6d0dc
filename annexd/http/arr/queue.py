"""The download queue both apps answer (``queue`` paged and sortable, ``queue/details``, ``queue/status``): annexd's
items between download and delivery, with live progress as the /api/v1 views show it. Not pure: handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from annexd.domain.quality import quality_of
from annexd.domain.releases import parse_release
from annexd.http.arr import resources
from annexd.http.arr.call import Call, answer, message
from annexd.http.arr.resources import QueueEntry
from annexd.http.arr.titles import KIND
from store import queries

MAX_PAGE_SIZE = 10_000
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "timeleft": lambda r: r.get("timeleft") is None, "title": lambda r: r["title"].lower(),
    "size": lambda r: r["size"], "sizeleft": lambda r: r["sizeleft"], "status": lambda r: r["status"],
    "progress": lambda r: (r["size"] - r["sizeleft"]) / r["size"] if r["size"] else 0.0,
    "added": lambda r: r.get("added") or "", "estimatedcompletiontime": lambda r: r.get(
        "estimatedCompletionTime") or "9999", "id": lambda r: r["id"],
}


def _entry(row: queries.QueueRow, live: Any) -> QueueEntry:
    progress, eta, detail = row.progress, row.eta_seconds, row.detail
    current = live.get(row.item_id, row.status, row.status_changed_at) if live is not None else None
    if current is not None:
        progress, eta, detail = current.progress, current.eta_seconds, current.detail or detail
    title = row.release_title or row.download_name
    return QueueEntry(item_id=row.item_id, request_id=row.request_id, kind=row.kind, season=row.season,
                      episode=row.episode, status=row.status, title=title, size=row.size, progress=progress,
                      eta_seconds=eta, info_hash=row.info_hash, client=row.client, added=row.added,
                      quality=quality_of(parse_release(title)) if title else None, detail=detail,
                      error=row.last_error if row.status == "DOWNLOADING" else None)


async def _records(call: Call) -> list[dict[str, Any]]:
    kind, who, live = KIND[call.app], call.visible_to, call.deps.ctx.live
    now: datetime = call.now()

    def load() -> list[dict[str, Any]]:
        return [_record(call, _entry(row, live), now) for row in queries.queue_rows(kind, who)]

    records: list[dict[str, Any]] = await call.db(load)
    return records


def _record(call: Call, entry: QueueEntry, now: datetime) -> dict[str, Any]:
    record = resources.queue_record(entry, call.app, now)
    if call.app == "sonarr" and call.query.flag("includeEpisode"):
        record["episode"] = {"id": entry.item_id, "seriesId": entry.request_id, "seasonNumber": entry.season,
                             "episodeNumber": entry.episode, "hasFile": False, "monitored": True}
    return record


async def queue(call: Call) -> web.StreamResponse:
    """``page``/``pageSize`` (1 and 10 by default, as the apps), ``sortKey`` (default ``timeleft``, unknown keys
    too) and ``sortDirection`` (``ascending`` | ``descending`` | ``default``)."""
    try:
        page = max(1, call.query.integer("page") or 1)
        size = min(MAX_PAGE_SIZE, max(1, call.query.integer("pageSize") or 10))
    except ValueError:
        return message(call, 400, "page and pageSize must be numbers")
    sort_key = call.query.get("sortKey") or "timeleft"
    direction = (call.query.get("sortDirection") or "default").lower()
    records = await _records(call)
    key = SORT_KEYS.get(sort_key.lower().split(".")[-1], SORT_KEYS["timeleft"])
    records.sort(key=lambda r: (key(r), r["id"]), reverse=direction == "descending")
    shown = records[(page - 1) * size: page * size]
    return answer(call, {"page": page, "pageSize": size, "sortKey": sort_key,
                         "sortDirection": direction if direction in ("ascending", "descending") else "default",
                         "totalRecords": len(records), "records": shown})


async def queue_details(call: Call) -> web.StreamResponse:
    return answer(call, await _records(call))


async def queue_status(call: Call) -> web.StreamResponse:
    records = await _records(call)
    warnings = any(r.get("trackedDownloadStatus") == "warning" for r in records)
    return answer(call, {"totalCount": len(records), "count": len(records), "unknownCount": 0, "errors": False,
                         "warnings": warnings, "unknownErrors": False, "unknownWarnings": False})
