"""Legacy rows to an import plan (pure: no database, no clock; ``now`` is a parameter).

Requests merge per title (:func:`plan_requests`). Items (:func:`plan_items`) are unique on (request, season,
episode): every legacy "ProcessingItem" and "TvEpisode" row of one episode of one title becomes one
:class:`PlannedItem`, decided by these rules (issue 15):

- duplicates of one kind (two ProcessingItems, or two TvEpisodes of merged requests): the most recently updated
  wins, the rest are listed as ``duplicate`` conflicts;
- a ProcessingItem and a TvEpisode: the later ``updatedAt`` decides status, error, download link and paths, a
  tie goes to the ProcessingItem; timestamps come from the winner, the other row filling any it lacks; when they
  disagree the pair is listed as a ``disagreement`` conflict;
- the status follows the issue's table (:func:`map_status`); attempts start at 0;
- paths must be absolute, without NUL and without ``..`` (they need not exist); a rejected or missing file that
  the legacy status implied is listed in ``file_unknown``.

The item stream must come ordered by (group key, season, episode), as the reader yields it; an item stream out
of order raises :class:`PlanOrderError` instead of planning one episode twice.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.torrents import normalize_info_hash
from annexd.legacy.releases import convert_release, convert_releases
from annexd.legacy.rows import LegacyDownload, LegacyRequest, LegacyWorkRow, Source

QUALITY_UNAVAILABLE_STEP = "search_quality_unavailable"
SEARCH_STATUSES = frozenset({"PENDING", "SEARCHING", "DISCOVERED", "FOUND"})
ACTIVE_DOWNLOAD = frozenset({"PENDING", "DOWNLOADING", "STALLED"})
FINISHED_DOWNLOAD = frozenset({"COMPLETED", "IMPORTING", "PROCESSED"})
# annexd statuses that will search again: a link to an old torrent would be stale there.
_SEARCHING_AGAIN = frozenset({S.PENDING, S.AWAITING, S.QUALITY_UNAVAILABLE})
# annexd clears last_error when a stage succeeds; an imported item in one of these carries none.
_NO_ERROR = frozenset({S.DOWNLOADING, S.DOWNLOADED, S.ENCODED, S.COMPLETED})

Phase = Literal["active", "finished", "gone"]


class PlanOrderError(ValueError):
    """The item rows did not come ordered by (group key, season, episode)."""


@dataclass(frozen=True, slots=True)
class PlanSettings:
    now: datetime
    search_retry: timedelta = timedelta(hours=6)  # [search.retry] base_seconds: when QUALITY_UNAVAILABLE is due
    target_names: Mapping[str, str] = field(default_factory=dict)  # legacy StorageServer id -> annexd target
    indexer_names: Mapping[str, str] = field(default_factory=dict)  # legacy Indexer id -> annexd indexer


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    key: str
    kind: Literal["movie", "tv"]
    title: str
    year: int | None
    tmdb_id: int | None
    legacy_id: str  # the oldest merged legacy request
    legacy_ids: tuple[str, ...]  # every merged legacy request, oldest first
    requested_by: str
    requested_seasons: tuple[int, ...] | None
    targets: tuple[str, ...]
    created_at: datetime
    # Every merged legacy request still waits in Annex's ApprovalQueue: its unstarted items wait for an admin.
    pending_approval: bool = False
    usernames: tuple[str, ...] = ()  # every merged request's user: disabled annexd users without keys


@dataclass(frozen=True, slots=True)
class PlannedDownload:
    """A legacy torrent: ``phase`` active (the writer keeps polling it), finished (to be mapped) or gone."""

    legacy_id: str
    info_hash: str  # lower-case 40-hex
    name: str
    save_path: str | None
    content_path: str | None
    is_pack: bool
    season: int | None
    size: int
    phase: Phase
    legacy_status: str


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: Literal["disagreement", "duplicate"]
    request_legacy_id: str
    title: str  # the request's
    season: int
    episode: int
    legacy_ids: tuple[str, ...]  # the winner first
    winner: str
    winner_source: Source
    reason: str
    statuses: tuple[tuple[str, str], ...]  # (legacy id, legacy status), in the order of legacy_ids


@dataclass(frozen=True, slots=True)
class FileUnknown:
    legacy_id: str
    title: str  # the request's
    season: int
    episode: int
    legacy_status: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedItem:
    request_key: str
    legacy_id: str | None  # the ProcessingItem's id if any, else the TvEpisode's; None: made for a movie
    merged_ids: tuple[str, ...]
    kind: Literal["movie", "episode"]
    season: int
    episode: int
    title: str
    status: S
    legacy_status: str | None
    last_error: str | None
    next_retry_at: datetime | None
    air_date: date | None
    source_file_path: str | None
    encoded_file_path: str | None
    downloaded_at: datetime | None
    encoded_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    quality_met: bool | None
    available_releases: tuple[dict[str, Any], ...]
    release: dict[str, Any] | None
    download: PlannedDownload | None
    adopted: bool  # DOWNLOADING on a legacy torrent: annexd takes it over and never grabs again
    conflicts: tuple[Conflict, ...] = ()
    file_unknown: FileUnknown | None = None
    attempts: int = 0


# --- requests ------------------------------------------------------------------------------------------------
def plan_requests(rows: Iterable[LegacyRequest], settings: PlanSettings) -> dict[str, PlannedRequest]:
    """One planned request per title, keyed by the legacy group key."""
    groups: dict[str, list[LegacyRequest]] = defaultdict(list)
    for row in rows:
        groups[row.group_key].append(row)
    return {key: _merge_requests(key, group, settings) for key, group in groups.items()}


def _merge_requests(key: str, group: list[LegacyRequest], settings: PlanSettings) -> PlannedRequest:
    group = sorted(group, key=lambda r: (r.created_at, r.id))
    oldest = group[0]
    seasons = [r.requested_seasons for r in group if r.requested_seasons is not None]
    targets = [settings.target_names[s] for r in group for s in r.server_ids if s in settings.target_names]
    return PlannedRequest(
        key=key, kind="movie" if oldest.media_type == "MOVIE" else "tv", title=oldest.title, year=oldest.year,
        tmdb_id=oldest.tmdb_id, legacy_id=oldest.id, legacy_ids=tuple(r.id for r in group),
        requested_by=next((r.username for r in group if r.username), "annex"),
        requested_seasons=tuple(sorted({s for ss in seasons for s in ss})) if seasons else None,
        targets=tuple(dict.fromkeys(targets)), created_at=oldest.created_at,
        pending_approval=all(r.pending_approval for r in group),
        usernames=tuple(dict.fromkeys(r.username or "annex" for r in group)),
    )


def merged_count(requests: Mapping[str, PlannedRequest]) -> int:
    """Legacy requests folded into another one of the same title."""
    return sum(len(r.legacy_ids) - 1 for r in requests.values())


# --- items ---------------------------------------------------------------------------------------------------
def plan_items(rows: Iterable[LegacyWorkRow], requests: Mapping[str, PlannedRequest],
               settings: PlanSettings) -> Iterator[PlannedItem]:
    """Planned items from rows ordered by (group key, season, episode); then one PENDING item for each movie
    request that had no legacy item at all. Rows of unknown requests are skipped."""
    seen: set[str] = set()
    previous: tuple[str, int, int] | None = None
    for key, group in itertools.groupby(rows, key=lambda r: (r.group_key, r.season, r.episode)):
        if previous is not None and key <= previous:
            raise PlanOrderError(f"item rows out of order: {key} after {previous}")
        previous = key
        request = requests.get(key[0])
        if request is not None:
            seen.add(request.key)
            yield awaiting_approval(merge_episode(list(group), request, settings), request)
    for request in requests.values():
        if request.kind == "movie" and request.key not in seen:
            yield awaiting_approval(_new_movie_item(request, settings.now), request)


# Statuses of an item nothing has started on: under a request still pending approval they wait for an admin.
_NOT_STARTED = frozenset({S.PENDING, S.AWAITING})


def awaiting_approval(item: PlannedItem, request: PlannedRequest) -> PlannedItem:
    """An item of a request still pending in Annex's ApprovalQueue imports as PENDING_APPROVAL (if nothing
    had started on it; Annex never resumed approved requests, so such items usually had not)."""
    if not request.pending_approval or item.status not in _NOT_STARTED:
        return item
    return replace(item, status=S.PENDING_APPROVAL, next_retry_at=None, last_error=None)


def _recency(row: LegacyWorkRow) -> tuple[datetime, datetime, str]:
    return row.updated_at, row.created_at, row.id


def merge_episode(rows: Sequence[LegacyWorkRow], request: PlannedRequest, settings: PlanSettings) -> PlannedItem:
    """One item from every legacy row of one episode (at least one row)."""
    if len(rows) == 1:  # the common case, kept cheap for big imports
        return _item(rows[0], [], request, settings, legacy_id=rows[0].id, merged_ids=(rows[0].id,), conflicts=())
    pis = sorted((r for r in rows if r.source == "ProcessingItem"), key=_recency, reverse=True)
    tes = sorted((r for r in rows if r.source == "TvEpisode"), key=_recency, reverse=True)
    conflicts = [_duplicate(same, request) for same in (pis, tes) if len(same) > 1]
    winner, others = _winner(pis, tes)
    if pis and tes and _decided(pis[0]) != _decided(tes[0]):
        conflicts.append(_disagreement(pis[0], tes[0], winner, request))
    return _item(winner, others, request, settings, legacy_id=(pis or tes)[0].id,
                 merged_ids=tuple(r.id for r in (*pis, *tes)), conflicts=tuple(conflicts))


def _winner(pis: list[LegacyWorkRow], tes: list[LegacyWorkRow]) -> tuple[LegacyWorkRow, list[LegacyWorkRow]]:
    """The deciding row and the others in the order they fill missing timestamps."""
    if pis and tes and tes[0].updated_at > pis[0].updated_at:
        return tes[0], [pis[0], *tes[1:], *pis[1:]]
    if pis:
        return pis[0], [*tes, *pis[1:]]
    return tes[0], tes[1:]


def _legacy_status(row: LegacyWorkRow) -> str:
    if row.status == "FOUND" and row.current_step == QUALITY_UNAVAILABLE_STEP:
        return "QUALITY_UNAVAILABLE"
    return row.status


def _decided(row: LegacyWorkRow) -> tuple[Any, ...]:
    """What the winner decides; two rows that differ here disagree."""
    link = row.downloads[0].torrent_hash.lower() if row.downloads else None
    return _legacy_status(row), row.error or None, link, source_path_of(row)


def _duplicate(rows: list[LegacyWorkRow], request: PlannedRequest) -> Conflict:
    return Conflict("duplicate", request.legacy_id, request.title, rows[0].season, rows[0].episode, tuple(r.id for r in rows),
                    rows[0].id, rows[0].source, f"several {rows[0].source} rows: the most recently updated wins",
                    tuple((r.id, _legacy_status(r)) for r in rows))


def _disagreement(pi: LegacyWorkRow, te: LegacyWorkRow, winner: LegacyWorkRow, request: PlannedRequest) -> Conflict:
    loser = te if winner is pi else pi
    reason = ("same updatedAt: the ProcessingItem wins" if pi.updated_at == te.updated_at
              else f"the {winner.source} was updated later")
    return Conflict("disagreement", request.legacy_id, request.title, pi.season, pi.episode, (winner.id, loser.id), winner.id,
                    winner.source, reason, ((winner.id, _legacy_status(winner)), (loser.id, _legacy_status(loser))))


# --- one item ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Mapped:
    """The annexd status of a legacy row."""

    status: S
    next_retry_at: datetime | None = None
    reason: str | None = None  # replaces the legacy error when set
    linked: bool = False  # DOWNLOADING on a legacy torrent
    file_unknown: str | None = None


@dataclass(frozen=True, slots=True)
class Paths:
    source: str | None
    encoded: str | None
    rejected: tuple[str, ...] = ()  # why a path was not taken


def _item(winner: LegacyWorkRow, others: list[LegacyWorkRow], request: PlannedRequest, settings: PlanSettings,
          *, legacy_id: str, merged_ids: tuple[str, ...], conflicts: tuple[Conflict, ...]) -> PlannedItem:
    rows = [winner, *others]
    air = _fill(rows, "air_date")
    link = choose_download([d for r in rows for d in r.downloads])
    paths = paths_of(winner)
    mapped = map_status(winner, link, paths, air.date() if air else None, settings)
    keep_link = link is not None and (mapped.linked or mapped.status not in _SEARCHING_AGAIN)
    error = mapped.reason or (None if mapped.status in _NO_ERROR else winner.error)
    return PlannedItem(
        request_key=request.key, legacy_id=legacy_id, merged_ids=merged_ids,
        kind="movie" if request.kind == "movie" else "episode", season=winner.season, episode=winner.episode,
        title=_fill(rows, "title") or (request.title if request.kind == "movie" else ""),
        status=mapped.status, legacy_status=_legacy_status(winner), last_error=error,
        next_retry_at=mapped.next_retry_at, air_date=air.date() if air else None,
        source_file_path=paths.source, encoded_file_path=paths.encoded if mapped.status == S.ENCODED else None,
        downloaded_at=_fill(rows, "downloaded_at"), encoded_at=_fill(rows, "encoded_at"),
        delivered_at=_fill(rows, "delivered_at"), created_at=winner.created_at,
        updated_at=winner.updated_at, quality_met=_first(_quality_met(r) for r in rows),
        available_releases=tuple(_first(_alternatives(r, settings) for r in rows) or ()),
        release=_first(_selected(r, settings) for r in rows),
        download=link if keep_link else None, adopted=mapped.linked, conflicts=conflicts,
        file_unknown=_file_unknown(legacy_id, request.title, winner, mapped, paths),
    )


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v not in (None, "", [], ())), None)


def _fill(rows: Sequence[LegacyWorkRow], name: str) -> Any:
    """The winner's value of a field, else the first other row's that has one."""
    for row in rows:
        value = getattr(row, name)
        if value is not None and value != "":
            return value
    return None


def _context(row: LegacyWorkRow, *path: str) -> Any:
    value = row.step_context
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _quality_met(row: LegacyWorkRow) -> bool | None:
    value = row.quality_met if row.quality_met is not None else _context(row, "qualityMet")
    return value if isinstance(value, bool) else None


def _alternatives(row: LegacyWorkRow, settings: PlanSettings) -> list[dict[str, Any]]:
    return (convert_releases(row.available_releases, settings.indexer_names)
            or convert_releases(_context(row, "alternativeReleases"), settings.indexer_names))


def _selected(row: LegacyWorkRow, settings: PlanSettings) -> dict[str, Any] | None:
    return convert_release(_context(row, "selectedRelease"), settings.indexer_names)


def _file_unknown(legacy_id: str, title: str, row: LegacyWorkRow, mapped: Mapped, paths: Paths
                  ) -> FileUnknown | None:
    reasons = [*paths.rejected, *([mapped.file_unknown] if mapped.file_unknown else [])]
    if not reasons:
        return None
    return FileUnknown(legacy_id, title, row.season, row.episode, _legacy_status(row), "; ".join(reasons))


def _new_movie_item(request: PlannedRequest, now: datetime) -> PlannedItem:
    return PlannedItem(
        request_key=request.key, legacy_id=None, merged_ids=(), kind="movie", season=0, episode=0,
        title=request.title, status=S.PENDING, legacy_status=None, last_error=None, next_retry_at=None,
        air_date=None, source_file_path=None, encoded_file_path=None, downloaded_at=None, encoded_at=None,
        delivered_at=None, created_at=request.created_at, updated_at=now, quality_met=None,
        available_releases=(), release=None, download=None, adopted=False,
    )


# --- paths ---------------------------------------------------------------------------------------------------
def path_problem(path: str) -> str | None:
    """Why ``path`` is not acceptable as a file path (absolute, no NUL, no ``..``); None when it is."""
    if "\0" in path:
        return "contains a NUL byte"
    if not path.startswith("/"):
        return "is not absolute"
    if ".." in path.split("/"):
        return "contains '..'"
    return None


def _checked(path: Any, what: str, rejected: list[str]) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    problem = path_problem(path)
    if problem:
        rejected.append(f"{what} {path!r} {problem}")
        return None
    return path


def source_path_of(row: LegacyWorkRow) -> str | None:
    return row.source_file_path or _context(row, "download", "sourceFilePath") or None


def paths_of(row: LegacyWorkRow) -> Paths:
    """The row's source file (its column, else ``stepContext.download.sourceFilePath``) and first encoded file."""
    rejected: list[str] = []
    source = _checked(source_path_of(row), "source file", rejected)
    files = _context(row, "encode", "encodedFiles")
    encoded = None
    for entry in files if isinstance(files, list) else []:
        encoded = _checked(entry.get("path") if isinstance(entry, Mapping) else None, "encoded file", rejected)
        if encoded:
            break
    return Paths(source, encoded, tuple(rejected))


# --- downloads -----------------------------------------------------------------------------------------------
def phase_of(status: str) -> Phase:
    return "active" if status in ACTIVE_DOWNLOAD else "finished" if status in FINISHED_DOWNLOAD else "gone"


def planned_download(row: LegacyDownload) -> PlannedDownload | None:
    """None when the legacy torrent hash is not a valid info hash (the link is then ignored)."""
    info_hash = normalize_info_hash(row.torrent_hash)
    if info_hash is None:
        return None
    return PlannedDownload(
        legacy_id=row.id, info_hash=info_hash, name=row.name or "", save_path=row.save_path,
        content_path=row.content_path, is_pack=bool(row.is_season_pack), season=row.season,
        size=max(row.size or 0, 0), phase=phase_of(row.status), legacy_status=row.status)


def choose_download(candidates: Iterable[LegacyDownload]) -> PlannedDownload | None:
    """The first linked torrent that is still usable (active or finished), else the first one at all."""
    planned = [p for p in (planned_download(c) for c in candidates) if p is not None]
    return next((p for p in planned if p.phase != "gone"), planned[0] if planned else None)


# --- the status table ----------------------------------------------------------------------------------------
def map_status(row: LegacyWorkRow, link: PlannedDownload | None, paths: Paths, air_date: date | None,
               settings: PlanSettings) -> Mapped:
    """The issue's status table for the deciding legacy row."""
    status = _legacy_status(row)
    if status in SEARCH_STATUSES:
        return _search_again(row, air_date, settings.now)
    if status == "AWAITING":
        return _awaiting(row, air_date, settings.now)
    if status == "QUALITY_UNAVAILABLE":
        return Mapped(S.QUALITY_UNAVAILABLE, settings.now + settings.search_retry,
                      row.error or "only releases below the quality profile (imported from Annex)")
    if status == "DOWNLOADING":
        return _downloading(link)
    if status in ("DOWNLOADED", "ENCODING"):
        return _from_source(paths, link, None if paths.source else f"{status} in Annex without a source file")
    if status in ("ENCODED", "DELIVERING"):
        if paths.encoded:
            return Mapped(S.ENCODED)
        return _from_source(paths, link, f"{status} in Annex without a known encoded file"
                            + ("" if paths.source else " or source file"))
    if status == "COMPLETED":
        return Mapped(S.COMPLETED)
    if status == "FAILED":
        return Mapped(S.FAILED, reason=row.error or "failed in Annex")
    if status in ("SKIPPED", "CANCELLED"):
        return Mapped(S.CANCELLED)
    return Mapped(S.PENDING, reason=f"unknown Annex status {status!r}: searching again")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _not_aired(day: date) -> str:
    return f"not aired yet (airs {day.isoformat()})"


def _search_again(row: LegacyWorkRow, air_date: date | None, now: datetime) -> Mapped:
    """PENDING, or AWAITING while a future retry time or air date says the item waits (the later of both)."""
    waits: list[tuple[datetime, str]] = []
    if row.next_retry_at is not None and row.next_retry_at > now:
        waits.append((row.next_retry_at, row.error or "waiting to search again (imported from Annex)"))
    if air_date is not None and air_date > now.date():
        waits.append((_midnight(air_date), _not_aired(air_date)))
    if not waits:
        return Mapped(S.PENDING)
    due, reason = max(waits)
    return Mapped(S.AWAITING, due, reason)


def _awaiting(row: LegacyWorkRow, air_date: date | None, now: datetime) -> Mapped:
    if air_date is not None and air_date > now.date():
        return Mapped(S.AWAITING, _midnight(air_date), row.error or _not_aired(air_date))
    return Mapped(S.AWAITING, now, row.error or "awaiting in Annex: searching again")


def _downloading(link: PlannedDownload | None, file_unknown: str | None = None) -> Mapped:
    if link is not None and link.phase != "gone":
        return Mapped(S.DOWNLOADING, linked=True, file_unknown=file_unknown)
    return Mapped(S.PENDING, file_unknown=file_unknown)


def _from_source(paths: Paths, link: PlannedDownload | None, unknown: str | None) -> Mapped:
    """DOWNLOADED with the source file (the encode runs again), else as a download that is still linked."""
    if paths.source:
        return Mapped(S.DOWNLOADED, file_unknown=unknown)
    return _downloading(link, unknown)
