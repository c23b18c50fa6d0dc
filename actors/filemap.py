"""FileMapWorker: DOWNLOADING -> DOWNLOADED once a torrent is complete and every item has its file.

The mapping decisions are pure (annexd.domain.filemap); RAR sets are extracted first (annexd.clients.archive)
into a working directory under the state dir. An item left without a file moves to its next alternative.
Only the downloads this daemon holds are mapped (claimed like items), so each is mapped once. The files of a
torrent annexd does not own are hard-linked (or copied) into its work area and used from there: the user's
files are never moved or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.context import ActorContext
from actors.download import live_since, work_copies
from actors.worker import Worker
from annexd.clients.archive import extract_archives
from annexd.clients.paths import work_copy
from annexd.clients.qbittorrent import QbtClient
from annexd.domain.download_states import DownloadPhase
from annexd.domain.filemap import MOVIE_KEY, WantedEpisode, WantedMovie, map_files
from annexd.errors import ProviderError
from store import queries
from store.models import Download, MediaRequest, ProcessingItem


class FileMapWorker(Worker):
    """DOWNLOADING -> DOWNLOADED once the torrent is complete and every item has its file."""

    name = "filemap"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Mapping[str, QbtClient]):
        super().__init__(ctx, interval_ms)
        self.clients = dict(clients)

    def poll(self) -> int:
        mapped = 0
        for download in queries.claim_downloads(self.ctx.instance_id, live_since(self.ctx), [DownloadPhase.COMPLETED],
                                                self.ctx.config.worker.claim_batch):
            client = self.clients.get(download.client)
            if client is None:
                continue
            try:
                mapped += self.map_download(client, download)
            except ProviderError as exc:
                self.log.warning("file_listing_failed", info_hash=download.info_hash, error=str(exc))
            except OSError as exc:  # a work copy could not be made (disk full...): tried again next poll
                self.log.warning("work_copy_failed", info_hash=download.info_hash, error=str(exc))
        if mapped:
            self.ctx.wake("encode", f"{mapped} item(s) downloaded")
        return mapped

    def map_download(self, client: QbtClient, download: Download) -> int:
        now = self.ctx.clock()
        items = queries.download_items(download.id)
        if not items:
            queries.download_mapped(download.id)
            return 0
        request = queries.get_request(items[0].request_id)
        wanted = self.wanted(request, items)
        with self.offline():  # the file listing, bsdtar extraction and work copies hold no connection
            files = client.files(download.info_hash)
            mapping = map_files(files, wanted)
            roots: dict[str, Path] = {f.relative_path: f.absolute_path for f in files}
            if mapping.needs_extraction:
                mapping, roots = self.extract(download, files, mapping, wanted)
            elif not download.owned:
                roots = self.work_copies(download, roots, {m.path for m in mapping.matched.values()})
        # One transaction: the items of a multi-episode file reach DOWNLOADED together (their encode is claimed
        # together), and a crash mid-way leaves the download COMPLETED, to be mapped again in full.
        with queries.atomically():
            moved = self.apply_mapping(download, items, mapping, roots, now)
        self.log.info("files_mapped", info_hash=download.info_hash, mapped=moved,
                      unmatched={str(k): v for k, v in mapping.unmatched_expected.items()})
        return moved

    def apply_mapping(self, download: Download, items: list[ProcessingItem], mapping: Any, roots: dict[str, Any],
                      now: datetime) -> int:
        queries.ignore_files(download.id, mapping.ignored)
        moved = 0
        blocklist = queries.blocklisted_keys()
        for item in items:
            key = MOVIE_KEY if item.kind == "movie" else (item.season, item.episode)
            match = mapping.matched.get(key)
            if match is None:
                reason = mapping.unmatched_expected.get(key, "no file in the torrent matches")
                queries.retry_download_or_fail(item, f"file mapping: {reason}", now, self.ctx.config.download.retry,
                                               blocklist)
                continue
            if queries.map_item_file(download.id, item, match.path, match.size, str(roots[match.path]), now):
                moved += 1
        queries.download_mapped(download.id)
        return moved

    def work_copies(self, download: Download, roots: dict[str, Path], wanted: set[str]) -> dict[str, Path]:
        """The matched files of a torrent annexd does not own, linked into its work area (never moved)."""
        root = work_copies(self.ctx.config.state_path, download.info_hash)
        return {rel: work_copy(path, root, rel) for rel, path in roots.items() if rel in wanted}

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
