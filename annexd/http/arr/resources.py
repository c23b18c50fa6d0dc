"""The Radarr/Sonarr v3 resources built from annexd's state (pure): Movie, Series (with seasons and their
statistics), Episode, QualityProfile, RootFolder, Tag, Queue record, Command, SystemStatus and Sonarr 4's
language-profile stub, with the field names and types of the reference (arr-api.md section 3).

A movie's or series' ``id`` is its annexd request id; an episode's (and a file's) id is its item id. Nulls are
left in here and dropped by :func:`annexd.http.arr.conventions.clean` when answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from annexd.domain.naming import sanitize
from annexd.domain.quality import ALL_QUALITIES, QualityProfile
from annexd.http.arr.conventions import APP_NAMES, NEVER, VERSIONS, timespan, utc

POSTER_BASE = "https://image.tmdb.org/t/p/original"
ENGLISH = {"id": 1, "name": "English"}
DELIVERED = frozenset({"COMPLETED"})  # plus any item with delivered_at: an upgrade keeps its files meanwhile


@dataclass(frozen=True)
class Metadata:
    """What is known of a title: from TMDB on a lookup, else from the request row."""

    title: str
    year: int | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None
    tvdb_id: int | None = None
    overview: str = ""
    poster_path: str | None = None
    original_title: str | None = None
    released: date | None = None
    seasons: tuple[tuple[int, int], ...] = ()  # (season number, episode count) for shows


@dataclass(frozen=True)
class ItemState:
    """One work item as the *arr resources show it."""

    id: int
    season: int
    episode: int
    title: str
    status: str
    air_date: date | None = None
    delivered_at: datetime | None = None
    size_on_disk: int = 0
    path: str | None = None  # one delivered copy's path on its target
    quality: str | None = None

    @property
    def has_file(self) -> bool:
        return self.delivered_at is not None or self.status in DELIVERED


@dataclass(frozen=True)
class LibraryEntry:
    """A request as the *arr library sees it."""

    id: int
    kind: str
    metadata: Metadata
    quality_profile_id: int
    root_folder: str
    added: datetime
    status: str  # the request's derived status
    items: tuple[ItemState, ...] = ()
    tags: tuple[int, ...] = ()
    requested_seasons: tuple[int, ...] | None = None
    monitor_seasons: tuple[int, ...] | None = None

    @property
    def monitored(self) -> bool:
        return self.status != "CANCELLED"


@dataclass(frozen=True)
class QueueEntry:
    item_id: int
    request_id: int
    kind: str
    season: int
    episode: int
    status: str
    title: str
    size: int
    progress: float  # percent of the current stage
    eta_seconds: int | None
    info_hash: str
    client: str
    added: datetime | None = None
    quality: str | None = None
    detail: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CommandRecord:
    id: int
    name: str
    body: dict[str, Any]
    queued: datetime
    message: str
    user_agent: str | None = None
    status: str = "completed"
    extra: dict[str, Any] = field(default_factory=dict)


# --- shared pieces --------------------------------------------------------------------------------------
_RADARR_SOURCE = {"webdl": "webdl", "webrip": "webrip", "bluray": "bluray", "remux": "bluray", "hdtv": "tv",
                  "sdtv": "tv", "dvd": "dvd", "cam": "cam", "telesync": "telesync", "screener": "dvd"}
_SONARR_SOURCE = {"webdl": "web", "webrip": "webRip", "bluray": "bluray", "remux": "blurayRaw",
                  "hdtv": "television", "sdtv": "television", "dvd": "dvd", "cam": "unknown",
                  "telesync": "unknown", "screener": "dvd"}
_LABEL = {"webdl": "WEBDL", "webrip": "WEBRip", "bluray": "Bluray", "remux": "Remux", "hdtv": "HDTV",
          "sdtv": "SDTV", "dvd": "DVD", "cam": "CAM", "telesync": "TELESYNC", "screener": "SCREENER"}


def quality(name: str | None, app: str) -> dict[str, Any]:
    """An annexd quality ("1080p webdl") as the apps' Quality; its id is its place in annexd's list (stable)."""
    if not name or name not in ALL_QUALITIES:
        return {"id": 0, "name": "Unknown", "source": "unknown", "resolution": 0,
                **({"modifier": "none"} if app == "radarr" else {})}
    res_text, source = name.split(" ", 1)
    resolution = int(res_text.rstrip("p"))
    label = _LABEL[source] if source in ("sdtv", "dvd", "cam", "telesync", "screener") else \
        f"{_LABEL[source]}-{resolution}p"
    out: dict[str, Any] = {"id": ALL_QUALITIES.index(name) + 1, "name": label, "resolution": resolution}
    if app == "radarr":
        out["source"] = _RADARR_SOURCE[source]
        out["modifier"] = "remux" if source == "remux" else "screener" if source == "screener" else "none"
    else:
        out["source"] = _SONARR_SOURCE[source]
    return out


def quality_model(name: str | None, app: str) -> dict[str, Any]:
    return {"quality": quality(name, app), "revision": {"version": 1, "real": 0, "isRepack": False}}


def images(meta: Metadata) -> list[dict[str, Any]]:
    if not meta.poster_path:
        return []
    url = POSTER_BASE + meta.poster_path
    return [{"coverType": "poster", "url": url, "remoteUrl": url}]


def folder_name(meta: Metadata) -> str:
    return sanitize(f"{meta.title} ({meta.year})" if meta.year else meta.title)


def clean_title(title: str) -> str:
    return "".join(ch for ch in title.lower() if ch.isalnum())


def sort_title(title: str) -> str:
    lowered = title.lower()
    for article in ("the ", "a ", "an "):
        if lowered.startswith(article):
            return lowered[len(article):]
    return lowered


def _identity(meta: Metadata) -> dict[str, Any]:
    return {"title": meta.title, "sortTitle": sort_title(meta.title), "cleanTitle": clean_title(meta.title),
            "originalLanguage": ENGLISH, "overview": meta.overview, "images": images(meta),
            "remotePoster": images(meta)[0]["remoteUrl"] if meta.poster_path else None,
            "year": meta.year or 0, "genres": [], "ratings": {}, "runtime": 0, "certification": "",
            "tmdbId": meta.tmdb_id or 0, "imdbId": meta.imdb_id, "alternateTitles": []}


# --- Movie (Radarr) -------------------------------------------------------------------------------------
def movie(meta: Metadata, entry: LibraryEntry | None, default_root: str | None, today: date) -> dict[str, Any]:
    """A Radarr Movie: the library object when ``entry`` is given, else a lookup result (no id, ``added`` never,
    ``folder`` suggested)."""
    folder = folder_name(meta)
    body = {**_identity(meta), "originalTitle": meta.original_title or meta.title,
            "titleSlug": str(meta.tmdb_id or 0), "status": "released" if meta.released is None
            or meta.released <= today else "announced", "studio": "", "website": "",
            "youTubeTrailerId": "", "minimumAvailability": "released", "isAvailable": True,
            "inCinemas": utc(meta.released), "digitalRelease": utc(meta.released), "popularity": 0.0,
            "secondaryYearSourceId": 0, "keywords": []}
    if entry is None:
        return {**body, "id": 0, "added": NEVER, "monitored": False, "qualityProfileId": 0, "folder": folder,
                "isExcluded": False, "tags": [], "movieFileId": 0,
                "rootFolderPath": default_root, "path": f"{default_root}/{folder}" if default_root else None}
    item = entry.items[0] if entry.items else None
    has_file = item is not None and item.has_file
    size = item.size_on_disk if item is not None and has_file else 0
    path = f"{entry.root_folder}/{folder}"
    return {**body, "id": entry.id, "added": utc(entry.added), "monitored": entry.monitored,
            "qualityProfileId": entry.quality_profile_id, "rootFolderPath": entry.root_folder, "path": path,
            "folderName": path, "tags": list(entry.tags), "hasFile": has_file, "sizeOnDisk": size,
            "movieFileId": item.id if has_file and item else 0,
            "movieFile": movie_file(entry.id, item, path) if has_file and item else None,
            "statistics": {"movieFileCount": 1 if has_file else 0, "sizeOnDisk": size, "releaseGroups": []}}


def movie_file(movie_id: int, item: ItemState, folder: str) -> dict[str, Any]:
    relative = item.path.rsplit("/", 1)[-1] if item.path else None
    return {"id": item.id, "movieId": movie_id, "relativePath": relative, "path": item.path or folder,
            "size": item.size_on_disk, "dateAdded": utc(item.delivered_at), "quality": quality_model(
                item.quality, "radarr"), "languages": [ENGLISH], "qualityCutoffNotMet": False}


# --- Series and episodes (Sonarr) --------------------------------------------------------------------------
def _season_numbers(meta: Metadata, entry: LibraryEntry | None) -> list[int]:
    numbers = {n for n, _ in meta.seasons}
    if entry is not None:
        numbers |= {i.season for i in entry.items} | set(entry.requested_seasons or ())
        numbers |= set(entry.monitor_seasons or ())
    return sorted(numbers)


def _season_monitored(number: int, entry: LibraryEntry | None) -> bool:
    if entry is None or not entry.monitored:
        return False
    if entry.monitor_seasons is not None or entry.requested_seasons is not None:
        return number in (entry.monitor_seasons or ()) or number in (entry.requested_seasons or ())
    return any(i.season == number for i in entry.items)


def season_statistics(items: Sequence[ItemState], total: int, today: date) -> dict[str, Any]:
    files = sum(1 for i in items if i.has_file)
    wanted = sum(1 for i in items if i.has_file or (i.status != "CANCELLED" and i.air_date is not None
                                                     and i.air_date <= today))
    size = sum(i.size_on_disk for i in items if i.has_file)
    return {"episodeFileCount": files, "episodeCount": wanted, "totalEpisodeCount": max(total, len(items)),
            "sizeOnDisk": size, "releaseGroups": [],
            "percentOfEpisodes": round(files / wanted * 100, 1) if wanted else 0.0}


def series(meta: Metadata, entry: LibraryEntry | None, default_root: str | None, today: date) -> dict[str, Any]:
    """A Sonarr Series: the library object when ``entry`` is given, else a lookup result."""
    folder = folder_name(meta)
    counts = dict(meta.seasons)
    items = entry.items if entry is not None else ()
    seasons: list[dict[str, Any]] = []
    for number in _season_numbers(meta, entry):
        own = [i for i in items if i.season == number]
        seasons.append({"seasonNumber": number, "monitored": _season_monitored(number, entry),
                        "statistics": season_statistics(own, counts.get(number, 0), today)})
    stats = season_statistics(items, sum(c for n, c in meta.seasons if n > 0), today)
    body = {**_identity(meta), "titleSlug": slug(meta), "tvdbId": meta.tvdb_id or 0, "tvRageId": 0,
            "tvMazeId": 0, "status": "continuing", "ended": False, "network": "", "airTime": "",
            "firstAired": utc(meta.released), "seriesType": "standard", "seasonFolder": True,
            "useSceneNumbering": False, "monitorNewItems": "all", "languageProfileId": 1, "seasons": seasons,
            "statistics": {**stats, "seasonCount": sum(1 for s in seasons if s["seasonNumber"] > 0)}}
    if entry is None:
        return {**body, "id": 0, "added": NEVER, "monitored": False, "qualityProfileId": 0, "folder": folder,
                "tags": [], "rootFolderPath": default_root,
                "path": f"{default_root}/{folder}" if default_root else None}
    return {**body, "id": entry.id, "added": utc(entry.added), "monitored": entry.monitored,
            "qualityProfileId": entry.quality_profile_id, "rootFolderPath": entry.root_folder,
            "path": f"{entry.root_folder}/{folder}", "tags": list(entry.tags)}


def slug(meta: Metadata) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in meta.title.lower()).split()
    return "-".join(words) or str(meta.tmdb_id or 0)


def episode(series_id: int, item: ItemState, monitored: bool, with_file: bool = False) -> dict[str, Any]:
    return {"id": item.id, "seriesId": series_id, "tvdbId": 0, "episodeFileId": item.id if item.has_file else 0,
            "seasonNumber": item.season, "episodeNumber": item.episode, "title": item.title,
            "airDate": item.air_date.isoformat() if item.air_date else None, "airDateUtc": utc(item.air_date),
            "overview": "", "hasFile": item.has_file, "monitored": monitored and item.status != "CANCELLED",
            "unverifiedSceneNumbering": False, "runtime": 0,
            "episodeFile": episode_file(series_id, item) if with_file and item.has_file else None}


def episode_file(series_id: int, item: ItemState) -> dict[str, Any]:
    return {"id": item.id, "seriesId": series_id, "seasonNumber": item.season,
            "relativePath": item.path.rsplit("/", 1)[-1] if item.path else None, "path": item.path,
            "size": item.size_on_disk, "dateAdded": utc(item.delivered_at),
            "quality": quality_model(item.quality, "sonarr"), "languages": [ENGLISH]}


# --- settings-like resources -------------------------------------------------------------------------------
def quality_profile(profile_id: int, profile: QualityProfile, app: str) -> dict[str, Any]:
    """An annexd quality profile as the apps' QualityProfile (qualities listed worst first, as they do)."""
    items = [{"quality": quality(name, app), "items": [], "allowed": name in profile.allowed}
             for name in reversed(ALL_QUALITIES)]
    out = {"id": profile_id, "name": profile.name, "upgradeAllowed": True,
           "cutoff": quality(profile.cutoff, app)["id"], "items": items, "minFormatScore": 0,
           "cutoffFormatScore": 0, "minUpgradeFormatScore": 1, "formatItems": []}
    return {**out, "language": ENGLISH} if app == "radarr" else out


def root_folder(folder_id: int, path: str, accessible: bool, free_space: int | None) -> dict[str, Any]:
    return {"id": folder_id, "path": path, "accessible": accessible, "freeSpace": free_space,
            "unmappedFolders": []}


def tag(tag_id: int, label: str) -> dict[str, Any]:
    return {"id": tag_id, "label": label}


LANGUAGE_PROFILES = [{"id": 1, "name": "Deprecated", "upgradeAllowed": True, "cutoff": ENGLISH,
                      "languages": [{"language": ENGLISH, "allowed": True}]}]


def system_status(app: str, started: datetime, database_type: str, is_admin: bool) -> dict[str, Any]:
    version = VERSIONS[app]
    return {"appName": APP_NAMES[app], "instanceName": APP_NAMES[app], "version": version,
            "buildTime": utc(started), "isDebug": False, "isProduction": True, "isAdmin": is_admin,
            "isUserInteractive": False, "startupPath": "/", "appData": "/", "osName": "linux",
            "osVersion": "", "isNetCore": True, "isLinux": True, "isOsx": False, "isWindows": False,
            "isDocker": False, "mode": "console", "branch": "main" if app == "sonarr" else "master",
            "authentication": "external", "databaseType": database_type, "databaseVersion": "",
            "migrationVersion": 0, "urlBase": f"/{app}", "runtimeVersion": "", "runtimeName": "netcore",
            "startTime": utc(started), "packageUpdateMechanism": "external"}


def health_check(source: str, kind: str, message: str) -> dict[str, Any]:
    return {"source": source, "type": kind, "message": message, "wikiUrl": ""}


# --- queue and commands --------------------------------------------------------------------------------------
QUEUE_DOWNLOADING = "DOWNLOADING"


def queue_record(entry: QueueEntry, app: str, now: datetime) -> dict[str, Any]:
    """An item on its way as a Queue record: downloading with what is left, or ``completed``/importing while
    annexd encodes and delivers it."""
    downloading = entry.status == QUEUE_DOWNLOADING
    left = round(entry.size * max(0.0, 100.0 - entry.progress) / 100.0) if downloading else 0
    eta = entry.eta_seconds if downloading else 0
    record: dict[str, Any] = {
        "id": entry.item_id, "title": entry.title, "size": entry.size, "sizeleft": left,
        "timeleft": timespan(eta), "estimatedCompletionTime": utc(now + timedelta(seconds=eta))
        if eta is not None else None, "added": utc(entry.added),
        "status": "downloading" if downloading else "completed",
        "trackedDownloadStatus": "warning" if entry.error else "ok",
        "trackedDownloadState": "downloading" if downloading else "importing",
        "statusMessages": [{"title": entry.title, "messages": [m for m in (entry.detail, entry.error) if m]}]
        if entry.detail or entry.error else [],
        "errorMessage": entry.error, "downloadId": entry.info_hash.upper(), "protocol": "torrent",
        "downloadClient": entry.client, "downloadClientHasPostImportCategory": False, "indexer": "",
        "languages": [ENGLISH], "quality": quality_model(entry.quality, app), "customFormats": [],
        "customFormatScore": 0,
    }
    if app == "radarr":
        record["movieId"] = entry.request_id
    else:
        record.update({"seriesId": entry.request_id, "episodeId": entry.item_id, "seasonNumber": entry.season,
                       "episodeHasFile": False})
    return record


def command(record: CommandRecord) -> dict[str, Any]:
    words = "".join(f" {ch}" if ch.isupper() else ch for ch in record.name).strip()
    at = utc(record.queued)
    return {"id": record.id, "name": record.name, "commandName": words, "message": record.message,
            "body": {**record.body, "name": record.name, "sendUpdatesToClient": False,
                     "updateScheduledTask": True, "completionMessage": "Completed", "requiresDiskAccess": False,
                     "isExclusive": False, "isLongRunning": False, "trigger": "manual", **record.extra},
            "priority": "normal", "status": record.status,
            "result": "successful" if record.status == "completed" else "unsuccessful",
            "queued": at, "started": at, "ended": at, "duration": "00:00:00", "trigger": "manual",
            "stateChangeTime": at, "lastExecutionTime": at, "sendUpdatesToClient": False,
            "updateScheduledTask": True, "clientUserAgent": record.user_agent}
