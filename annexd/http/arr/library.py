"""annexd's config and rows as the *arr library sees them (pure): root folders (one per target: its movie or TV
root, prefixed with the target's name where two targets share a path), quality profiles by their stable ids,
and requests as :class:`LibraryEntry` (their root folder from their first target, their items' qualities read
from the chosen release's name)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from annexd.clients.delivery_settings import Target
from annexd.domain.quality import QualityProfile, quality_of
from annexd.domain.releases import parse_release
from annexd.http.arr.resources import ItemState, LibraryEntry, Metadata

if TYPE_CHECKING:
    from store.queries.arr import LibraryItem, LibraryRequest


@dataclass(frozen=True)
class RootFolder:
    id: int
    path: str
    target: Target
    root: str  # the target's own root (the path without a prefix)


def root_folders(targets: Sequence[Target], app: str) -> list[RootFolder]:
    """The app's root folders: every target with a movie root (Radarr) or TV root (Sonarr), in config order."""
    kind = "movie" if app == "radarr" else "tv"
    with_root = [(t, t.movie_root if kind == "movie" else t.tv_root) for t in targets]
    with_root = [(t, r.rstrip("/") or "/") for t, r in with_root if r]
    shared = Counter(r for _, r in with_root)
    return [RootFolder(n, f"{t.name}:{r}" if shared[r] > 1 else r, t, r)
            for n, (t, r) in enumerate(with_root, start=1)]


def folder_for(folders: Sequence[RootFolder], path: str | None) -> RootFolder | None:
    """The root folder named by ``rootFolderPath`` (or holding ``path``), trailing slashes ignored."""
    if not path:
        return None
    wanted = path.rstrip("/") or "/"
    for folder in folders:
        if wanted == folder.path or wanted.startswith(folder.path.rstrip("/") + "/"):
            return folder
    return None


def folder_of_targets(folders: Sequence[RootFolder], targets: Sequence[str]) -> RootFolder | None:
    """A request's root folder: its first target's (no targets: the first root folder)."""
    for name in targets:
        for folder in folders:
            if folder.target.name == name:
                return folder
    return folders[0] if folders and not targets else None


def profiles(configured: Sequence[QualityProfile], default: QualityProfile) -> list[QualityProfile]:
    return list(configured) or [default]


def item_state(item: LibraryItem) -> ItemState:
    quality = quality_of(parse_release(item.release_title)) if item.release_title else None
    return ItemState(id=item.id, season=item.season, episode=item.episode, title=item.title, status=item.status,
                     air_date=item.air_date, delivered_at=item.delivered_at, size_on_disk=item.size_on_disk,
                     path=item.path, quality=quality)


def request_metadata(row: LibraryRequest) -> Metadata:
    return Metadata(title=row.title, year=row.year, tmdb_id=row.tmdb_id, imdb_id=row.imdb_id, tvdb_id=row.tvdb_id)


def entry(row: LibraryRequest, meta: Metadata | None, profile_ids: dict[str, int], profile_name: str,
          folders: Sequence[RootFolder]) -> LibraryEntry:
    """A request as the library object; ``profile_name`` is what its quality profile resolves to."""
    folder = folder_of_targets(folders, row.targets)
    return LibraryEntry(
        id=row.id, kind=row.kind, metadata=meta or request_metadata(row),
        quality_profile_id=profile_ids.get(profile_name, 0),
        root_folder=folder.path if folder else "", added=row.created_at, status=row.status,
        items=tuple(item_state(i) for i in row.items), tags=row.tags,
        requested_seasons=row.requested_seasons, monitor_seasons=row.monitor_seasons)
