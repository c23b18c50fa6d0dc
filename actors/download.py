"""DownloadWorker: FOUND -> DOWNLOADING. Fetches the torrent (or reads the magnet), stores its info hash, then
adds it to a download client; removes a cancelled request's torrents.

The torrent is fetched first, while the items are still FOUND; then the Download row (info hash first) and the
items' move to DOWNLOADING are written in one transaction, so no crash point leaves an item DOWNLOADING
without its Download. Only then is the torrent added to the client (a Download still ADDING after a crash is
added at the next poll; a torrent the client already lists is never added twice). A season pack is one
Download shared by its items. A link that fails (a timeout, a connection closed mid-body) keeps the item
FOUND with the reason and a retry time ([download.retry]); a refused torrent blocklists the release and moves
to the next alternative; only running out of alternatives or attempts fails an item. Progress is the
DownloadProgressWorker's (actors/progress.py), file mapping the FileMapWorker's (actors/filemap.py).

Ownership: a torrent annexd added itself is ``owned``; one that was already in the client (the user's, under
any category) is only read, never deleted, paused or moved (:func:`remove_torrent` is the one place that
deletes). Stored release links hold no credentials: the link is rebuilt with the indexer's key when fetched.
A release whose Download row is mapped, removed or failed is re-mapped or re-added, never waited on.
A release from an IRC announce is stored without its link (it holds the tracker's passkey): the link is built
again from the announce when the torrent is fetched (:func:`annexd.domain.announce.grab.announce_links`).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import urllib3

from actors.context import ActorContext
from actors.messages import RemoveRequestTorrents
from actors.worker import Worker
from annexd.clients.qbittorrent import QbtClient
from annexd.domain.announce.grab import AnnounceSource, announce_links
from annexd.domain.announce.release import ReleaseError
from annexd.domain.download_states import DownloadPhase, ReuseAction, reuse_action
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.release_links import LinkCredentials, grab_link, prefers_link
from annexd.domain.retry import Failure, classify
from annexd.domain.torrents import info_hash_from_magnet, parse_torrent
from annexd.errors import AnnexdError, InvalidInputError, ProviderAuthError, ProviderError
from store import queries
from store.models import Download, ProcessingItem, utcnow

ADD_RECHECK_S = 0.1  # how soon an add the client has not listed yet is looked at again


def work_copies(state_path: Path, info_hash: str) -> Path:
    """Where annexd keeps its own links (or copies) of the files of a torrent it does not own."""
    return state_path / "reused" / info_hash


def remove_torrent(client: QbtClient | None, download: Download, phase: DownloadPhase, now: datetime,
                   log: Any, state_path: Path | None = None) -> bool:
    """Done with a torrent. One annexd owns is deleted from the client with its files; one it does not own is
    left exactly as it is (only annexd's work copies of its files go). Then the Download is marked ``phase``.
    False when the client could not be asked."""
    if download.owned and client is not None:
        try:
            client.delete(download.info_hash, delete_files=True)
        except ProviderError as exc:
            log.warning("torrent_remove_failed", info_hash=download.info_hash, error=str(exc))
            return False
    elif not download.owned:
        log.info("torrent_left_in_place", info_hash=download.info_hash, reason="annexd does not own it")
    if state_path is not None:
        shutil.rmtree(work_copies(state_path, download.info_hash), ignore_errors=True)
    queries.download_removed(download.id, phase, now)
    return True


def live_since(ctx: ActorContext) -> datetime:
    """Claims of daemons that have not beaten since then are free (RecoveryWorker keeps the heartbeats)."""
    return ctx.clock() - timedelta(seconds=ctx.config.worker.claim_stale_seconds)


def release_key(release: Mapping[str, Any]) -> str:
    return str(release.get("info_hash") or release.get("guid") or "")


class DownloadWorker(Worker):
    """FOUND -> DOWNLOADING: fetch the torrent (or read the magnet), store the hash, add it to a client."""

    name = "download"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Mapping[str, QbtClient],
                 credentials: Mapping[str, LinkCredentials] | None = None,
                 announce_sources: Mapping[str, AnnounceSource] | None = None):
        super().__init__(ctx, interval_ms)
        self.clients = dict(clients)
        # source (indexer or feed) name -> what goes back into its release links when fetched (never stored).
        self.credentials = dict(credentials or {})
        # IRC network -> what builds its announces' links (with its secret settings) at grab time.
        self.announce_sources = dict(announce_sources or {})
        self.http = requests.Session()
        # Torrent bytes wait here between storing the hash and the add; after a crash they are fetched again.
        self._pending: dict[str, tuple[bytes | None, str | None]] = {}

    def prepare(self) -> None:
        """The download stage holds no claims (DOWNLOADING is carried by Download rows)."""

    def poll(self) -> int:
        now = self.ctx.clock()
        done = self.add_pending(now)
        due = queries.due_items(S.FOUND, now, self.ctx.config.worker.claim_batch)
        by_release: dict[str, list[ProcessingItem]] = defaultdict(list)
        for item in due:
            by_release[release_key(item.release or {})].append(item)
        for items in by_release.values():
            done += self.grab(items, now)
        return done

    def client(self) -> QbtClient | None:
        usable = [c for c in self.clients.values() if not c.auth_failed]
        return usable[0] if usable else None

    def grab(self, items: list[ProcessingItem], now: datetime) -> int:
        """Fetch the release's torrent, then Download row + FOUND -> DOWNLOADING in one step; how many moved."""
        release = items[0].release or {}
        log = self.log.bind(release=release.get("title"), items=[i.id for i in items])
        try:
            with self.offline():
                torrent, magnet, info_hash = self.fetch(release)
        except (AnnexdError, OSError) as exc:
            self.fetch_failed(items, release, exc, now, log)
            return 0
        client = self.client()
        stored = {**release, "torrent": None}
        grabbed = queries.grab(items, info_hash, client.name if client else "", release.get("title", ""), stored,
                               now, self.ctx.instance_id)
        if grabbed is None:
            return 0  # another worker (or daemon) grabbed them first
        download, moved, created = grabbed
        if not created:  # decided after the items joined, on the row as it is now (it may have been mapped)
            self.reuse(queries.get_download(download.id), stored, now)
        self._pending[download.info_hash] = (torrent, magnet)
        log.info("grabbed", info_hash=info_hash, download_id=download.id, moved=moved, reused=not created)
        self.add_pending(now)
        return len(moved)

    def fetch_failed(self, items: list[ProcessingItem], release: Mapping[str, Any], exc: BaseException,
                     now: datetime, log: Any) -> None:
        """A link that failed this time: the same release later. A refused torrent: the next alternative."""
        reason = f"could not fetch the torrent: {exc}"
        policy = self.ctx.config.download.retry
        failure = classify(exc)
        log.warning("torrent_fetch_failed", error=str(exc), failure=failure.value)
        if failure is Failure.TRANSIENT:
            for item in items:
                queries.grab_later(item, reason, now, policy)
            return
        key = release_key(release)
        queries.add_to_blocklist(key, release.get("title", ""), str(exc), items[0].request_id, now)
        blocklist = queries.blocklisted_keys() | {key}
        for item in items:
            queries.retry_download_or_fail(item, reason, now, policy, blocklist, status=S.FOUND)

    def reuse(self, download: Download, release: Mapping[str, Any], now: datetime) -> None:
        """The torrent has a row already: join it, re-map it or re-add it (never wait on a row that will not
        change). Whether a MAPPED torrent is still in its client decides between re-mapping and re-adding."""
        phase = DownloadPhase(download.state)
        in_client = self._in_client(download) if phase is DownloadPhase.MAPPED else None
        action = reuse_action(phase, in_client)
        if queries.reuse_download(download, action, release, self.ctx.instance_id, now) and action is not \
                ReuseAction.ATTACH:
            self.log.info("download_reused", info_hash=download.info_hash, was=phase.value, action=action.value)
            if action is ReuseAction.REMAP:
                self.ctx.wake("filemap", f"download {download.id} to map again")

    def _in_client(self, download: Download) -> bool | None:
        client = self.clients.get(download.client) or self.client()
        try:
            with self.offline():
                return client.has(download.info_hash) if client is not None else None
        except ProviderError:
            return None

    def fetch(self, release: Mapping[str, Any]) -> tuple[bytes | None, str | None, str]:
        """The torrent bytes or the magnet, and its info hash, known before anything is added. The link is
        fetched with the source's credentials put back; the magnet goes first unless it lost a passkey tracker."""
        if release.get("announce"):
            release = self.with_announce_links(release)
        magnet = release.get("magnet")
        url = grab_link(release, self.credentials)
        if magnet and not prefers_link(release):
            return None, magnet, info_hash_from_magnet(magnet)
        if not url:
            raise InvalidInputError("the release has neither a magnet nor a download link")
        try:
            data, redirect = self._download(url)
        except (InvalidInputError, ProviderError):
            if not magnet:
                raise
            return None, magnet, info_hash_from_magnet(magnet)
        if redirect is not None:
            return None, redirect, info_hash_from_magnet(redirect)
        return data, None, parse_torrent(data).info_hash

    def with_announce_links(self, release: Mapping[str, Any]) -> dict[str, Any]:
        """The release with its link built again from its announce (in memory only: it holds a passkey)."""
        try:
            url, magnet = announce_links(release, self.announce_sources)
        except ReleaseError as exc:
            raise InvalidInputError(f"cannot build the announce's link: {exc}") from None
        return {**release, "download_url": url, "magnet": magnet}

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
            try:
                data = resp.raw.read(cfg.torrent_max_bytes + 1, decode_content=True)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                # urllib3's ProtocolError (a connection closed mid-body) is no requests.RequestException
                raise ProviderError("indexer", f"download link failed mid-body: {type(exc).__name__}") from None
        if len(data) > cfg.torrent_max_bytes:
            raise InvalidInputError(f"torrent larger than {cfg.torrent_max_bytes} bytes")
        return data, None

    def add_pending(self, now: datetime) -> int:
        """Add every Download still ADDING that this daemon holds to the client (retried each poll while it is
        down). The torrent is owned when this add put it there, not when the client had it already. A new torrent
        the client does not list yet stays ADDING, and the worker polls again in ADD_RECHECK_S (no waiting here)."""
        added = unconfirmed = 0
        for download in queries.claim_downloads(self.ctx.instance_id, live_since(self.ctx), [DownloadPhase.ADDING],
                                                self.ctx.config.worker.claim_batch):
            client = self.clients.get(download.client) or self.client()
            if client is None or client.auth_failed:
                continue
            try:
                with self.offline():
                    torrent, magnet = self._pending.get(download.info_hash) or self._refetch(download)
                    result = client.add_torrent(torrent_bytes=torrent, magnet=magnet)
            except ProviderAuthError as exc:
                self.log.error("download_client_refused_login", client=client.name, error=str(exc))
                continue
            except ProviderError as exc:
                self.log.warning("download_client_unreachable", client=client.name, error=str(exc))
                continue
            if not result.listed:  # qBittorrent adds asynchronously: confirmed at a poll shortly after
                unconfirmed += 1
                continue
            self._pending.pop(download.info_hash, None)
            if not queries.download_added(download.id, client.name, owned=result.added):
                self._undo_add(client, download, result.added)
                continue
            if not result.added:
                self.log.info("torrent_reused_read_only", info_hash=download.info_hash, client=client.name)
            added += 1
        if added:
            self.ctx.wake("progress", "torrents added")
        if unconfirmed:
            self.wake_in(ADD_RECHECK_S, f"{unconfirmed} torrent add(s) to confirm")
        return added

    def _undo_add(self, client: QbtClient, download: Download, added: bool) -> None:
        """The row left ADDING while the add ran (its request was cancelled): take back what this add did."""
        if not added:
            return
        try:
            with self.offline():
                client.delete(download.info_hash, delete_files=True)
        except ProviderError as exc:
            self.log.warning("torrent_remove_failed", info_hash=download.info_hash, error=str(exc))

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
        """Cancel/delete: remove the request's torrents (with files) unless another request still uses them;
        a torrent annexd does not own stays in the client with its files.

        ``download_ids`` are given when the request's rows may already be gone (DELETE)."""
        removed = 0
        with self.ctx.db.connection_context():
            downloads = set(download_ids) or set(queries.request_download_ids(request_id))
            for download in queries.downloads_only_for(request_id, downloads):
                if remove_torrent(self.clients.get(download.client), download, DownloadPhase.REMOVED, utcnow(),
                                  self.log, self.ctx.config.state_path):
                    removed += 1
        return removed
