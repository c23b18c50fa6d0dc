"""Downloads (one torrent each, keyed by info hash) through their :class:`DownloadPhase`, the files mapped
from them onto items, and the blocklist of releases that failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import Event, ProcessingStatus
from store.models import Blocklist, Download, DownloadFile, ProcessingItem
from store.queries.items import apply_transition

S = ProcessingStatus


def get_or_create_download(info_hash: str, client: str, name: str, release: Mapping[str, Any],
                           now: datetime) -> Download:
    """The Download of this info hash; a new one starts ADDING (stored before the torrent reaches a client)."""
    download, _ = Download.get_or_create(info_hash=info_hash, defaults={
        "client": client, "name": name, "state": DownloadPhase.ADDING, "release": dict(release), "added_at": now})
    return cast(Download, download)


def attach_download(item_ids: Sequence[int], download_id: int, detail: str) -> None:
    ProcessingItem.update(download=download_id, detail=detail).where(ProcessingItem.id.in_(list(item_ids))).execute()


def downloads_in(*phases: DownloadPhase) -> list[Download]:
    return list(Download.select().where(Download.state.in_([p.value for p in phases])))


def download_added(download_id: int, client: str) -> None:
    """The client took the torrent: ADDING -> DOWNLOADING."""
    Download.update(state=DownloadPhase.DOWNLOADING, client=client).where(Download.id == download_id).execute()


def download_completed(download_id: int, now: datetime, save_path: str | None, content_path: str | None,
                       size: int) -> None:
    """Every wanted byte is on disk: COMPLETED, ready to map."""
    Download.update(state=DownloadPhase.COMPLETED, progress=100.0, completed_at=now, save_path=save_path,
                    content_path=content_path, size=size).where(Download.id == download_id).execute()


def download_mapped(download_id: int) -> None:
    Download.update(state=DownloadPhase.MAPPED).where(Download.id == download_id).execute()


def download_removed(download_id: int, phase: DownloadPhase, now: datetime) -> None:
    """The torrent and its files are gone from the client: REMOVED (done with) or FAILED (given up on)."""
    Download.update(state=phase, removed_at=now).where(Download.id == download_id).execute()


def download_failed(download_id: int) -> None:
    """Given up on, although the client could not be asked to remove it."""
    Download.update(state=DownloadPhase.FAILED).where(Download.id == download_id).execute()


def download_items(download_id: int, status: ProcessingStatus = S.DOWNLOADING) -> list[ProcessingItem]:
    return list(ProcessingItem.select().where((ProcessingItem.download == download_id)
                                              & (ProcessingItem.status == status)))


def download_in_use(download_id: int) -> bool:
    """Whether an item using this download is still to be delivered (not COMPLETED, CANCELLED or FAILED)."""
    users = ProcessingItem.select(ProcessingItem.status).where(ProcessingItem.download == download_id)
    return any(S(u.status) not in (S.COMPLETED, S.CANCELLED, S.FAILED) for u in users)


def downloads_only_for(request_id: int, download_ids: Iterable[int]) -> list[Download]:
    """Those of the downloads no item of another request still uses (cancelled and failed items do not count)."""
    unused = []
    for download in Download.select().where(Download.id.in_(list(download_ids))):
        others = ProcessingItem.select().where(
            (ProcessingItem.download == download.id) & (ProcessingItem.request != request_id)
            & ProcessingItem.status.not_in([S.CANCELLED, S.FAILED])).count()
        if not others:
            unused.append(download)
    return unused


def ignore_files(download_id: int, ignored: Iterable[tuple[str, str]]) -> None:
    """Files of a download that map to no item (samples, extras...), each with why."""
    for path, reason in ignored:
        DownloadFile.create(download=download_id, relative_path=path, role="ignored", reason=reason)


def map_item_file(download_id: int, item: ProcessingItem, relative_path: str, size: int, source: str,
                  now: datetime) -> bool:
    """The file of a download that satisfies an item: recorded, and the item DOWNLOADED with it as its source."""
    DownloadFile.create(download=download_id, item=item.id, relative_path=relative_path, size=size)
    return apply_transition(item.id, S.DOWNLOADING, Event.DOWNLOAD_COMPLETE, now,
                            fields={"source_file_path": source, "progress": 100.0}, attempts=item.attempts)


def blocklisted_keys() -> set[str]:
    return {row.release_key for row in Blocklist.select(Blocklist.release_key)}


def add_to_blocklist(key: str, title: str, reason: str, request_id: int | None, now: datetime) -> None:
    Blocklist.insert(release_key=key[:100], title=title[:1000], reason=reason, request=request_id,
                     created_at=now).on_conflict_ignore().execute()
