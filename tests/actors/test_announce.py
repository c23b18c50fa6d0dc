"""AnnounceWorkers on a real PostgreSQL and a real IRC network (InspIRCd): a bot announcing in a shared
definition's format moves an AWAITING episode to FOUND (the release stored without its passkey, wrong channel
and wrong nick ignored); one daemon holds each network and another takes over when it stops or dies; two
networks announcing one release move the item once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pykka
import pytest

from actors.announce import AnnounceWorker, IrcBoard, health_check
from actors.context import ActorContext
from actors.download import DownloadWorker
from annexd import metrics
from annexd.clients.irc_settings import IrcSettings, with_definition_defaults
from annexd.config import Config
from annexd.domain.announce.definition import Definition, load_file
from annexd.domain.announce.grab import AnnounceSource, announce_links, announce_release
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.quality import QualityProfile
from annexd.domain.reconnect import ReconnectPolicy
from annexd.domain.releases import parse_release
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.errors import InvalidInputError
from store import queries
from store.models import utcnow
from tests.domain.announce.corpus import CORPUS
from tests.servers.ircd import IrcNetwork, RawClient
from tests.util import wait_until

PROFILE = QualityProfile(name="default", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")
FAST = ReconnectPolicy(initial=0.2, factor=2.0, max_delay=2.0, jitter=0.0, stable_after=5.0, storm_attempts=50)
SECRETS = {"authkey": "AUTH-announce-0001", "torrent_pass": "PASS-announce-0002", "passkey": "PK-announce-0003"}
BTN_CHANNEL, IPT_CHANNEL = "#BTN-Announce", "#ipt.announce"
NAME = "The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP"


def btn_lines(name: str = NAME, torrent_id: int = 9116) -> list[str]:
    return [f"NOW BROADCASTING! [ {name} ]", "[ Title: S06E07 ] [ Series: \x02The Show\x02 ]",
            "[ 2010 ] [ Episode ] [ MKV | x264 | WEB | P2P ] [ Uploader: Uploader1 ]",
            f"[ https://broadcasthe.net/torrents.php?id=7338 / https://broadcasthe.net/torrents.php?action=download"
            f"&id={torrent_id} ]"]


def ipt_line(name: str, torrent_id: int = 4242) -> str:
    return f"[TV/Web-DL] {name} - https://iptorrents.com/details.php?id={torrent_id} - 1.2 GB"


@pytest.fixture(scope="module")
def definitions() -> dict[str, Definition]:
    return {"btn": load_file(CORPUS / "btn.yaml"), "ipt": load_file(CORPUS / "iptorrents.yaml")}


class Daemon:
    """One daemon's view: its context (instance id, heartbeat) and the AnnounceWorkers it started."""

    def __init__(self, db: Any, instance: str):
        cfg = replace(Config(), quality_profiles=(PROFILE,))
        self.ctx = ActorContext(db=db, config=cfg, instance_id=instance)
        self.board = IrcBoard()
        self.refs: list[pykka.ActorRef[Any]] = []
        self.beat()

    def beat(self) -> None:
        with self.ctx.db.connection_context():
            queries.heartbeat(self.ctx.instance_id, "test-host", 1, utcnow())

    def start(self, settings: IrcSettings, definition: Definition) -> AnnounceWorker:
        settings = with_definition_defaults(settings, definition)
        source = AnnounceSource(settings.name, definition, SECRETS, "http://127.0.0.1:9/")
        ref = AnnounceWorker.start(self.ctx, 200, settings, source, self.board, resolve=lambda ref: "", policy=FAST)
        self.refs.append(ref)
        return ref._actor_weakref()  # type: ignore[no-any-return]  # the instance, to look at its client

    def state(self, network: str) -> str:
        return str(self.board.snapshot().get(network, {}).get("state"))


@pytest.fixture
def daemons(pg: Any) -> Iterator[Callable[[str], Daemon]]:
    made: list[Daemon] = []

    def make(instance: str) -> Daemon:
        made.append(Daemon(pg, instance))
        return made[-1]

    yield make
    for daemon in made:
        for ref in daemon.refs:
            ref.stop(block=True, timeout=20)


def settings(network: IrcNetwork, name: str, nick: str, definition: str) -> IrcSettings:
    return IrcSettings(name=name, nick=nick, definition=definition, server="127.0.0.1", port=network.port,
                       tls=False)


def bot(network: IrcNetwork, nick: str, *channels: str) -> RawClient:
    client = RawClient(network.port, nick)
    client.expect(" 001 ")
    for channel in channels:
        client.send(f"JOIN {channel}")
        client.expect("JOIN")
    return client


def say(client: RawClient, channel: str, *lines: str) -> None:
    for line in lines:
        client.send(f"PRIVMSG {channel} :{line}")
    client.sync()


def awaiting_episode(db: Any, title: str = "The Show", season: int = 6, episode: int = 7) -> int:
    spec = RequestSpec(kind="tv", title=title,
                       episodes=(EpisodeSpec(season, episode, "", utcnow().date() + timedelta(days=1)),))
    with db.connection_context():
        req = queries.create_request(spec, utcnow())
        [row] = queries.request_items(req.id)
    assert row.status == S.AWAITING
    return int(row.id)


def item(db: Any, item_id: int) -> Any:
    with db.connection_context():
        return queries.get_item(item_id)


def joined(daemon: Daemon, network: str, channel: str) -> bool:
    state = daemon.board.snapshot().get(network, {})
    return state.get("state") == "connected" and channel.lower() in {c.lower() for c in state.get("joined", ())}


def counts(network: str) -> tuple[float, float, float]:
    return tuple(c.labels(network)._value.get() for c in (  # type: ignore[return-value]
        metrics.IRC_ANNOUNCES_PARSED, metrics.IRC_ANNOUNCES_MATCHED, metrics.IRC_ANNOUNCES_GRABBED))


def test_an_announce_for_an_awaiting_episode_finds_it_and_other_lines_are_ignored(
        pg: Any, irc_network: IrcNetwork, daemons: Callable[[str], Daemon], definitions: dict[str, Definition]) -> None:
    item_id = awaiting_episode(pg)
    daemon = daemons("daemon-a")
    daemon.start(settings(irc_network, "btn-a", f"annexa{time.monotonic_ns() % 10**6}", "btn"), definitions["btn"])
    wait_until(lambda: joined(daemon, "btn-a", BTN_CHANNEL), timeout=30, what="the worker to join")
    before = counts("btn-a")
    barney, mallory = bot(irc_network, "Barney", BTN_CHANNEL, "#chatter"), bot(irc_network, "Mallory", BTN_CHANNEL)
    say(mallory, BTN_CHANNEL, *btn_lines())  # not an announcer
    say(barney, "#chatter", *btn_lines())  # not an announce channel (the worker is not even there)
    time.sleep(1.0)  # nothing may happen: give a wrong move the time it would need
    assert item(pg, item_id).status == S.AWAITING and counts("btn-a") == before
    assert daemon.board.snapshot()["btn-a"]["ignored_lines"] == 4

    say(barney, BTN_CHANNEL, *btn_lines())
    found = wait_until(lambda: (i := item(pg, item_id)).status == S.FOUND and i, timeout=20, what="FOUND")
    release = found.release
    assert release["title"] == NAME and release["indexer"] == "btn-a" and release["download_url"] is None
    assert not any(secret in json.dumps(release) for secret in SECRETS.values())
    assert release["announce"]["vars"]["torrentId"] == "9116"
    source = AnnounceSource("btn-a", definitions["btn"], SECRETS, "http://127.0.0.1:9/")
    assert "torrent_pass=PASS-announce-0002" in str(announce_links(release, {"btn-a": source})[0])
    wait_until(lambda: counts("btn-a") == (before[0] + 1, before[1] + 1, before[2] + 1), timeout=5,
               what="parsed, matched and grabbed counted")
    assert metrics.IRC_LAST_ANNOUNCE.labels("btn-a", BTN_CHANNEL)._value.get() > time.time() - 60
    assert metrics.IRC_CONNECTED.labels("btn-a")._value.get() == 1
    assert health_check(daemon.board)[0]
    for client in (barney, mallory):
        client.close()


def test_one_daemon_holds_a_network_and_another_takes_over(
        pg: Any, irc_network: IrcNetwork, daemons: Callable[[str], Daemon], definitions: dict[str, Definition]) -> None:
    a, b = daemons("daemon-a"), daemons("daemon-b")
    nick = f"holder{time.monotonic_ns() % 10**6}"
    worker_a = a.start(settings(irc_network, "btn-h", nick, "btn"), definitions["btn"])
    wait_until(lambda: joined(a, "btn-h", BTN_CHANNEL), timeout=30, what="daemon a to connect")
    b.start(settings(irc_network, "btn-h", nick + "b", "btn"), definitions["btn"])
    wait_until(lambda: b.state("btn-h") == "standby", timeout=10, what="daemon b on standby")
    time.sleep(1.0)  # five ticks of b: it stays on standby while a holds the network
    assert b.board.snapshot()["btn-h"] == {"state": "standby", "reason": "held by daemon-a", "held_by": "daemon-a"}
    assert joined(a, "btn-h", BTN_CHANNEL)

    # a stops cleanly: it gives the network up at once, and b connects
    a.refs[0].stop(block=True, timeout=20)
    assert worker_a.client is None
    wait_until(lambda: joined(b, "btn-h", BTN_CHANNEL), timeout=30, what="daemon b to take over")

    # b dies without a word (its heartbeat is gone: found dead on its host), a new daemon c takes over
    c = daemons("daemon-c")
    c.start(settings(irc_network, "btn-h", nick + "c", "btn"), definitions["btn"])
    wait_until(lambda: c.state("btn-h") == "standby", timeout=10, what="daemon c on standby")
    with pg.connection_context():
        queries.forget_instances(["daemon-b"])
    wait_until(lambda: joined(c, "btn-h", BTN_CHANNEL), timeout=30, what="daemon c to take over from a dead b")
    wait_until(lambda: b.state("btn-h") == "standby", timeout=10, what="b, still running, to let go")


def test_two_networks_announcing_one_release_move_the_item_once(
        pg: Any, irc_network: IrcNetwork, daemons: Callable[[str], Daemon], definitions: dict[str, Definition]) -> None:
    item_id = awaiting_episode(pg, "Twin Show", 2, 3)
    name = "Twin.Show.S02E03.1080p.WEB-DL.AAC.x264-TWIN"
    daemon = daemons("daemon-a")
    tag = time.monotonic_ns() % 10**6
    daemon.start(settings(irc_network, "btn-t", f"twinb{tag}", "btn"), definitions["btn"])
    daemon.start(settings(irc_network, "ipt-t", f"twini{tag}", "ipt"), definitions["ipt"])
    wait_until(lambda: joined(daemon, "btn-t", BTN_CHANNEL) and joined(daemon, "ipt-t", IPT_CHANNEL), timeout=30,
               what="both networks joined")
    before = {n: counts(n) for n in ("btn-t", "ipt-t")}
    barney, ipt = bot(irc_network, "Barney", BTN_CHANNEL), bot(irc_network, "IPT", IPT_CHANNEL)
    barney.send(f"PRIVMSG {BTN_CHANNEL} :" + f"\r\nPRIVMSG {BTN_CHANNEL} :".join(btn_lines(name)[:3]))
    barney.sync()
    gate = threading.Barrier(2)

    def last_line(client: RawClient, channel: str, line: str) -> None:
        gate.wait()
        say(client, channel, line)

    threads = [threading.Thread(target=last_line, args=(barney, BTN_CHANNEL, btn_lines(name)[3])),
               threading.Thread(target=last_line, args=(ipt, IPT_CHANNEL, ipt_line(name)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    wait_until(lambda: all(counts(n)[0] == before[n][0] + 1 for n in before), timeout=20, what="both announces read")
    wait_until(lambda: sum(counts(n)[1] - before[n][1] for n in before) == 2, timeout=20, what="both matched")
    grabbed = {n: counts(n)[2] - before[n][2] for n in before}
    assert sorted(grabbed.values()) == [0, 1], grabbed
    found = item(pg, item_id)
    assert found.status == S.FOUND and found.release["indexer"] == next(n for n, g in grabbed.items() if g)
    for client in (barney, ipt):
        client.close()


def test_the_download_worker_builds_the_link_only_for_a_configured_network(definitions: dict[str, Definition]) -> None:
    source = AnnounceSource("btn-a", definitions["btn"], SECRETS, "http://127.0.0.1:9/")
    worker = DownloadWorker(ActorContext(db=None, config=Config()), 1000, {},  # type: ignore[arg-type]
                            announce_sources={"btn-a": source})
    vars = {"torrentName": NAME, "title": "The Show", "torrentId": "9116", "groupId": "7338"}
    stored = announce_release(vars, source, parse_release, utcnow()).to_dict()
    rebuilt = worker.with_announce_links(stored)
    assert rebuilt["download_url"].endswith("&authkey=AUTH-announce-0001&torrent_pass=PASS-announce-0002")
    assert stored["download_url"] is None  # the stored release is left as it was
    gone = {**stored, "announce": {**stored["announce"], "network": "removed-from-config"}}
    with pytest.raises(InvalidInputError, match="'removed-from-config' that announced it is not configured"):
        worker.fetch(gone)  # the grab fails like a dead link: blocklisted, the next alternative is taken
