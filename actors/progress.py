"""DownloadProgressWorker: one sync/maindata call per client per poll, whatever the number of torrents.

Progress of every item of every torrent goes to the DbWriter as one message; completions are handed to the
FileMapWorker at once; stalled or errored torrents are blocklisted and their items move to the next
alternative release; delivered torrents are removed once the client's seeding goals are met (when configured).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from actors.context import ActorContext
from actors.download import remove_torrent
from actors.messages import ProgressBatch, ProgressUpdate
from actors.worker import Worker
from annexd.clients.qbittorrent import QbtClient
from annexd.domain.download_states import (
    DownloadPhase,
    DownloadState,
    StallPolicy,
    StallTracker,
    TorrentSnapshot,
    seeding_goals_met,
)
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.errors import ProviderError
from store import queries
from store.models import Download, ProcessingItem


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
        phases = [DownloadPhase.DOWNLOADING]
        if self.ctx.config.download.remove_after_delivery:
            phases.append(DownloadPhase.MAPPED)
        by_client: dict[str, list[Download]] = defaultdict(list)
        for d in queries.downloads_in(*phases):
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
                if download.state == DownloadPhase.MAPPED:
                    self.remove_if_done(client, download, snap)
                else:
                    updates.extend(self.observe(download, snap))
        if updates and self.ctx.writer is not None:
            self.ctx.writer.tell(ProgressBatch(tuple(updates)))
        return len(updates)

    def observe(self, download: Download, snap: TorrentSnapshot) -> list[ProgressUpdate]:
        now = self.ctx.clock()
        items = queries.download_items(download.id)
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
        return [ProgressUpdate(i.id, S.DOWNLOADING, round(snap.percent, 2), speed=snap.dlspeed,
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
        if queries.download_in_use(download.id):
            return
        s = client.settings
        if not seeding_goals_met(snap, s.seed_ratio_limit, s.seed_time_limit_minutes):
            return
        if remove_torrent(client, download, DownloadPhase.REMOVED, self.ctx.clock(), self.log):
            self.log.info("torrent_removed_after_delivery", info_hash=download.info_hash)

    def complete(self, download: Download, snap: TorrentSnapshot, now: datetime) -> None:
        self.errored_since.pop(download.info_hash, None)
        queries.download_completed(download.id, now, snap.save_path, snap.content_path, snap.size)
        self.stalls.forget(download.info_hash)
        self.log.info("download_complete", info_hash=download.info_hash, download_id=download.id)
        self.ctx.wake("filemap", f"download {download.id} complete")

    def stalled(self, download: Download, items: list[ProcessingItem], reason: str, now: datetime) -> None:
        release = download.release or {}
        self.log.warning("download_stalled", info_hash=download.info_hash, reason=reason)
        queries.add_to_blocklist(download.info_hash, release.get("title", download.name), reason,
                                 items[0].request_id if items else None, now)
        if not remove_torrent(self.clients.get(download.client), download, DownloadPhase.FAILED, now, self.log):
            queries.download_failed(download.id)
        self.stalls.forget(download.info_hash)
        blocklist = queries.blocklisted_keys()
        for item in items:
            queries.retry_download_or_fail(item, f"download stalled: {reason}", now, self.ctx.config.download,
                                           blocklist)
        self.ctx.wake("download", "alternatives to grab")
