"""The legacy rows the reader yields and the plan consumes (pure: plain frozen dataclasses, no I/O).

Field names follow annexd's conventions; each dataclass says which legacy table it comes from. Values are as
PostgreSQL returned them: naive UTC datetimes, decoded JSON, enum labels as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Source = Literal["ProcessingItem", "TvEpisode"]


@dataclass(frozen=True, slots=True)
class LegacyRequest:
    """One "MediaRequest" row. ``group_key`` identifies the title (kind + TMDB id, else kind + title + year);
    requests with equal keys merge into one annexd request."""

    id: str
    group_key: str
    media_type: str  # MOVIE | TV
    tmdb_id: int | None
    title: str
    year: int | None
    requested_seasons: tuple[int, ...] | None
    server_ids: tuple[str, ...]  # from the targets JSON and, in the later shape, "RequestTarget"
    username: str | None
    created_at: datetime
    # Still PENDING in Annex's "ApprovalQueue" (whose approvals never resumed the pipeline).
    pending_approval: bool = False


@dataclass(frozen=True, slots=True)
class LegacyDownload:
    """One "Download" row (a torrent; a season pack is shared by several items)."""

    id: str
    torrent_hash: str
    name: str | None
    save_path: str | None
    content_path: str | None
    status: str  # DownloadStatus
    is_season_pack: bool
    season: int | None
    size: int | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LegacyWorkRow:
    """One "ProcessingItem" or "TvEpisode" row with the Downloads it links to. Movies have season/episode 0.

    ``downloads`` lists the linked Downloads in order of preference: by ``downloadId``, then by
    ``stepContext.download.torrentHash``."""

    source: Source
    id: str
    request_id: str
    group_key: str
    kind: str  # MOVIE | EPISODE
    season: int
    episode: int
    title: str | None
    status: str
    current_step: str | None
    step_context: Any  # decoded JSON; anything, as Annex wrote it
    error: str | None
    next_retry_at: datetime | None
    source_file_path: str | None
    air_date: datetime | None
    downloaded_at: datetime | None
    encoded_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    quality_met: bool | None
    available_releases: Any
    downloads: tuple[LegacyDownload, ...] = ()


@dataclass(frozen=True, slots=True)
class LegacyStorageServer:
    """One "StorageServer" row (a delivery target, with its media server)."""

    id: str
    name: str
    host: str | None
    port: int | None
    protocol: str  # SFTP | RSYNC | SMB | LOCAL
    username: str | None
    encrypted_password: str | None = field(default=None, repr=False)
    encrypted_private_key: str | None = field(default=None, repr=False)
    path_movies: str | None = None
    path_tv: str | None = None
    max_resolution: str | None = None
    preferred_codec: str | None = None
    media_server_type: str | None = None  # PLEX | EMBY | NONE
    media_server_url: str | None = None
    media_server_api_key: str | None = field(default=None, repr=False)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LegacyIndexer:
    """One "Indexer" row."""

    id: str
    name: str
    type: str  # TORZNAB | NEWZNAB | RSS | TORRENTLEECH | UNIT3D | CARDIGANN
    url: str
    api_key: str | None = field(default=None, repr=False)
    categories_movies: tuple[int, ...] = ()
    categories_tv: tuple[int, ...] = ()
    priority: int = 0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LegacyDownloadClient:
    """One "download_clients" row (later shape only); its password is in "Setting"."""

    id: str
    name: str
    type: str  # QBITTORRENT | SABNZBD | NZBGET
    url: str
    username: str | None
    priority: int = 0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LegacySettings:
    """The key/value "Setting" table (plain JSON values beside encrypted secrets)."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    def get(self, key: str) -> str | None:
        return self.values.get(key)
