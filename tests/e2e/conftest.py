"""Fixtures of the end-to-end tests: the real components a whole pipeline runs on (tests/e2e/pipeline.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.pipeline import INDEXER_KEY, Components
from tests.scenario import TorrentIndexer
from tests.servers.qbittorrent import PeerIntroducer


@pytest.fixture
def components(postgres_server, qbt_seeder, qbt_downloader, sshd_server) -> Iterator[Components]:
    indexer = TorrentIndexer(api_key=INDEXER_KEY)
    indexer.torrents, indexer.items = {}, []
    indexer.mode, indexer.slow_seconds = "slow", 0.4  # a search lasts long enough to be interrupted
    indexer.start()
    sshd_server.start()
    peers = PeerIntroducer(qbt_downloader, qbt_seeder, interval=0.3).start()
    try:
        yield Components(postgres_server, qbt_seeder, qbt_downloader, sshd_server, indexer)
    finally:
        peers.stop()
        indexer.stop()
        hashes = "|".join(item.info_hash for item in indexer.items)
        if hashes:  # the shared qBittorrents go back to how the other tests expect them
            qbt_downloader.api().torrents_delete(delete_files=True, torrent_hashes=hashes)
            qbt_seeder.api().torrents_delete(delete_files=False, torrent_hashes=hashes)
