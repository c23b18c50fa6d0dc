"""Never touch what the user owns, with a real qbittorrent-nox (seeder + downloader): a torrent removed by hand
is grabbed again once, then the next alternative; a torrent already in the client under another category is
reused read-only; an owned torrent shared by two requests goes with the last; a release whose Download row is
mapped or removed completes."""

import os
from dataclasses import replace
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
from annexd.domain.download_states import DownloadPhase as P
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import RequestSpec
from store import queries
from store.models import Blocklist, Download, utcnow
from tests.actors.test_download_stage import TorrentServer, _found, _items, _release
from tests.servers.qbittorrent import PeerIntroducer, make_content, make_torrent
from tests.util import wait_until

MB = 1024 * 1024


class Stage:
    def __init__(self, ctx: ActorContext, db, pair, server: TorrentServer):
        self.ctx, self.db, self.pair, self.server = ctx, db, pair, server
        self.peers: PeerIntroducer | None = None

    def introduce_peers(self) -> None:
        """No tracker, no DHT: until this runs the downloader finds no peer, so a torrent stays at 0 %."""
        self.peers = PeerIntroducer(self.pair.downloader, self.pair.seeder, interval=0.3).start()

    def release(self, name: str, files: dict[str, int], seed: bool = True) -> dict:
        root = make_content(self.pair.content_root / name, files)
        torrent, info_hash = self.pair.seed(root) if seed else make_torrent(root)
        return _release(name, self.server.add(name, torrent), info_hash)

    def item(self, request_id: int):
        return _items(self.db, request_id)[(0, 0)]

    def wait_status(self, request_id: int, status: S, timeout: float = 60):
        return wait_until(lambda: (lambda i: i if i.status == status else None)(self.item(request_id)),
                          timeout=timeout, what=f"request {request_id} item {status}")

    def download(self, info_hash: str) -> Download:
        with self.db.connection_context():
            return Download.get(Download.info_hash == info_hash)

    def in_client(self, info_hash: str) -> list:
        return list(self.pair.downloader.api().torrents_info(torrent_hashes=info_hash))

    def delete_request(self, request_id: int) -> int:
        """What DELETE /api/v1/requests/{id} does: cancel, delete the rows, tell the DownloadWorker."""
        with self.db.connection_context():
            queries.cancel_request(request_id, utcnow())
            downloads = tuple(queries.request_download_ids(request_id))
            queries.delete_request(request_id)
        return self.ctx.workers["download"].ask(RemoveRequestTorrents(request_id, downloads), timeout=30)


@pytest.fixture
def stage(qbt_pair, pg, tmp_path):
    settings = QbtClientSettings(name="qbt", url=qbt_pair.downloader.url, category="annexd-test")
    clients = {"qbt": QbtClient(settings)}
    cfg = replace(Config(state_dir=str(tmp_path / "state")),
                  writer=replace(WriterConfig(), flush_interval_ms=100),
                  download=replace(DownloadConfig(), vanished_grace_seconds=0.5,
                                   retry=replace(DownloadConfig().retry, base_seconds=0.0, cap_seconds=0.0,
                                                 max_attempts=5)))
    ctx = ActorContext(db=pg, config=cfg)
    ctx.writer = DbWriter.start(ctx)
    ctx.workers["download"] = DownloadWorker.start(ctx, 200, clients)
    ctx.workers["progress"] = DownloadProgressWorker.start(ctx, 250, clients)
    ctx.workers["filemap"] = FileMapWorker.start(ctx, 300, clients)
    server = TorrentServer()
    stage = Stage(ctx, pg, qbt_pair, server)
    yield stage
    if stage.peers:
        stage.peers.stop()
    pykka.ActorRegistry.stop_all()
    server.server.shutdown()


def test_a_torrent_removed_by_hand_is_grabbed_again_and_completes(stage):
    release = stage.release("Handy.2020.1080p.WEB-DL.x264-GRP", {"Handy.2020.1080p.WEB-DL.x264-GRP.mkv": 2 * MB})
    rid = _found(stage.db, RequestSpec(kind="movie", title="Handy", year=2020), release)
    wait_until(lambda: stage.download(release["info_hash"]).state == P.DOWNLOADING, timeout=30,
               what="annexd added the torrent")
    assert stage.download(release["info_hash"]).owned and stage.in_client(release["info_hash"])
    stage.pair.downloader.api().torrents_delete(delete_files=True, torrent_hashes=release["info_hash"])  # by hand
    wait_until(lambda: stage.download(release["info_hash"]).vanished == 1, timeout=30, what="the vanishing noticed")
    wait_until(lambda: stage.in_client(release["info_hash"]), timeout=30, what="the same release added again")
    stage.introduce_peers()
    item = stage.wait_status(rid, S.DOWNLOADED)
    assert item.release["info_hash"] == release["info_hash"] and Path(item.source_file_path).is_file()
    assert item.attempts == 0  # a new stage: DOWNLOADED resets the count; the reason was on the way
    assert stage.download(release["info_hash"]).owned


def test_removed_twice_the_next_alternative_is_taken_with_the_reason(stage):
    first = stage.release("Twice.2020.1080p.WEB-DL.x264-ONE", {"Twice.2020.1080p.WEB-DL.x264-ONE.mkv": 2 * MB})
    other = stage.release("Twice.2020.720p.WEB-DL.x264-TWO", {"Twice.2020.720p.WEB-DL.x264-TWO.mkv": 2 * MB})
    rid = _found(stage.db, RequestSpec(kind="movie", title="Twice", year=2020), first, [other])
    for times in (1, 2):
        wait_until(lambda: stage.download(first["info_hash"]).state == P.DOWNLOADING
                   and stage.in_client(first["info_hash"]), timeout=30, what=f"the torrent in the client ({times})")
        stage.pair.downloader.api().torrents_delete(delete_files=True, torrent_hashes=first["info_hash"])
        wait_until(lambda t=times: stage.download(first["info_hash"]).vanished == t, timeout=30,
                   what=f"vanishing {times} noticed")
    with stage.db.connection_context():
        assert Blocklist.get_or_none(Blocklist.release_key == first["info_hash"]) is not None
    stage.introduce_peers()
    item = stage.wait_status(rid, S.DOWNLOADED)
    assert item.release["info_hash"] == other["info_hash"] and "TWO" in item.source_file_path


def test_a_torrent_in_another_category_is_reused_read_only_and_left_in_place(stage):
    name = "Theirs.2021.1080p.WEB-DL.x264-GRP"
    release = stage.release(name, {f"{name}.mkv": 2 * MB})
    user = stage.pair.downloader.api()
    user.torrents_add(urls=None, torrent_files={"t.torrent": stage.server.files[f"/{name}.torrent"]},
                      category="sonarr", is_paused=False)
    stage.introduce_peers()
    theirs = wait_until(lambda: (lambda t: t[0] if t and t[0]["progress"] >= 1 else None)(stage.in_client(
        release["info_hash"])), timeout=60, what="the user's torrent complete")
    original = Path(theirs["content_path"])
    rid = _found(stage.db, RequestSpec(kind="movie", title="Theirs", year=2021), release)
    item = stage.wait_status(rid, S.DOWNLOADED)
    download = stage.download(release["info_hash"])
    assert not download.owned
    source = Path(item.source_file_path)
    assert source.is_relative_to(stage.ctx.config.state_path / "reused")  # annexd's own link, not their file
    assert os.path.samefile(source, original) and original.is_file()
    after = stage.in_client(release["info_hash"])[0]
    assert (after["category"], after["save_path"], after["content_path"]) == (
        "sonarr", theirs["save_path"], theirs["content_path"])  # not moved, not re-categorised
    assert stage.delete_request(rid) == 1
    assert stage.in_client(release["info_hash"]) and original.is_file()  # the user's torrent and files stay
    assert not source.exists()  # only annexd's link went
    assert stage.download(release["info_hash"]).state == P.REMOVED


def test_an_owned_torrent_shared_by_two_requests_goes_with_the_last(stage):
    name = "Shared.2022.1080p.WEB-DL.x264-GRP"
    release = stage.release(name, {f"{name}.mkv": 2 * MB})
    stage.introduce_peers()
    first = _found(stage.db, RequestSpec(kind="movie", title="Shared", year=2022), release)
    second = _found(stage.db, RequestSpec(kind="movie", title="Shared", year=2022), release)
    item = stage.wait_status(first, S.DOWNLOADED)
    stage.wait_status(second, S.DOWNLOADED)
    assert stage.download(release["info_hash"]).owned
    assert stage.delete_request(first) == 0
    assert stage.in_client(release["info_hash"]) and Path(item.source_file_path).is_file()
    assert stage.delete_request(second) == 1
    wait_until(lambda: not stage.in_client(release["info_hash"]), what="the torrent gone with the last request")
    wait_until(lambda: not Path(item.source_file_path).exists(), what="its files gone")


def test_a_release_whose_download_is_mapped_or_removed_completes(stage):
    name = "Again.2023.1080p.WEB-DL.x264-GRP"
    release = stage.release(name, {f"{name}.mkv": 2 * MB})
    stage.introduce_peers()
    spec = RequestSpec(kind="movie", title="Again", year=2023)
    first = _found(stage.db, spec, release)
    stage.wait_status(first, S.DOWNLOADED)
    assert stage.download(release["info_hash"]).state == P.MAPPED
    remapped = _found(stage.db, spec, release)  # mapped, still in the client: mapped again
    stage.wait_status(remapped, S.DOWNLOADED, timeout=30)
    stage.pair.downloader.api().torrents_delete(delete_files=True, torrent_hashes=release["info_hash"])
    wait_until(lambda: not stage.in_client(release["info_hash"]), what="removed by hand after mapping")
    readded = _found(stage.db, spec, release)  # mapped, gone from the client: added again
    stage.wait_status(readded, S.DOWNLOADED)
    for rid in (first, remapped, readded):
        stage.delete_request(rid)
    assert stage.download(release["info_hash"]).state == P.REMOVED
    after_removal = _found(stage.db, spec, release)  # removed by annexd: added again
    item = stage.wait_status(after_removal, S.DOWNLOADED)
    assert Path(item.source_file_path).is_file() and stage.download(release["info_hash"]).owned
