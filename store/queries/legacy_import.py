"""The legacy importer's writes (issue 15): requests found again by their legacy ids or merged through the one
request per title, items inserted in batches without ever touching an existing one, and the Downloads they link
to upserted by info hash without overwriting.

Re-runs are safe by construction: a request is matched on any of its legacy ids, an item that exists on
(request, season, episode) is left exactly as it is (``ON CONFLICT DO NOTHING``: an item annexd has moved is
never set back), and a Download already known by its hash is linked to, never changed. Every batch is one
transaction that also refreshes the derived status of the requests it added items to.

Not pure: reads and writes the database bound to store.db.database_proxy, in the caller's connection.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from annexd.domain.pipeline import RequestStatus
from annexd.domain.request_specs import title_key
from store.db import database_proxy, is_postgres, write_transaction
from store.models import Download, MediaRequest, ProcessingItem
from store.queries.media_requests import lock_titles
from store.queries.request_status import request_touched, status_batch

CREATED, MERGED, KNOWN = "created", "merged", "known"
_CHUNK = 500

# The item columns an import writes, in this order (the PostgreSQL path copies them as text).
ITEM_COLUMNS = (
    "request_id", "kind", "season", "episode", "title", "air_date", "status", "status_changed_at", "progress",
    "attempts", "last_error", "next_retry_at", "quality_met", "available_releases", "release", "download_id",
    "source_file_path", "encoded_file_path", "downloaded_at", "encoded_at", "delivered_at", "requested_by",
    "legacy_id", "created_at", "updated_at",
)
_JSON_COLUMNS = frozenset({"available_releases", "release"})


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    request_id: int
    outcome: str  # created | merged (into a request annexd had for the title) | known (imported before)


def legacy_request_index() -> dict[str, int]:
    """Every legacy request id an earlier import stored, with the annexd request that holds it."""
    index: dict[str, int] = {}
    query = MediaRequest.select(MediaRequest.id, MediaRequest.legacy_ids).where(MediaRequest.legacy_ids.is_null(False))
    for request_id, legacy_ids in cast(Iterable[tuple[int, Any]], query.tuples()):
        for legacy_id in json.loads(legacy_ids) if isinstance(legacy_ids, str) else legacy_ids or ():
            index.setdefault(str(legacy_id), int(request_id))
    return index


def adopt_requests(columns: Sequence[Mapping[str, Any]], index: MutableMapping[str, int]) -> list[RequestOutcome]:
    """One annexd request for each planned one (columns of ``media_request`` plus ``legacy_id`` and the list
    ``legacy_ids``), in one transaction: the request an earlier import made (by any legacy id), else the live
    request of the title (the one-request-per-title rule), which keeps what it has and gains the legacy ids, new
    targets and seasons; else a new request. ``index`` (legacy id -> request id) is updated."""
    keys = [_key(c) for c in columns]
    with write_transaction():
        lock_titles(sorted(set(keys)))
        live = _live_requests(set(keys))
        decided = [_decide(c, key, index, live) for c, key in zip(columns, keys, strict=True)]
        live.update(_insert([{**c, "title_key": key} for c, key, (_, how) in zip(columns, keys, decided, strict=True)
                             if how == CREATED]))
        done = [RequestOutcome(request_id if request_id is not None else int(live[key] or 0), how)
                for key, (request_id, how) in zip(keys, decided, strict=True)]
        _add_to([(o.request_id, c) for o, c in zip(done, columns, strict=True) if o.outcome != CREATED])
    for outcome, c in zip(done, columns, strict=True):
        index.update({i: outcome.request_id for i in c["legacy_ids"]})
    return done


def _key(columns: Mapping[str, Any]) -> str:
    return title_key(columns["kind"], columns.get("tmdb_id"), columns["title"], columns.get("year"))[:600]


def _decide(columns: Mapping[str, Any], key: str, index: Mapping[str, int], live: dict[str, int | None]
            ) -> tuple[int | None, str]:
    """(request id, outcome); the id is None for a request created in this batch (known after the insert).
    Two planned requests of one annexd title in a batch: the second merges into the first."""
    known = next((index[i] for i in columns["legacy_ids"] if i in index), None)
    if known is not None:
        return known, KNOWN
    if key in live:
        return live[key], MERGED
    live[key] = None
    return None, CREATED


def _live_requests(keys: set[str]) -> dict[str, int | None]:
    """The live (not wholly CANCELLED) request of each of these titles: the oldest, as submit_request finds it."""
    live: dict[str, int | None] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        query = MediaRequest.select(MediaRequest.title_key, MediaRequest.id).where(
            MediaRequest.title_key.in_(ordered[start:start + _CHUNK])
            & (MediaRequest.status != RequestStatus.CANCELLED.value)).order_by(MediaRequest.id.desc())
        live.update(dict(cast(Iterable[tuple[str, int]], query.tuples())))  # the oldest is written last
    return live


def _insert(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Insert new requests (the status function sets their status later); their ids by title key."""
    rows = [{k: v for k, v in r.items() if k != "status"} for r in rows]
    for start in range(0, len(rows), _CHUNK):
        MediaRequest.insert_many(rows[start:start + _CHUNK]).execute()
    ids: dict[str, int] = {}
    legacy = [r["legacy_id"] for r in rows]
    for start in range(0, len(legacy), _CHUNK):
        query = MediaRequest.select(MediaRequest.title_key, MediaRequest.id).where(
            MediaRequest.legacy_id.in_(legacy[start:start + _CHUNK])).order_by(MediaRequest.id)
        ids.update(dict(cast(Iterable[tuple[str, int]], query.tuples())))  # the newest row is this import's
    return ids


def _add_to(merged: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Legacy ids, targets and requested seasons requests did not have yet; nothing else changes."""
    wanted: dict[int, list[Mapping[str, Any]]] = {}
    for request_id, columns in merged:
        wanted.setdefault(request_id, []).append(columns)
    ids = sorted(wanted)
    for start in range(0, len(ids), _CHUNK):
        for req in MediaRequest.select(MediaRequest.id, MediaRequest.legacy_id, MediaRequest.legacy_ids,
                                       MediaRequest.targets, MediaRequest.requested_seasons).where(
                MediaRequest.id.in_(ids[start:start + _CHUNK])):
            updates = _additions(req, wanted[req.id])
            if updates:
                MediaRequest.update(updates).where(MediaRequest.id == req.id).execute()


def _additions(req: MediaRequest, merged: Sequence[Mapping[str, Any]]) -> dict[Any, Any]:
    legacy_ids = list(dict.fromkeys([*(req.legacy_ids or []), *(i for c in merged for i in c["legacy_ids"])]))
    targets = list(dict.fromkeys([*(req.targets or []), *(t for c in merged for t in c.get("targets") or [])]))
    updates: dict[Any, Any] = {}
    if legacy_ids != (req.legacy_ids or []):
        updates[MediaRequest.legacy_ids] = legacy_ids
    if req.legacy_id is None:
        updates[MediaRequest.legacy_id] = merged[0]["legacy_id"]
    if targets != (req.targets or []):
        updates[MediaRequest.targets] = targets
    seasons = {s for c in merged for s in c.get("requested_seasons") or ()}
    if req.requested_seasons is not None and seasons - set(req.requested_seasons):
        updates[MediaRequest.requested_seasons] = sorted({*req.requested_seasons, *seasons})
    return updates


def download_hashes(item_ids: Sequence[int]) -> dict[int, str]:
    """The info hash of the Download each of these items is linked to (items without one are left out)."""
    hashes: dict[int, str] = {}
    for start in range(0, len(item_ids), _CHUNK):
        query = (ProcessingItem.select(ProcessingItem.id, Download.info_hash).join(Download)
                 .where(ProcessingItem.id.in_(list(item_ids[start:start + _CHUNK]))))
        hashes.update(dict(cast(Iterable[tuple[int, str]], query.tuples())))
    return hashes


# --- items and downloads -------------------------------------------------------------------------------------
def import_items(items: Sequence[Mapping[str, Any]], downloads: Mapping[str, Mapping[str, Any]],
                 download_ids: MutableMapping[str, int]) -> int:
    """Insert one batch of items (columns of :data:`ITEM_COLUMNS`, ``download_hash`` instead of
    ``download_id``) and the Downloads they link to (by info hash), in one transaction; returns how many items
    were new. ``download_ids`` caches hash -> Download id across batches."""
    if not items:
        return 0
    with write_transaction(), status_batch():
        _upsert_downloads([d for h, d in downloads.items() if h not in download_ids], download_ids)
        rows = [_item_row(item, download_ids) for item in items]
        added = _insert_items_postgres(rows) if is_postgres(database_proxy.obj) else _insert_items_sqlite(rows)
        for request_id in {row[0] for row in rows}:
            request_touched(request_id)
    return added


def _upsert_downloads(new: Sequence[Mapping[str, Any]], download_ids: MutableMapping[str, int]) -> None:
    """Downloads by info hash: an existing row is linked to as it is, never overwritten."""
    if not new:
        return
    for start in range(0, len(new), _CHUNK):
        Download.insert_many([dict(d) for d in new[start:start + _CHUNK]]).on_conflict_ignore().execute()
    hashes = [d["info_hash"] for d in new]
    for start in range(0, len(hashes), _CHUNK):
        query = Download.select(Download.info_hash, Download.id).where(
            Download.info_hash.in_(hashes[start:start + _CHUNK]))
        download_ids.update(dict(cast(Iterable[tuple[str, int]], query.tuples())))


def _item_row(item: Mapping[str, Any], download_ids: Mapping[str, int]) -> list[Any]:
    """The item's values in :data:`ITEM_COLUMNS` order, JSON columns encoded as annexd's JSONField does."""
    link = item.get("download_hash")
    row = [item.get(c) for c in ITEM_COLUMNS]
    row[_DOWNLOAD_ID] = download_ids.get(link) if link else None
    for i in _JSON_INDEXES:
        if row[i] is not None:
            row[i] = json.dumps(row[i], sort_keys=True, default=str)
    return row


_DOWNLOAD_ID = ITEM_COLUMNS.index("download_id")
_JSON_INDEXES = tuple(ITEM_COLUMNS.index(c) for c in _JSON_COLUMNS)


def _insert_items_sqlite(rows: Sequence[list[Any]]) -> int:
    marks = ", ".join(["?"] * len(ITEM_COLUMNS))
    sql = (f"INSERT INTO processing_item ({', '.join(ITEM_COLUMNS)}) VALUES ({marks}) "
           "ON CONFLICT (request_id, season, episode) DO NOTHING")
    cursor = database_proxy.obj.cursor()
    cursor.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in rows])
    return int(cursor.rowcount)


def _sqlite_value(value: Any) -> Any:
    """As peewee stores it on SQLite: datetimes and dates as ISO text with a space."""
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _insert_items_postgres(rows: Sequence[list[Any]]) -> int:
    """COPY into a temporary table, then one INSERT ... SELECT that skips (request, season, episode) pairs
    annexd already has: the fastest way in, and still no existing item touched."""
    cursor = database_proxy.obj.cursor()
    columns = ", ".join(ITEM_COLUMNS)
    # The columns' types only (no defaults, no constraints); emptied at every commit, kept by the connection.
    cursor.execute("SELECT to_regclass('pg_temp.legacy_import_item')")
    if cursor.fetchone()[0] is None:
        cursor.execute(f"CREATE TEMPORARY TABLE legacy_import_item ON COMMIT DELETE ROWS AS "
                       f"SELECT {columns} FROM processing_item WITH NO DATA")
    plain = [row for row in rows if _NULL not in row]
    cursor.copy_expert(f"COPY legacy_import_item ({columns}) FROM STDIN WITH (FORMAT csv, NULL '{_NULL}')",
                       _csv(plain))
    if len(plain) < len(rows):  # a text that is exactly COPY's NULL marker goes in as a parameter
        marks = ", ".join(["%s"] * len(ITEM_COLUMNS))
        cursor.executemany(f"INSERT INTO legacy_import_item ({columns}) VALUES ({marks})",
                           [row for row in rows if _NULL in row])
    cursor.execute(f"INSERT INTO processing_item ({columns}) SELECT {columns} FROM legacy_import_item "
                   "ON CONFLICT (request_id, season, episode) DO NOTHING")
    return int(cursor.rowcount)


_NULL = "\\N"  # COPY's NULL marker, unquoted in the CSV (rows holding a text that is exactly this go apart)


def _csv(rows: Iterable[list[Any]]) -> io.StringIO:
    """Rows as COPY's CSV (datetimes and dates in ISO form through str(), booleans as True/False)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [_NULL if v is None else v for v in row] for row in rows)
    buffer.seek(0)
    return buffer
