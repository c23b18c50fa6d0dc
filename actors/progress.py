"""DownloadProgressWorker: one sync/maindata call per client per poll, whatever the number of torrents.

Progress of every item of every torrent goes to the DbWriter as one message; completions are handed to the
FileMapWorker at once; stalled or errored torrents are blocklisted and their items move to the next
alternative release; delivered torrents are removed once the client's seeding goals are met (when configured).

It polls the downloads this daemon holds (claimed like items, so with several daemons each torrent is polled
by one), tracked by hash whatever their category. A tracked torrent missing from the client's full view for
``download.vanished_grace_seconds`` was removed by hand: :func:`store.queries.torrent_vanished` decides what
its items do. A torrent annexd does not own is released (its work copies removed) once no item needs it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from actors.context import ActorContext
from actors.download import live_since, remove_torrent
from actors.messages import ProgressBatch, ProgressUpdate
from actors.worker import Worker
from annexd.clients.qbittorrent import QbtClient
from annexd.domain.download_states import (
    AbsenceTracker,
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
        self.absence = AbsenceTracker(grace_seconds=cfg.vanished_grace_seconds)

    def tracked(self) -> list[Download]:
        """The downloads this daemon polls: being downloaded, complete (not yet mapped: watched for vanishing),
        and mapped ones that still need a decision (seeding goals, or releasing a torrent annexd does not own)."""
        phases = [DownloadPhase.DOWNLOADING, DownloadPhase.COMPLETED, DownloadPhase.MAPPED]
        return queries.claim_downloads(self.ctx.instance_id, live_since(self.ctx), phases,
                                       self.ctx.config.worker.claim_batch,
                                       mapped_owned=self.ctx.config.download.remove_after_delivery)

    def poll(self) -> int:
        by_client: dict[str, list[Download]] = defaultdict(list)
        for d in self.tracked():
            by_client[d.client].append(d)
        updates: list[ProgressUpdate] = []
        for name, downloads in by_client.items():
            client = self.clients.get(name)
            if client is None or client.auth_failed:
                continue
            try:
                with self.offline():
                    view = client.maindata()
            except ProviderError as exc:
                self.log.warning("maindata_failed", client=name, error=str(exc))
                continue
            for download in downloads:
                snap = view.torrents.get(download.info_hash)
                if snap is None:
                    self.absent(client, download)
                    continue
                self.absence.present(download.info_hash)
                if download.state == DownloadPhase.MAPPED:
                    self.remove_if_done(client, download, snap)
                elif download.state == DownloadPhase.DOWNLOADING:
                    updates.extend(self.observe(download, snap))
        if updates and self.ctx.writer is not None:
            self.ctx.writer.tell(ProgressBatch(tuple(updates)))
        return len(updates)

    def absent(self, client: QbtClient, download: Download) -> None:
        """A tracked torrent missing from the client's view: once it has been gone long enough, its items grab
        it again or move on (a mapped one is only marked removed: its items have their files)."""
        if not self.absence.missing(download.info_hash, time.monotonic()):
            return
        self.absence.present(download.info_hash)  # decided: start afresh if it is ever tracked again
        self.stalls.forget(download.info_hash)
        now = self.ctx.clock()
        if download.state == DownloadPhase.MAPPED:
            remove_torrent(None, download, DownloadPhase.REMOVED, now, self.log, self.ctx.config.state_path)
            return
        outcome = queries.torrent_vanished(download.id, client.name, now, self.ctx.config.download.retry)
        if outcome is not None:
            self.log.warning("torrent_vanished", info_hash=download.info_hash, client=client.name,
                             owned=download.owned, outcome=outcome.value)
            self.ctx.wake("download", "a vanished torrent to grab again")

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
        """After delivery, and once the client's seeding goals are met, the torrent and its files go; a torrent
        annexd does not own stays in the client and is released (annexd's work copies go) at once."""
        if queries.download_in_use(download.id):
            return
        s = client.settings
        if download.owned and not seeding_goals_met(snap, s.seed_ratio_limit, s.seed_time_limit_minutes):
            return
        if remove_torrent(client, download, DownloadPhase.REMOVED, self.ctx.clock(), self.log,
                          self.ctx.config.state_path):
            self.log.info("torrent_released_after_delivery", info_hash=download.info_hash, owned=download.owned)

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
        if not remove_torrent(self.clients.get(download.client), download, DownloadPhase.FAILED, now, self.log,
                              self.ctx.config.state_path):
            queries.download_failed(download.id)
        self.stalls.forget(download.info_hash)
        blocklist = queries.blocklisted_keys()
        for item in items:
            queries.retry_download_or_fail(item, f"download stalled: {reason}", now, self.ctx.config.download.retry,
                                           blocklist)
        self.ctx.wake("download", "alternatives to grab")
