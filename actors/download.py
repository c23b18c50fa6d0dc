"""The download stage: DownloadWorker (grab), DownloadProgressWorker (one maindata poll per client),
FileMapWorker (completed torrent -> mapped files -> DOWNLOADED).

The info hash is computed and stored before a torrent is added, so a torrent can never be attributed to
another request; a season pack is one Download shared by its items. An unreachable client leaves items
DOWNLOADING (the grab is retried); only running out of alternatives fails an item.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from actors.context import ActorContext
from actors.messages import ProgressBatch, ProgressUpdate, RemoveRequestTorrents
from actors.worker import Worker
from annexd.clients.archive import extract_archives
from annexd.clients.qbittorrent import QbtClient
from annexd.config import DownloadConfig
from annexd.domain.download_states import (
    DownloadState,
    StallPolicy,
    StallTracker,
    TorrentSnapshot,
    seeding_goals_met,
)
from annexd.domain.filemap import MOVIE_KEY, WantedEpisode, WantedMovie, map_files
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.torrents import info_hash_from_magnet, parse_torrent
from annexd.errors import AnnexdError, InvalidInputError, ProviderAuthError, ProviderError
from store import queries
from store.models import Download, DownloadFile, MediaRequest, ProcessingItem, utcnow

DOWNLOADING = S.DOWNLOADING


# --- shared helpers --------------------------------------------------------------------------------------
def items_of(download_id: int, status: S = DOWNLOADING) -> list[ProcessingItem]:
    return list(ProcessingItem.select().where((ProcessingItem.download == download_id)
                                              & (ProcessingItem.status == status)))


def retry_or_fail(item: ProcessingItem, reason: str, now: datetime, cfg: DownloadConfig, blocklist: set[str]) -> bool:
    """Move a DOWNLOADING item to its next alternative release (FOUND), or FAIL it when none is left."""
    alternatives = [r for r in (item.available_releases or [])
                    if r.get("guid") not in blocklist and r.get("info_hash") not in blocklist]
    if alternatives and item.attempts + 1 < cfg.max_attempts:
        delays = cfg.retry_delays_minutes or (0.0,)
        delay = 60 * delays[min(item.attempts, len(delays) - 1)]
        fields = {"release": alternatives[0], "available_releases": alternatives[1:], "download": None,
                  "next_retry_at": now + timedelta(seconds=delay)}
        return queries.apply_transition(item.id, DOWNLOADING, Event.DOWNLOAD_RETRY, now, error=reason,
                                        fields=fields, attempts=item.attempts)
    why = f"{reason}; no alternative release left after {item.attempts + 1} attempt(s)"
    return queries.apply_transition(item.id, DOWNLOADING, Event.FAIL, now, error=why, attempts=item.attempts)


def remove_torrent(client: QbtClient | None, download: Download, state: str, now: datetime, log: Any) -> bool:
    """Delete the torrent and its files from the client, then mark the Download; False if the client failed."""
    try:
        if client is not None:
            client.delete(download.info_hash, delete_files=True)
    except ProviderError as exc:
        log.warning("torrent_remove_failed", info_hash=download.info_hash, error=str(exc))
        return False
    Download.update(state=state, removed_at=now).where(Download.id == download.id).execute()
    return True


def release_key(release: Mapping[str, Any]) -> str:
    return str(release.get("info_hash") or release.get("guid") or "")


# --- grab ------------------------------------------------------------------------------------------------
class DownloadWorker(Worker):
    """FOUND -> DOWNLOADING: fetch the torrent (or read the magnet), store the hash, add it to a client."""

    name = "download"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Mapping[str, QbtClient]):
        super().__init__(ctx, interval_ms)
        self.clients = dict(clients)
        self.http = requests.Session()
        # Torrent bytes wait here between storing the hash and the add; after a crash they are fetched again.
        self._pending: dict[str, tuple[bytes | None, str | None]] = {}

    def poll(self) -> int:
        now = self.ctx.clock()
        done = self.add_pending(now)
        claimed = queries.claim_items(S.FOUND, Event.GRAB, now, self.ctx.config.worker.claim_batch)
        if not claimed:
            return done
        by_release: dict[str, list[ProcessingItem]] = defaultdict(list)
        for item in ProcessingItem.select().where(ProcessingItem.id.in_(claimed)):
            by_release[release_key(item.release or {})].append(item)
        for items in by_release.values():
            self.grab(items, now)
        return done + len(claimed)

    def client(self) -> QbtClient | None:
        usable = [c for c in self.clients.values() if not c.auth_failed]
        return usable[0] if usable else None

    def grab(self, items: list[ProcessingItem], now: datetime) -> None:
        release = items[0].release or {}
        log = self.log.bind(release=release.get("title"), items=[i.id for i in items])
        try:
            torrent, magnet, info_hash = self.fetch(release)
        except (InvalidInputError, ProviderError) as exc:
            log.warning("torrent_fetch_failed", error=str(exc))
            blocklist = queries.blocklisted_keys() | {release_key(release)}
            queries.add_to_blocklist(release_key(release), release.get("title", ""), str(exc),
                                     items[0].request_id, now)
            for item in items:
                retry_or_fail(item, f"could not fetch the torrent: {exc}", now, self.ctx.config.download,
                              blocklist)
            return
        client = self.client()
        download, _ = Download.get_or_create(info_hash=info_hash, defaults={
            "client": client.name if client else "", "name": release.get("title", ""), "state": "adding",
            "release": {**release, "torrent": None}, "added_at": now})
        ProcessingItem.update(download=download.id, detail="adding to the download client").where(
            ProcessingItem.id.in_([i.id for i in items])).execute()
        self._pending[download.info_hash] = (torrent, magnet)
        log.info("grabbed", info_hash=info_hash, download_id=download.id)
        self.add_pending(now)

    def fetch(self, release: Mapping[str, Any]) -> tuple[bytes | None, str | None, str]:
        """The torrent bytes or the magnet, and its info hash, known before anything is added."""
        magnet = release.get("magnet")
        if magnet:
            return None, magnet, info_hash_from_magnet(magnet)
        url = release.get("download_url")
        if not url:
            raise InvalidInputError("the release has neither a magnet nor a download link")
        data, redirect = self._download(url)
        if redirect is not None:
            return None, redirect, info_hash_from_magnet(redirect)
        return data, None, parse_torrent(data).info_hash

    def _download(self, url: str) -> tuple[bytes, str | None]:
        cfg = self.ctx.config.download
        try:
            resp = self.http.get(url, timeout=cfg.fetch_timeout, stream=True, allow_redirects=False)
        except requests.RequestException as exc:
            raise ProviderError("indexer", f"download link failed: {type(exc).__name__}") from None
        with resp:
            location = resp.headers.get("Location", "")
            if resp.is_redirect and location.startswith("magnet:"):
                return b"", location
            if resp.status_code != 200:
                raise ProviderError("indexer", f"download link answered HTTP {resp.status_code}")
            data = resp.raw.read(cfg.torrent_max_bytes + 1, decode_content=True)
        if len(data) > cfg.torrent_max_bytes:
            raise InvalidInputError(f"torrent larger than {cfg.torrent_max_bytes} bytes")
        return data, None


    def add_pending(self, now: datetime) -> int:
        """Add every Download still in state "adding" to the client (retried each poll while it is down)."""
        added = 0
        for download in Download.select().where(Download.state == "adding"):
            client = self.clients.get(download.client) or self.client()
            if client is None or client.auth_failed:
                continue
            torrent, magnet = self._pending.get(download.info_hash) or self._refetch(download)
            try:
                client.add(torrent_bytes=torrent, magnet=magnet)
            except ProviderAuthError as exc:
                self.log.error("download_client_refused_login", client=client.name, error=str(exc))
                continue
            except ProviderError as exc:
                self.log.warning("download_client_unreachable", client=client.name, error=str(exc))
                continue
            Download.update(state="downloading", client=client.name).where(Download.id == download.id).execute()
            self._pending.pop(download.info_hash, None)
            added += 1
        if added:
            self.ctx.wake("progress", "torrents added")
        return added

    def _refetch(self, download: Download) -> tuple[bytes | None, str | None]:
        try:
            torrent, magnet, _ = self.fetch(download.release or {})
            return torrent, magnet
        except AnnexdError:
            return None, f"magnet:?xt=urn:btih:{download.info_hash}"

    def handle(self, message: Any) -> Any:
        if isinstance(message, RemoveRequestTorrents):
            return self.remove_request_torrents(message.request_id, message.download_ids)
        return super().handle(message)

    def remove_request_torrents(self, request_id: int, download_ids: tuple[int, ...] = ()) -> int:
        """Cancel/delete: remove the request's torrents (with files) unless another request still uses them.

        ``download_ids`` are given when the request's rows may already be gone (DELETE)."""
        removed = 0
        with self.ctx.db.connection_context():
            downloads = set(download_ids) or set(queries.request_download_ids(request_id))
            for download in Download.select().where(Download.id.in_(list(downloads))):
                others = ProcessingItem.select().where(
                    (ProcessingItem.download == download.id) & (ProcessingItem.request != request_id)
                    & ProcessingItem.status.not_in([S.CANCELLED, S.FAILED])).count()
                if not others and remove_torrent(self.clients.get(download.client), download, "removed", utcnow(),
                                                 self.log):
                    removed += 1
        return removed


# --- progress --------------------------------------------------------------------------------------------
class DownloadProgressWorker(Worker):
    """One sync/maindata call per client per poll, whatever the number of torrents; progress of every item
    of every torrent goes to the DbWriter as one message; completions are handed to the FileMapWorker at once."""

    name = "progress"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Mapping[str, QbtClient]):
        super().__init__(ctx, interval_ms)
        self.clients = dict(clients)
        cfg = ctx.config.download
        self.stalls = StallTracker(StallPolicy(no_progress_seconds=cfg.no_progress_minutes * 60,
                                               no_seeds_seconds=cfg.no_seeds_minutes * 60,
                                               metadata_seconds=cfg.metadata_minutes * 60))
        # Torrents the client reports in error (error, missingFiles) since when: given up on like a stall.
        self.errored_since: dict[str, float] = {}

    def poll(self) -> int:
        states = ["downloading", "mapped"] if self.ctx.config.download.remove_after_delivery else ["downloading"]
        active = list(Download.select().where(Download.state.in_(states)))
        by_client: dict[str, list[Download]] = defaultdict(list)
        for d in active:
            by_client[d.client].append(d)
        updates: list[ProgressUpdate] = []
        for name, downloads in by_client.items():
            client = self.clients.get(name)
            if client is None or client.auth_failed:
                continue
            try:
                view = client.maindata()
            except ProviderError as exc:
                self.log.warning("maindata_failed", client=name, error=str(exc))
                continue
            for download in downloads:
                snap = view.torrents.get(download.info_hash)
                if snap is None:
                    continue
                if download.state == "mapped":
                    self.remove_if_done(client, download, snap)
                else:
                    updates.extend(self.observe(download, snap))
        if updates and self.ctx.writer is not None:
            self.ctx.writer.tell(ProgressBatch(tuple(updates)))
        return len(updates)

    def observe(self, download: Download, snap: TorrentSnapshot) -> list[ProgressUpdate]:
        now = self.ctx.clock()
        items = items_of(download.id)
        if snap.complete:
            self.complete(download, snap, now)
            return []
        verdict = self.stalls.observe(snap, time.monotonic())
        if verdict is not None:
            self.stalled(download, items, verdict.message, now)
            return []
        if self.errored_too_long(snap):
            self.stalled(download, items, f"the client reports {snap.qbt_state}", now)
            return []
        if snap.state in (DownloadState.CHECKING, DownloadState.QUEUED):
            return []  # a restarted client re-checks from 0 %: never write that drop
        detail = snap.warning or snap.state.value
        return [ProgressUpdate(i.id, DOWNLOADING, round(snap.percent, 2), speed=snap.dlspeed,
                               eta_seconds=snap.eta if 0 <= snap.eta < 8_640_000 else None, detail=detail)
                for i in items]

    def errored_too_long(self, snap: TorrentSnapshot) -> bool:
        if snap.state is not DownloadState.ERROR:
            self.errored_since.pop(snap.info_hash, None)
            return False
        since = self.errored_since.setdefault(snap.info_hash, time.monotonic())
        return time.monotonic() - since >= self.ctx.config.download.metadata_minutes * 60

    def remove_if_done(self, client: QbtClient, download: Download, snap: TorrentSnapshot) -> None:
        """After delivery, and once the client's seeding goals are met, the torrent and its files go."""
        users = ProcessingItem.select(ProcessingItem.status).where(ProcessingItem.download == download.id)
        if any(S(u.status) not in (S.COMPLETED, S.CANCELLED, S.FAILED) for u in users):
            return
        s = client.settings
        if not seeding_goals_met(snap, s.seed_ratio_limit, s.seed_time_limit_minutes):
            return
        if remove_torrent(client, download, "removed", self.ctx.clock(), self.log):
            self.log.info("torrent_removed_after_delivery", info_hash=download.info_hash)

    def complete(self, download: Download, snap: TorrentSnapshot, now: datetime) -> None:
        self.errored_since.pop(download.info_hash, None)
        Download.update(state="completed", progress=100.0, completed_at=now, save_path=snap.save_path,
                        content_path=snap.content_path, size=snap.size).where(Download.id == download.id).execute()
        self.stalls.forget(download.info_hash)
        self.log.info("download_complete", info_hash=download.info_hash, download_id=download.id)
        self.ctx.wake("filemap", f"download {download.id} complete")

    def stalled(self, download: Download, items: list[ProcessingItem], reason: str, now: datetime) -> None:
        release = download.release or {}
        self.log.warning("download_stalled", info_hash=download.info_hash, reason=reason)
        queries.add_to_blocklist(download.info_hash, release.get("title", download.name), reason,
                                 items[0].request_id if items else None, now)
        if not remove_torrent(self.clients.get(download.client), download, "failed", now, self.log):
            Download.update(state="failed").where(Download.id == download.id).execute()
        self.stalls.forget(download.info_hash)
        blocklist = queries.blocklisted_keys()
        for item in items:
            retry_or_fail(item, f"download stalled: {reason}", now, self.ctx.config.download, blocklist)
        self.ctx.wake("download", "alternatives to grab")


# --- file mapping ----------------------------------------------------------------------------------------
class FileMapWorker(Worker):
    """DOWNLOADING -> DOWNLOADED once the torrent is complete and every item has its file."""

    name = "filemap"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Mapping[str, QbtClient]):
        super().__init__(ctx, interval_ms)
        self.clients = dict(clients)

    def poll(self) -> int:
        mapped = 0
        for download in Download.select().where(Download.state == "completed"):
            client = self.clients.get(download.client)
            if client is None:
                continue
            try:
                mapped += self.map_download(client, download)
            except ProviderError as exc:
                self.log.warning("file_listing_failed", info_hash=download.info_hash, error=str(exc))
        if mapped:
            self.ctx.wake("encode", f"{mapped} item(s) downloaded")
        return mapped

    def map_download(self, client: QbtClient, download: Download) -> int:
        now = self.ctx.clock()
        items = items_of(download.id)
        if not items:
            Download.update(state="mapped").where(Download.id == download.id).execute()
            return 0
        request = MediaRequest.get_by_id(items[0].request_id)
        files = client.files(download.info_hash)
        wanted = self.wanted(request, items)
        mapping = map_files(files, wanted)
        roots = {f.relative_path: f.absolute_path for f in files}
        if mapping.needs_extraction:
            mapping, roots = self.extract(download, files, mapping, wanted)
        for path, reason in mapping.ignored:
            DownloadFile.create(download=download.id, relative_path=path, role="ignored", reason=reason)
        moved = 0
        for item in items:
            key = MOVIE_KEY if item.kind == "movie" else (item.season, item.episode)
            match = mapping.matched.get(key)
            if match is None:
                reason = mapping.unmatched_expected.get(key, "no file in the torrent matches")
                retry_or_fail(item, f"file mapping: {reason}", now, self.ctx.config.download,
                              queries.blocklisted_keys())
                continue
            source = str(roots[match.path])
            DownloadFile.create(download=download.id, item=item.id, relative_path=match.path, size=match.size)
            if queries.apply_transition(item.id, DOWNLOADING, Event.DOWNLOAD_COMPLETE, now,
                                        fields={"source_file_path": source, "progress": 100.0},
                                        attempts=item.attempts):
                moved += 1
        Download.update(state="mapped").where(Download.id == download.id).execute()
        self.log.info("files_mapped", info_hash=download.info_hash, mapped=moved,
                      unmatched={str(k): v for k, v in mapping.unmatched_expected.items()})
        return moved

    @staticmethod
    def wanted(request: MediaRequest, items: list[ProcessingItem]) -> Any:
        if request.kind == "movie":
            return WantedMovie(request.title, request.year)
        return [WantedEpisode(i.season, i.episode, i.air_date) for i in items]

    def extract(self, download: Download, files: list[Any], mapping: Any, wanted: Any) -> tuple[Any, dict[str, Path]]:
        """RAR sets: extract into a working directory under the state dir, then map the extracted files."""
        by_rel = {f.relative_path: f.absolute_path for f in files}
        workdir = self.ctx.config.state_path / "extract" / download.info_hash
        workdir.mkdir(parents=True, exist_ok=True)
        results = extract_archives([by_rel[a] for a in mapping.archives], workdir)
        extracted = [(str(p.relative_to(workdir)), p.stat().st_size) for r in results if r.ok for p in r.files]
        remapped = map_files(extracted, wanted)
        return remapped, {rel: workdir / rel for rel, _ in extracted}

