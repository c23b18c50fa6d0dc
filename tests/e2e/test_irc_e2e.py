"""IRC announces end to end through the daemon with real components: annexd (a process) joins a real IRC
network (InspIRCd + Anope: TLS and NickServ) with a shared definition (btn: four lines per announce), ignores
lines from a wrong nick or outside the announce channel, reconnects after the server restarts, then an announce
for an AWAITING episode is parsed, matched, grabbed from a fake tracker with the passkeys put back at grab time
(real qBittorrent), encoded (real ffmpeg), delivered and COMPLETED. A wrong NickServ password stops the
network for good with a clear health check."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.domain.announce.corpus import CORPUS
from tests.fakes.torznab import serve_in_thread
from tests.media import make_clip
from tests.scenario import TorrentIndexer, daemon_cli
from tests.servers.annexd import DaemonProcess
from tests.servers.ircd import IrcNetwork, RawClient
from tests.servers.qbittorrent import PeerIntroducer
from tests.util import wait_until

CHANNEL = "#BTN-Announce"
NAME = "The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP"
FOLDER = "The.Show.S06E07.720p.WEB-DL.DD5.1.H.264-LP"
AUTHKEY, TORRENT_PASS, NICKSERV = "e2e-authkey-7f3a9c", "e2e-torrent-pass-51be", "e2e-nickserv-pw-88"
SECRETS = (AUTHKEY, TORRENT_PASS, NICKSERV)


def btn_lines(torrent_id: int) -> list[str]:
    return [f"NOW BROADCASTING! [ {NAME} ]", "[ Title: S06E07 ] [ Series: \x02The Show\x02 ]",
            "[ 2010 ] [ Episode ] [ MKV | x264 | WEB | P2P ] [ Uploader: Uploader1 ]",
            f"[ https://broadcasthe.net/torrents.php?id=7338 / https://broadcasthe.net/torrents.php?action=download"
            f"&id={torrent_id} ]"]


class FakeTracker:
    """The tracker's download link: the .torrent for ``/torrents.php?action=download&id=N`` only with the right
    authkey and torrent_pass (what annexd must put back at grab time)."""

    def __init__(self, torrents: dict[str, bytes]):
        self.torrents, self.fetches = torrents, []
        app = web.Application()
        app.router.add_get("/torrents.php", self.download)
        self.url, self.stop = serve_in_thread(app)

    async def download(self, request: web.Request) -> web.Response:
        query = request.query
        self.fetches.append(dict(query))
        if (query.get("authkey"), query.get("torrent_pass")) != (AUTHKEY, TORRENT_PASS):
            return web.Response(status=403)
        data = self.torrents.get(query.get("id", ""))
        return web.Response(body=data, content_type="application/x-bittorrent") if data else web.Response(status=404)


def definitions_folder(root: Path) -> Path:
    folder = root / "definitions"
    folder.mkdir(parents=True)
    shutil.copy(CORPUS / "btn.yaml", folder / "btn.yaml")  # for this run only, never into the repository
    return folder


def irc_config(root: Path, network: IrcNetwork, nick: str, base_url: str) -> str:
    return f"""
[announce]
definitions_dir = "{definitions_folder(root)}"

[[irc]]
name = "btn"
definition = "btn"
server = "127.0.0.1"
port = {network.tls_port}
tls_ca_file = "{network.ca_file}"
nick = "{nick}"
password = "env:E2E_NICKSERV"
settings = {{ authkey = "env:E2E_AUTHKEY", torrent_pass = "secret:btn_torrent_pass" }}
base_url = "{base_url}/"
"""


def pipeline_config(root: Path, indexer_url: str, qbt_url: str) -> str:
    (root / "library").mkdir(parents=True)
    return f"""
[worker]
poll_interval = 300
download_poll_interval = 500
encoder_poll_interval = 300

[writer]
flush_interval_ms = 250

[[indexers]]
name = "indexer"
url = "{indexer_url}"
api_key = "irc-e2e-indexer-key"
min_interval = 0.0
rss = false

[[quality_profiles]]
name = "hd"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"

[[download_clients]]
name = "qbittorrent"
url = "{qbt_url}"
category = "annexd-irc-e2e"

[[encode_profiles]]
name = "fast"
codec = "libx264"
crf = 30
preset = "ultrafast"
max_height = 240
audio = "aac"

[[targets]]
name = "library"
protocol = "local"
movie_root = "{root}/library/movies"
tv_root = "{root}/library/tv"
encode_profile = "fast"
"""


def start_daemon(daemon: DaemonProcess, torrent_pass: str) -> None:
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    daemon.cli("migrate")
    subprocess.run([*daemon_cli(), "secret", "set", "btn_torrent_pass"], input=torrent_pass, env=daemon.env,
                   text=True, capture_output=True, timeout=60, check=True)
    daemon.start(migrate=False)


def irc_state(daemon: DaemonProcess) -> dict[str, Any]:
    check = daemon.get("/health")[1]["checks"]["irc"]
    return {"ok": check["ok"], **check["detail"]["networks"]["btn"], "problem": check["detail"].get("problem")}


def joined(daemon: DaemonProcess) -> bool:
    state = irc_state(daemon)
    return state["state"] == "connected" and CHANNEL in state["joined"]


def bot(network: IrcNetwork, nick: str) -> RawClient:
    client = RawClient(network.port, nick)
    client.expect(" 001 ")
    client.send(f"JOIN {CHANNEL}")
    client.expect("JOIN")
    return client


def say(client: RawClient, target: str, lines: list[str]) -> None:
    for line in lines:
        client.send(f"PRIVMSG {target} :{line}")
    client.sync()


def test_an_announce_is_grabbed_and_completed_after_ignored_lines_and_a_server_restart(
        tmp_path, irc_network, qbt_pair, ffmpeg, postgres_server, daemon_factory):
    content = tmp_path / "content" / FOLDER
    content.mkdir(parents=True)
    make_clip(content / f"{FOLDER}.mkv", seconds=2, size="320x240")
    torrent, info_hash = qbt_pair.seed(content)
    tracker = FakeTracker({"9116": torrent})
    indexer = TorrentIndexer(api_key="irc-e2e-indexer-key")
    indexer.torrents = {}
    indexer.results = lambda params: []  # searches find nothing: the episode waits for an announce
    indexer.start()
    nick = f"annexd{time.monotonic_ns() % 10**6}"
    irc_network.register(nick, NICKSERV)
    config = tmp_path / "annexd.toml"
    config.write_text(pipeline_config(tmp_path, indexer.base_url, qbt_pair.downloader.url)
                      + irc_config(tmp_path, irc_network, nick, tracker.url))
    peers = PeerIntroducer(qbt_pair.downloader, qbt_pair.seeder, interval=0.5).start()
    daemon = daemon_factory(tmp_path / "state", database_url=postgres_server.url(postgres_server.create_database()),
                            env={"ANNEX_CONFIG": str(config), "E2E_NICKSERV": NICKSERV, "E2E_AUTHKEY": AUTHKEY})
    bots: list[RawClient] = []
    try:
        start_daemon(daemon, TORRENT_PASS)
        code, created = daemon.call("POST", "/api/v1/requests", {
            "type": "tv", "title": "The Show", "targets": ["library"], "quality_profile": "hd",
            "episodes": [{"season": 6, "episode": 7, "title": "Seven", "air_date": "2024-01-01"}]})
        assert code == 201, created
        items_path = f"/api/v1/requests/{created['id']}/items"

        def item() -> dict[str, Any]:
            return daemon.get(items_path)[1]["items"][0]

        wait_until(lambda: item()["status"] == "AWAITING", timeout=60, what="searched, nothing found: AWAITING")
        wait_until(lambda: joined(daemon), timeout=60, what="annexd to identify with NickServ and join over TLS")

        mallory = bot(irc_network, "Mallory")
        barney = bot(irc_network, "Barney")
        bots += [mallory, barney]
        say(mallory, CHANNEL, btn_lines(9116))  # a wrong nick in the right channel
        say(barney, nick, btn_lines(9116))  # the right nick, but in private: not the announce channel
        wait_until(lambda: irc_state(daemon)["ignored_lines"] == 4, timeout=20, what="Mallory's lines ignored")
        assert item()["status"] == "AWAITING" and tracker.fetches == []

        irc_network.restart()  # the server goes away and comes back: annexd reconnects and identifies again
        wait_until(lambda: irc_state(daemon)["sessions"] >= 2 and joined(daemon), timeout=120,
                   what="annexd to reconnect after the restart")
        barney = bot(irc_network, "Barney")
        bots.append(barney)
        announced = time.monotonic()
        say(barney, CHANNEL, btn_lines(9116))
        wait_until(lambda: item()["status"] not in ("AWAITING",), timeout=30, what="the announce to find the item")
        found_after = time.monotonic() - announced
        done = wait_until(lambda: (i := item())["status"] in ("COMPLETED", "FAILED") and i, timeout=240,
                          what="the episode COMPLETED")
        assert done["status"] == "COMPLETED", done
        assert [d["status"] for d in done["deliveries"]] == ["DONE"]
        torrents = qbt_pair.downloader.api().torrents_info(category="annexd-irc-e2e")
        assert [t.hash for t in torrents] == [info_hash]  # grabbed once
        assert len(tracker.fetches) == 1 and tracker.fetches[0]["id"] == "9116"  # passkeys put back at grab time

        with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        for line in ('annexd_irc_connected{network="btn"} 1.0', 'annexd_irc_announces_parsed_total{network="btn"} 1.0',
                     'annexd_irc_announces_grabbed_total{network="btn"} 1.0',
                     'annexd_irc_last_announce_timestamp_seconds{channel="#BTN-Announce",network="btn"}'):
            assert line in metrics, line
        stored = json.dumps([daemon.get(items_path)[1], daemon.get(f"/api/v1/requests/{created['id']}")[1]])
        logs = daemon.logs()
        assert not any(secret in stored or secret in json.dumps(logs) for secret in SECRETS)
        [event] = [e for e in logs if e.get("event") == "irc_announce"]
        assert event["outcome"] == "matched" and event["found"] == 1
        print(f"announce to FOUND: {found_after:.2f} s (daemon side {event['seconds']} s)")
    finally:
        for client in bots:
            client.close()
        daemon.stop()
        peers.stop()
        tracker.stop()
        indexer.stop()


def test_a_wrong_nickserv_password_stops_the_network_with_a_clear_health_check(
        tmp_path, irc_network, daemon_factory):
    nick = f"wrongpw{time.monotonic_ns() % 10**6}"
    irc_network.register(nick, NICKSERV)
    config = tmp_path / "annexd.toml"
    config.write_text(irc_config(tmp_path, irc_network, nick, "http://127.0.0.1:9"))
    daemon = daemon_factory(tmp_path / "state", env={"ANNEX_CONFIG": str(config), "E2E_NICKSERV": "not-it-0042",
                                                     "E2E_AUTHKEY": AUTHKEY})
    try:
        start_daemon(daemon, TORRENT_PASS)
        wait_until(lambda: irc_state(daemon)["state"] == "fatal", timeout=60, what="the fatal state in /health")
        time.sleep(7.0)  # past the first reconnect delay (5 s, +20 % jitter): no second attempt may come
        state = irc_state(daemon)
        assert state["ok"] is False and state["state"] == "fatal" and state["sessions"] == 1
        assert "NickServ refused the password" in state["reason"]
        assert state["problem"].startswith("btn: fatal: NickServ refused the password")
        connects = [e for e in daemon.logs() if e.get("event") == "irc.connecting"]
        assert len(connects) == 1, connects
        health = json.dumps(daemon.get("/health")[1]) + json.dumps(daemon.logs())
        assert "not-it-0042" not in health and AUTHKEY not in health
    finally:
        assert daemon.stop() == 0
