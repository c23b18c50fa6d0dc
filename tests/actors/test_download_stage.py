"""The download stage with a real qbittorrent-nox (seeder + downloader): grab, progress through the writer,
completion hand-off, file mapping of a season pack, a stalled release replaced by its alternative, cancel."""

import http.server
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pykka
import pytest

from actors.context import ActorContext
from actors.download import DownloadWorker
from actors.filemap import FileMapWorker
from actors.messages import RemoveRequestTorrents
from actors.progress import DownloadProgressWorker
from actors.writer import DbWriter
from annexd.clients.qbittorrent import QbtClient
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.config import Config, DownloadConfig, WriterConfig
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries
from store.models import Blocklist, Download, DownloadFile, ProcessingItem
from tests.servers.qbittorrent import PeerIntroducer, make_content, make_torrent
from tests.util import wait_until

MB = 1024 * 1024


class TorrentServer:
    """Serves .torrent files the way an indexer's download link does."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path)
                self.send_response(200 if body else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, name: str, data: bytes) -> str:
        self.files[f"/{name}.torrent"] = data
        return f"http://127.0.0.1:{self.server.server_port}/{name}.torrent"


@pytest.fixture(params=[False])
def stage(request, qbt_pair, pg, tmp_path):
    db = pg
    settings = QbtClientSettings(name="qbt", url=qbt_pair.downloader.url, category="annexd-test")
    client = QbtClient(settings)
    cfg = replace(Config(state_dir=str(tmp_path / "state")),
                  writer=replace(WriterConfig(), flush_interval_ms=100),
                  download=replace(DownloadConfig(), no_seeds_minutes=0.05, metadata_minutes=0.05,
                                   retry=replace(DownloadConfig().retry, base_seconds=0.0, cap_seconds=0.0),
                                   remove_after_delivery=request.param))
    ctx = ActorContext(db=db, config=cfg)
    ctx.writer = DbWriter.start(ctx)
    clients = {"qbt": client}
    ctx.workers["download"] = DownloadWorker.start(ctx, 200, clients)
    ctx.workers["progress"] = DownloadProgressWorker.start(ctx, 250, clients)
    ctx.workers["filemap"] = FileMapWorker.start(ctx, 500, clients)
    server = TorrentServer()
    peers = PeerIntroducer(qbt_pair.downloader, qbt_pair.seeder, interval=0.5).start()
    yield ctx, db, qbt_pair, server
    peers.stop()
    pykka.ActorRegistry.stop_all()
    server.server.shutdown()


def _found(db, spec, release, alternatives=()):
    with db.connection_context():
        req = queries.create_request(spec, datetime.now() - timedelta(days=1))
        ProcessingItem.update(status=S.FOUND, release=release, available_releases=list(alternatives)).where(
            ProcessingItem.request == req.id).execute()
        return req.id


def _release(title, url, info_hash):
    return {"guid": info_hash, "info_hash": info_hash, "title": title, "download_url": url, "size": 1}


def _items(db, request_id):
    with db.connection_context():
        return {(i.season, i.episode): i for i in queries.request_items(request_id)}


def test_season_pack_downloads_and_maps_every_episode(stage, tmp_path):
    ctx, db, pair, server = stage
    root = make_content(pair.content_root / "The.Show.S01.1080p.WEB-DL.x264-GRP", {
        "The.Show.S01E01.1080p.WEB-DL.x264-GRP.mkv": 3 * MB, "The.Show.S01E02.1080p.WEB-DL.x264-GRP.mkv": 3 * MB,
        "The.Show.S01E03.1080p.WEB-DL.x264-GRP.mkv": 3 * MB, "Sample/the.show.s01e01.sample.mkv": 200_000,
        "The.Show.S01.nfo": 2_000})
    torrent, info_hash = pair.seed(root)
    url = server.add("pack", torrent)
    eps = tuple(EpisodeSpec(1, e) for e in (1, 2, 3))
    rid = _found(db, RequestSpec(kind="tv", title="The Show", episodes=eps),
                 _release("The.Show.S01.1080p.WEB-DL.x264-GRP", url, info_hash))
    items = wait_until(lambda: (lambda it: it if all(i.status == S.DOWNLOADED for i in it.values()) else None)(
        _items(db, rid)), timeout=60, what="all three episodes DOWNLOADED")
    for (_season, ep), item in items.items():
        path = Path(item.source_file_path)
        assert path.is_file() and f"S01E0{ep}" in path.name and "sample" not in path.name.lower()
        assert item.downloaded_at is not None and item.progress == 100.0
    with db.connection_context():
        assert Download.select().count() == 1  # one torrent shared by the pack's items
        assert {f.role for f in DownloadFile.select()} >= {"video", "ignored"}


def test_stalled_release_is_blocklisted_and_the_alternative_downloads(stage):
    ctx, db, pair, server = stage
    dead_root = make_content(pair.content_root / "dead", {"Film.2020.1080p.WEB-DL.x264-DEAD.mkv": 2 * MB})
    dead_torrent, dead_hash = make_torrent(dead_root)  # nobody seeds this one
    good_root = make_content(pair.content_root / "good", {"Film.2020.1080p.WEB-DL.x264-GOOD.mkv": 2 * MB})
    good_torrent, good_hash = pair.seed(good_root)
    dead = _release("Film.2020.1080p.WEB-DL.x264-DEAD", server.add("dead", dead_torrent), dead_hash)
    good = _release("Film.2020.1080p.WEB-DL.x264-GOOD", server.add("good", good_torrent), good_hash)
    rid = _found(db, RequestSpec(kind="movie", title="Film", year=2020), dead, [good])
    item = wait_until(lambda: (lambda i: i if i.status == S.DOWNLOADED else None)(_items(db, rid)[(0, 0)]),
                      timeout=90, what="the alternative downloaded")
    assert "GOOD" in item.source_file_path and item.release["info_hash"] == good_hash
    with db.connection_context():
        assert Blocklist.get_or_none(Blocklist.release_key == dead_hash) is not None
    assert not pair.downloader.api().torrents_info(torrent_hashes=dead_hash)  # removed from the client


def test_delete_removes_the_torrent_with_its_files(stage):
    ctx, db, pair, server = stage
    root = make_content(pair.content_root / "cancel", {"Gone.2021.1080p.WEB-DL.x264-GRP.mkv": 2 * MB})
    torrent, info_hash = pair.seed(root)
    rid = _found(db, RequestSpec(kind="movie", title="Gone", year=2021),
                 _release("Gone.2021.1080p.WEB-DL.x264-GRP", server.add("gone", torrent), info_hash))
    item = wait_until(lambda: (lambda i: i if i.status == S.DOWNLOADED else None)(_items(db, rid)[(0, 0)]),
                      timeout=60, what="downloaded")
    with db.connection_context():  # what DELETE /api/v1/requests/{id} does before telling the worker
        queries.cancel_request(rid, datetime.now())
        downloads = tuple(queries.request_download_ids(rid))
        queries.delete_request(rid)
    assert ctx.workers["download"].ask(RemoveRequestTorrents(rid, downloads), timeout=30) == 1
    wait_until(lambda: not pair.downloader.api().torrents_info(torrent_hashes=info_hash), what="torrent gone")
    wait_until(lambda: not Path(item.source_file_path).exists(), what="its files gone")


@pytest.mark.parametrize("stage", [True], indirect=True)
def test_torrent_removed_after_delivery_when_configured(stage):
    ctx, db, pair, server = stage
    root = make_content(pair.content_root / "after", {"After.2022.1080p.WEB-DL.x264-GRP.mkv": 2 * MB})
    torrent, info_hash = pair.seed(root)
    rid = _found(db, RequestSpec(kind="movie", title="After", year=2022),
                 _release("After.2022.1080p.WEB-DL.x264-GRP", server.add("after", torrent), info_hash))
    wait_until(lambda: _items(db, rid)[(0, 0)].status == S.DOWNLOADED, timeout=60, what="downloaded")
    assert pair.downloader.api().torrents_info(torrent_hashes=info_hash)  # kept while the item is not delivered
    with db.connection_context():
        ProcessingItem.update(status=S.COMPLETED).where(ProcessingItem.request == rid).execute()
    wait_until(lambda: not pair.downloader.api().torrents_info(torrent_hashes=info_hash), timeout=30,
               what="torrent removed after delivery")
    with db.connection_context():
        assert Download.get(Download.info_hash == info_hash).state == "removed"


def test_a_torrent_left_in_error_is_given_up_like_a_stall(tmp_path):
    from annexd.domain.download_states import snapshot_from_qbt

    cfg = replace(Config(state_dir=str(tmp_path)), download=replace(DownloadConfig(), metadata_minutes=0.0))
    worker = DownloadProgressWorker(ActorContext(db=None, config=cfg), 1000, {})  # not started: pure check
    errored = snapshot_from_qbt("a" * 40, {"state": "missingFiles", "progress": 0.4})
    assert worker.errored_too_long(errored)
    assert not worker.errored_too_long(snapshot_from_qbt("a" * 40, {"state": "downloading", "progress": 0.5}))
    assert "a" * 40 not in worker.errored_since  # recovering clears the clock
