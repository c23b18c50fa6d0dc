"""The grab (FOUND -> DOWNLOADING) is one step with its Download row, and a .torrent link that fails never
strands an item: a connection closed mid-body keeps the item FOUND with the reason and a retry time."""

import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pykka
import pytest

from actors.context import ActorContext
from actors.download import DownloadWorker
from annexd.clients.qbittorrent import QbtClient
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.config import Config, DownloadConfig
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import RequestSpec
from annexd.domain.stranded import Liveness, stranded
from store import queries
from store.models import Download, ProcessingItem
from tests.servers.qbittorrent import make_torrent
from tests.util import free_port, wait_until

NOW = datetime(2026, 6, 1, 12, 0)


class CuttingServer:
    """An indexer's download link: promises the whole .torrent (Content-Length), sends part of it and closes the
    connection, ``cuts`` times; then serves it whole."""

    def __init__(self, body: bytes, cuts: int):
        self.body, self.cuts, self.served = body, cuts, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/dl/1.torrent"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\n"
                        f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n").encode()
                cut = self.served < self.cuts
                self.served += 1
                conn.sendall(head + (self.body[: len(self.body) // 3] if cut else self.body))

    def close(self):
        self.sock.close()


@pytest.fixture
def torrent(tmp_path):
    content = tmp_path / "Film.2020.1080p.WEB-DL.x264-GRP.mkv"
    content.write_bytes(b"x" * 300_000)
    return make_torrent(content)


def _found(db, url, info_hash):
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title="Film", year=2020), NOW - timedelta(days=1))
        release = {"guid": info_hash, "info_hash": "", "title": "Film.2020.1080p.WEB-DL.x264-GRP",
                   "download_url": url, "size": 1}
        ProcessingItem.update(status=S.FOUND, release=release).where(ProcessingItem.request == req.id).execute()
        return queries.request_items(req.id)[0].id


def test_a_torrent_link_closing_mid_body_retries_with_a_reason_and_never_strands(db, torrent):
    data, info_hash = torrent
    link = CuttingServer(data, cuts=1)
    clock = {"now": NOW}
    # Nothing listens on the client's port: the grab still completes (the Download waits in ADDING).
    client = QbtClient(QbtClientSettings(name="qbt", url=f"http://127.0.0.1:{free_port()}", timeout_seconds=1.0))
    cfg = replace(Config(), download=replace(DownloadConfig(), retry=replace(DownloadConfig().retry, jitter=0.0)))
    ctx = ActorContext(db=db, config=cfg, clock=lambda: clock["now"])
    item_id = _found(db, link.url, info_hash)
    worker = DownloadWorker.start(ctx, 60_000, {"qbt": client})
    try:
        wait_until(lambda: worker.proxy().polls.get(timeout=5) >= 1, what="a download poll")
        with db.connection_context():
            item = queries.get_item(item_id)
            assert Download.select().count() == 0
        assert item.status == S.FOUND and item.attempts == 1 and item.download_id is None
        assert "download link failed mid-body: ProtocolError" in item.last_error
        assert item.next_retry_at == NOW + timedelta(seconds=300)  # [download.retry] base_seconds
        live = Liveness(this_instance=ctx.instance_id, live_instances=frozenset({ctx.instance_id}))
        with db.connection_context():
            assert [s for s in queries.claim_states() if stranded(s, NOW, live)] == []
        # Once due, the same release is fetched again; the Download row and the move are one step.
        clock["now"] = NOW + timedelta(seconds=301)
        worker.proxy().run_once().get(timeout=30)
        with db.connection_context():
            item = queries.get_item(item_id)
            download = Download.get_by_id(item.download_id)
        assert item.status == S.DOWNLOADING and download.info_hash == info_hash and download.state == "adding"
        assert link.served == 2
    finally:
        pykka.ActorRegistry.stop_all()
        link.close()


def test_a_refused_torrent_blocklists_the_release_and_takes_the_next_one(db):
    bad = CuttingServer(b"<html>not a torrent</html>", cuts=0)
    client = QbtClient(QbtClientSettings(name="qbt", url=f"http://127.0.0.1:{free_port()}", timeout_seconds=1.0))
    ctx = ActorContext(db=db, config=Config(), clock=lambda: NOW)
    item_id = _found(db, bad.url, "a" * 40)
    alternative = {"guid": "b" * 40, "info_hash": "b" * 40, "title": "Film.2020.720p.WEB-DL.x264-GRP",
                   "magnet": f"magnet:?xt=urn:btih:{'b' * 40}", "size": 1}
    with db.connection_context():
        ProcessingItem.update(available_releases=[alternative]).where(ProcessingItem.id == item_id).execute()
    worker = DownloadWorker.start(ctx, 60_000, {"qbt": client})
    try:
        wait_until(lambda: worker.proxy().polls.get(timeout=5) >= 1, what="a download poll")
        with db.connection_context():
            item = queries.get_item(item_id)
            assert "a" * 40 in queries.blocklisted_keys()
        assert item.status == S.FOUND and item.release["title"] == alternative["title"]
        assert item.available_releases == [] and "could not fetch the torrent" in item.last_error
    finally:
        pykka.ActorRegistry.stop_all()
        bad.close()
