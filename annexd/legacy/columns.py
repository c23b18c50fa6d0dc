"""Planned requests, items and downloads as the columns annexd's store writes (pure: no database, no clock;
``now`` is a parameter).

An imported item starts its annexd life at ``now`` (``status_changed_at``), with attempts at 0 and progress as
annexd's transitions set it (100 once COMPLETED, else 0). A legacy Download becomes a Download row owned by
annexd (Annex added it; annexd takes Annex's place), in the phase its legacy status says: an active torrent is
polled (downloading), a finished one is mapped to its items (completed), a gone one is only remembered
(removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.legacy.plan import PlannedDownload, PlannedItem, PlannedRequest

PHASES = {"active": DownloadPhase.DOWNLOADING, "finished": DownloadPhase.COMPLETED, "gone": DownloadPhase.REMOVED}


def request_columns(request: PlannedRequest, now: datetime) -> dict[str, Any]:
    return {
        "kind": request.kind, "title": request.title[:500], "year": request.year, "tmdb_id": request.tmdb_id,
        "requested_seasons": list(request.requested_seasons) if request.requested_seasons is not None else None,
        "targets": list(request.targets), "requested_by": request.requested_by[:100],
        "created_at": request.created_at, "updated_at": now,
        "legacy_id": request.legacy_id, "legacy_ids": list(request.legacy_ids),
    }


def item_columns(item: PlannedItem, request_id: int, requested_by: str, now: datetime) -> dict[str, Any]:
    """The item's row; ``download_hash`` names its Download (the store resolves it to an id)."""
    return {
        "request_id": request_id, "kind": item.kind, "season": item.season, "episode": item.episode,
        "title": item.title[:500], "air_date": item.air_date, "status": item.status.value,
        "status_changed_at": now, "progress": 100.0 if item.status is S.COMPLETED else 0.0, "attempts": 0,
        "last_error": item.last_error, "next_retry_at": item.next_retry_at, "quality_met": item.quality_met,
        "available_releases": list(item.available_releases) or None, "release": item.release,
        "download_hash": item.download.info_hash if item.download is not None else None,
        "source_file_path": item.source_file_path, "encoded_file_path": item.encoded_file_path,
        "downloaded_at": item.downloaded_at, "encoded_at": item.encoded_at, "delivered_at": item.delivered_at,
        "requested_by": requested_by[:100], "legacy_id": item.legacy_id,
        "created_at": item.created_at, "updated_at": now,
    }


def download_columns(download: PlannedDownload, client: str, release: dict[str, Any] | None,
                     now: datetime) -> dict[str, Any]:
    phase = PHASES[download.phase]
    return {
        "info_hash": download.info_hash, "client": client, "name": download.name[:1000], "state": phase.value,
        "progress": 100.0 if phase is DownloadPhase.COMPLETED else 0.0, "size": download.size,
        "save_path": download.save_path, "content_path": download.content_path, "release": release,
        "added_at": now, "completed_at": now if phase is DownloadPhase.COMPLETED else None,
        "removed_at": now if phase is DownloadPhase.REMOVED else None, "owned": True,
    }
