"""End to end: a legacy Annex installation whose season pack is still in qBittorrent is imported with
`annexd import-annex --write-config`, then the daemon runs on the written config (plus poll intervals and the
built-in encoder agent) against the real qbittorrent-nox that holds the torrent. The adopted episodes are
mapped from the pack, encoded by ffmpeg and delivered to the local target, COMPLETED, without a grab: no
indexer is configured, no torrent is added to the client, the Download row is the imported one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg2

from store.models import utcnow
from tests.legacy.library import Builder, Library, cuid
from tests.legacy.schema import ddl
from tests.media import make_clip
from tests.servers.annexd import DaemonProcess
from tests.servers.postgres import PostgresServer, migrated
from tests.servers.qbittorrent import QbtInstance, make_torrent
from tests.util import wait_until

PACK = "Adopt.Show.S01.1080p.WEB-DL.AAC.x264-ANNEX"
EXTRA = """
[worker]
poll_interval = 200
download_poll_interval = 300
encoder_poll_interval = 200
awaiting_poll_interval = 500
recovery_interval = 500
[writer]
flush_interval_ms = 200
[encoders]
local = true
"""


def season_pack(root: Path) -> tuple[Path, bytes, str]:
    pack = root / "downloads" / PACK
    for e in (1, 2):
        make_clip(pack / f"Adopt.Show.S01E0{e}.1080p.WEB-DL.AAC.x264-ANNEX.mkv", seconds=2, size="320x240")
    data, info_hash = make_torrent(pack)
    return pack, data, info_hash


def legacy_annex(url: str, qbt_url: str, library: Path, pack: Path, info_hash: str) -> None:
    """Annex, mid-download: a show's two episodes on a season pack it was downloading, a local target."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(ddl("dual"))
        b = Builder(cur, Library("dual", utcnow(), bytes(32)))
        b.insert("User", "u_carol", email="carol@example.org", username="carol")
        b.insert("StorageServer", "srv_local", name="Library", protocol="LOCAL", pathMovies=str(library / "movies"),
                 pathTv=str(library / "tv"), maxResolution="480p", preferredCodec="H264", mediaServerType="NONE")
        at = b.tick()
        b.insert("Setting", None, key="qbittorrent.url", value=json.dumps(qbt_url), updatedAt=at)
        b.request("req_show", "TV", "Adopt Show", 4711, "u_carol", year=2024, servers=("srv_local",), seasons=[1])
        b.insert("Download", "pack", requestId=b.lib.id("req_show"), torrentHash=info_hash, torrentName=PACK,
                 savePath=str(pack.parent), contentPath=str(pack), status="DOWNLOADING", isSeasonPack=True, season=1,
                 size=sum(f.stat().st_size for f in pack.iterdir()), createdAt=at, updatedAt=at)
        for e in (1, 2):
            b.item(f"e{e}", "req_show", "DOWNLOADING", season=1, episode=e, download="pack",
                   airDate=utcnow() - timedelta(days=30))
            b.episode(f"te{e}", "req_show", 1, e, "DOWNLOADING", download="pack", updated=b.tick(60))
    conn.close()


def test_adopted_season_pack_completes_without_a_new_grab(
        postgres_server: PostgresServer, qbt_downloader: QbtInstance, ffmpeg: Any,
        daemon_factory: Callable[..., DaemonProcess], tmp_path: Path) -> None:
    library = tmp_path / "library"
    for folder in (library / "movies", library / "tv"):
        folder.mkdir(parents=True)
    pack, data, info_hash = season_pack(tmp_path)
    qbt = qbt_downloader.api()
    qbt.torrents_add(torrent_files={"t.torrent": data}, save_path=str(pack.parent), is_paused=False,
                     is_skip_checking=True, category="annex")
    wait_until(lambda: any(t.hash == info_hash and t.progress == 1 for t in qbt.torrents_info()), timeout=30)
    before = {t.hash for t in qbt.torrents_info()}
    legacy = postgres_server.url(postgres_server.create_database())
    legacy_annex(legacy, qbt_downloader.url, library, pack, info_hash)
    target = postgres_server.url(postgres_server.create_database())
    with migrated(target):
        pass
    daemon = daemon_factory(tmp_path / "state", database_url=target)
    config = tmp_path / "annexd.toml"
    try:
        done = daemon.cli("import-annex", "--from", legacy, "--write-config", str(config), "--json")
        report = json.loads(done.stdout)
        assert report["items"] == {"DOWNLOADING": 2} and report["written"]["items_added"] == 2
        config.write_text(config.read_text() + EXTRA)
        daemon.env["ANNEX_CONFIG"] = str(config)
        daemon.start(migrate=False)
        code, page = daemon.call("GET", "/api/v1/requests")
        assert code == 200, page
        request = next(r for r in page["requests"] if r["title"] == "Adopt Show")
        assert request["legacy_id"] == cuid("req_show") and request["requested_by"] == "carol"

        def items() -> list[dict[str, Any]]:
            code, body = daemon.call("GET", f"/api/v1/requests/{request['id']}/items")
            assert code == 200, body
            return list(body["items"])

        assert {i["download_hash"] for i in items()} == {info_hash}
        wait_until(lambda: all(i["status"] == "COMPLETED" for i in items()), timeout=180)
    finally:
        daemon.stop()
    delivered = sorted(p.name for p in (library / "tv").rglob("*.mkv"))
    assert len(delivered) == 2 and all("S01E0" in name for name in delivered), delivered
    assert {t.hash for t in qbt.torrents_info()} <= before  # nothing added: the pack was never grabbed again
    assert not [e for e in daemon.logs() if e.get("event") == "grabbed"]
    with migrated(target) as db:
        rows = db.execute_sql("SELECT info_hash, owned FROM download").fetchall()
        assert rows == [(info_hash, True)]
        assert {r[0] for r in db.execute_sql("SELECT legacy_id FROM processing_item").fetchall()} == \
            {cuid("e1"), cuid("e2")}
    qbt.torrents_delete(delete_files=False, torrent_hashes=info_hash)
