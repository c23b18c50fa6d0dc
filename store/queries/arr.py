"""What the Radarr/Sonarr API (annexd.http.arr) reads and writes: stable quality-profile ids, tags and the
requests' tags, the library (requests with their items and delivered copies), the download queue, the search
a command starts at once, and the delivered files a delete removes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import peewee as pw

from annexd.domain.pipeline import Event, ProcessingStatus, RequestStatus
from annexd.errors import InvalidInputError, NotFoundError
from store.db import write_transaction
from store.models import (
    ArrQualityProfile,
    ArrRequestTag,
    ArrTag,
    Delivery,
    Download,
    MediaRequest,
    ProcessingItem,
)
from store.queries.items import apply_transition
from store.queries.media_requests import asked_by, release_title
from store.queries.request_status import status_batch

S = ProcessingStatus
# Items on their way through the download client and after it, until delivered: the *arr queue.
QUEUE_STATUSES = (S.DOWNLOADING, S.DOWNLOADED, S.ENCODING, S.ENCODED, S.DELIVERING)
QUEUE_LIMIT = 10_000  # items in flight read at most (the queue is paged in memory after that)


# --- quality profiles --------------------------------------------------------------------------------------
def quality_profile_ids(names: Sequence[str]) -> dict[str, int]:
    """Each profile name's id, kept across config edits: a name seen for the first time gets the next id."""
    known = {row.name: row.id for row in ArrQualityProfile.select()}
    missing = [n for n in dict.fromkeys(names) if n not in known]
    if missing:
        with write_transaction():
            ArrQualityProfile.insert_many([{"name": n} for n in missing]).on_conflict_ignore().execute()
        known = {row.name: row.id for row in ArrQualityProfile.select()}
    return {n: known[n] for n in names}


# --- tags -------------------------------------------------------------------------------------------------
def tags() -> list[tuple[int, str]]:
    return [(t.id, t.label) for t in ArrTag.select().order_by(ArrTag.id)]


def get_tag(tag_id: int) -> tuple[int, str]:
    row = ArrTag.get_or_none(ArrTag.id == tag_id)
    if row is None:
        raise NotFoundError(f"tag {tag_id} not found")
    return row.id, row.label


def create_tag(label: str) -> tuple[int, str]:
    """The tag with this label, created when new (adding an existing label returns the existing tag)."""
    with write_transaction():
        ArrTag.insert(label=label).on_conflict_ignore().execute()
        row = ArrTag.get(ArrTag.label == label)
    return row.id, row.label


def rename_tag(tag_id: int, label: str) -> tuple[int, str]:
    """NotFoundError, or InvalidInputError when another tag has that label."""
    get_tag(tag_id)
    try:
        with write_transaction():
            ArrTag.update(label=label).where(ArrTag.id == tag_id).execute()
    except pw.IntegrityError:
        raise InvalidInputError(f"another tag is labelled {label!r}") from None
    return tag_id, label


def delete_tag(tag_id: int) -> None:
    get_tag(tag_id)
    with write_transaction():
        ArrTag.delete().where(ArrTag.id == tag_id).execute()


def request_tags(request_ids: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    if request_ids:
        query = ArrRequestTag.select(ArrRequestTag.request, ArrRequestTag.tag).where(
            ArrRequestTag.request.in_(list(request_ids))).order_by(ArrRequestTag.tag).tuples()
        for request_id, tag_id in cast(Iterable[tuple[int, int]], query):
            out[request_id].append(tag_id)
    return out


def set_request_tags(request_id: int, tag_ids: Iterable[int]) -> None:
    """The request's tags become ``tag_ids`` (unknown tag ids are ignored)."""
    wanted = set(tag_ids)
    known = {t.id for t in ArrTag.select(ArrTag.id).where(ArrTag.id.in_(list(wanted)))} if wanted else set()
    with write_transaction():
        ArrRequestTag.delete().where(ArrRequestTag.request == request_id).execute()
        if known:
            ArrRequestTag.insert_many([{"request": request_id, "tag": t} for t in sorted(known)]).execute()


# --- the library --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LibraryItem:
    id: int
    season: int
    episode: int
    title: str
    status: str
    air_date: date | None
    delivered_at: datetime | None
    release_title: str | None
    size_on_disk: int
    path: str | None


@dataclass(frozen=True)
class LibraryRequest:
    id: int
    kind: str
    title: str
    year: int | None
    tmdb_id: int | None
    tvdb_id: int | None
    imdb_id: str | None
    quality_profile: str
    targets: tuple[str, ...]
    requested_by: str
    status: str
    created_at: datetime
    requested_seasons: tuple[int, ...] | None
    monitor_seasons: tuple[int, ...] | None
    items: tuple[LibraryItem, ...]
    tags: tuple[int, ...]


def library(kind: str, *, request_ids: Sequence[int] | None = None, tmdb_ids: Sequence[int] | None = None,
            tvdb_ids: Sequence[int] | None = None, visible_to: str | None = None) -> list[LibraryRequest]:
    """The requests of ``kind`` that are not wholly CANCELLED (what the *arr library holds), oldest first, with
    their items and one delivered copy of each; ``visible_to`` limits them to that requester's."""
    where = (MediaRequest.kind == kind) & (MediaRequest.status != RequestStatus.CANCELLED.value)
    if request_ids is not None:
        where &= MediaRequest.id.in_(list(request_ids) or [-1])
    if tmdb_ids is not None:
        where &= MediaRequest.tmdb_id.in_(list(tmdb_ids) or [-1])
    if tvdb_ids is not None:
        where &= MediaRequest.tvdb_id.in_(list(tvdb_ids) or [-1])
    if visible_to is not None:
        where &= asked_by(visible_to)
    requests = list(MediaRequest.select().where(where).order_by(MediaRequest.id))
    ids = [r.id for r in requests]
    items = _library_items(ids)
    tag_map = request_tags(ids)
    return [_library_request(r, tuple(items.get(r.id, ())), tuple(tag_map.get(r.id, ()))) for r in requests]


def _library_request(r: MediaRequest, items: tuple[LibraryItem, ...], tag_ids: tuple[int, ...]) -> LibraryRequest:
    return LibraryRequest(
        id=r.id, kind=r.kind, title=r.title, year=r.year, tmdb_id=r.tmdb_id, tvdb_id=r.tvdb_id,
        imdb_id=r.imdb_id, quality_profile=r.quality_profile, targets=tuple(r.targets or ()),
        requested_by=r.requested_by, status=r.status, created_at=r.created_at,
        requested_seasons=tuple(r.requested_seasons) if r.requested_seasons is not None else None,
        monitor_seasons=tuple(r.monitor_seasons) if r.monitor_seasons is not None else None,
        items=items, tags=tag_ids)


def _library_items(request_ids: Sequence[int]) -> dict[int, list[LibraryItem]]:
    """The items of these requests, only the columns the library shows (the release's name read from its JSON
    by the database; no alternatives or paths decoded)."""
    if not request_ids:
        return {}
    columns = (ProcessingItem.id, ProcessingItem.request, ProcessingItem.season, ProcessingItem.episode,
               ProcessingItem.title, ProcessingItem.status, ProcessingItem.air_date, ProcessingItem.delivered_at,
               release_title())
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(request_ids), 500):
        chunk = list(request_ids[start:start + 500])
        query = ProcessingItem.select(*columns).where(ProcessingItem.request.in_(chunk)).order_by(
            ProcessingItem.season, ProcessingItem.episode).tuples()
        rows += list(cast(Iterable[tuple[Any, ...]], query))
    copies = _delivered_copies([r[0] for r in rows])
    out: dict[int, list[LibraryItem]] = defaultdict(list)
    for item_id, request_id, season, episode, title, status, air_date, delivered_at, release in rows:
        size, path = copies.get(item_id, (0, None))
        out[request_id].append(LibraryItem(
            id=item_id, season=season, episode=episode, title=title, status=status, air_date=_day(air_date),
            delivered_at=_moment(delivered_at), release_title=release, size_on_disk=size, path=path))
    return out


def _day(value: Any) -> date | None:
    """A date column read through ``.tuples()`` (SQLite gives text)."""
    return date.fromisoformat(str(value)[:10]) if isinstance(value, str) else value


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _delivered_copies(item_ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
    """One delivered copy (size, path) per item: the first target's, by name."""
    out: dict[int, tuple[int, str | None]] = {}
    for start in range(0, len(item_ids), 500):
        query = Delivery.select(Delivery.item, Delivery.size, Delivery.remote_path).where(
            Delivery.item.in_(list(item_ids[start:start + 500])) & (Delivery.status == "done")
        ).order_by(Delivery.target).tuples()
        for item_id, size, path in cast(Iterable[tuple[int, int, str | None]], query):
            out.setdefault(item_id, (int(size or 0), path))
    return out


def delivered_files(request_id: int) -> list[tuple[str, str]]:
    """(target, remote path) of every delivered copy of the request's items."""
    query = Delivery.select(Delivery.target, Delivery.remote_path).join(ProcessingItem).where(
        (ProcessingItem.request == request_id) & (Delivery.status == "done")
        & Delivery.remote_path.is_null(False)).tuples()
    return [(str(t), str(p)) for t, p in cast(Iterable[tuple[str, str]], query)]


# --- the queue ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueRow:
    item_id: int
    request_id: int
    kind: str
    season: int
    episode: int
    status: str
    status_changed_at: datetime | None
    progress: float
    eta_seconds: int | None
    detail: str | None
    last_error: str | None
    release_title: str | None
    download_name: str
    size: int
    info_hash: str
    client: str
    added: datetime | None


def queue_rows(kind: str, visible_to: str | None = None) -> list[QueueRow]:
    """The items of ``kind`` requests between download and delivery, with their download (oldest first)."""
    where = (MediaRequest.kind == kind) & ProcessingItem.status.in_([s.value for s in QUEUE_STATUSES])
    if visible_to is not None:
        where &= asked_by(visible_to)
    query = (ProcessingItem.select(ProcessingItem, Download, MediaRequest.id, MediaRequest.kind)
             .join(Download, on=(ProcessingItem.download == Download.id))
             .switch(ProcessingItem).join(MediaRequest)
             .where(where).order_by(ProcessingItem.id).limit(QUEUE_LIMIT))
    return [_queue_row(i) for i in query]


def _queue_row(i: Any) -> QueueRow:
    release = i.release if isinstance(i.release, dict) else {}
    d = i.download
    return QueueRow(
        item_id=i.id, request_id=i.request.id, kind=i.request.kind, season=i.season, episode=i.episode,
        status=i.status, status_changed_at=i.status_changed_at, progress=float(i.progress or 0.0),
        eta_seconds=i.eta_seconds, detail=i.detail, last_error=i.last_error, release_title=release.get("title"),
        download_name=d.name or "", size=int(d.size or release.get("size") or 0), info_hash=d.info_hash,
        client=d.client, added=d.added_at)


# --- search now ---------------------------------------------------------------------------------------------
_DUE_NOW = {S.AWAITING: Event.RETRY_DUE, S.QUALITY_UNAVAILABLE: Event.RETRY_DUE, S.FAILED: Event.RETRY}


def search_now(request_ids: Sequence[int], now: datetime, *, season: int | None = None,
               item_ids: Sequence[int] | None = None) -> int:
    """A search asked for by a person (Radarr's MoviesSearch, Sonarr's Series/Season/EpisodeSearch): the
    requests' items (of ``season``, or only ``item_ids``) that wait for a search -- AWAITING,
    QUALITY_UNAVAILABLE, or FAILED while searching -- are due now (PENDING). Returns how many moved."""
    where = ProcessingItem.status.in_([s.value for s in _DUE_NOW])
    if item_ids is not None:
        where &= ProcessingItem.id.in_(list(item_ids) or [-1])
    else:
        where &= ProcessingItem.request.in_(list(request_ids) or [-1])
    if season is not None:
        where &= ProcessingItem.season == season
    moved = 0
    with write_transaction(), status_batch():
        for item in ProcessingItem.select().where(where):
            status = S(item.status)
            if status is S.FAILED and item.failed_stage not in (None, "search"):
                continue
            fields: dict[str, Any] = {"detail": "search asked for over the Radarr/Sonarr API"}
            if status is S.FAILED:
                fields.update(download=None, source_file_path=None, encoded_file_path=None, encoded_files=None)
            if apply_transition(item.id, status, _DUE_NOW[status], now, fields=fields):
                moved += 1
    return moved


def item_request_ids(item_ids: Sequence[int]) -> list[int]:
    query = ProcessingItem.select(ProcessingItem.request).where(
        ProcessingItem.id.in_(list(item_ids) or [-1])).distinct().tuples()
    return [int(r) for (r,) in cast(Iterable[tuple[int]], query)]

