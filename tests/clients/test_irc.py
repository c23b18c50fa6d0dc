"""The IRC announce client against a real IRC network (InspIRCd with Anope's NickServ and SASL) on loopback:
a bot announces in a shared definition's format (btn: four lines per announce)."""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from annexd.clients.irc import Announce, IrcAnnounceClient, LinkState, definition_values
from annexd.clients.irc_settings import IrcSettings
from annexd.domain.announce.definition import Definition, load_file
from annexd.domain.reconnect import ReconnectPolicy
from tests.domain.announce.corpus import CORPUS
from tests.servers.ircd import IrcNetwork, RawClient

CHANNEL = "#BTN-Announce"
BTN_LINES = [
    "NOW BROADCASTING! [ The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP ]",
    "[ Title: S06E07 ] [ Series: \x02The Show\x02 ]",
    "[ 2010 ] [ Episode ] [ MKV | x264 | WEB | P2P ] [ Uploader: Uploader1 ]",
    "[ https://broadcasthe.net/torrents.php?id=7338 / https://broadcasthe.net/torrents.php?action=download&id=9116 ]",
]
FAST = ReconnectPolicy(initial=0.2, factor=2.0, max_delay=2.0, jitter=0.0, stable_after=5.0, storm_attempts=50)
_nicks = itertools.count(1)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def btn() -> Definition:
    return load_file(CORPUS / "btn.yaml")


@pytest.fixture
def account(irc_network: IrcNetwork) -> tuple[str, str]:
    nick, password = f"annex{next(_nicks)}x{time.monotonic_ns() % 100000}", "s3cret-pass"
    irc_network.register(nick, password)
    return nick, password


class Harness:
    def __init__(self, network: IrcNetwork, definition: Definition, settings: IrcSettings,
                 secrets: dict[str, str]):
        self.announces: queue.Queue[Announce] = queue.Queue()
        self.client = IrcAnnounceClient(settings, definition, self.announces.put, resolve=secrets.__getitem__,
                                         policy=FAST)
        self.network = network

    def joined(self) -> bool:
        return self.client.state is LinkState.CONNECTED and CHANNEL.lower() in {c.lower() for c in
                                                                                  self.client.joined}

    def bot(self, nick: str, channel: str = CHANNEL) -> RawClient:
        bot = RawClient(self.network.port, nick)
        bot.expect(" 001 ")
        bot.send(f"JOIN {channel}")
        bot.expect("JOIN")
        return bot


@pytest.fixture
def harness_factory(irc_network: IrcNetwork, btn: Definition) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(settings: IrcSettings, secrets: dict[str, str]) -> Harness:
        h = Harness(irc_network, btn, settings, secrets)
        made.append(h)
        h.client.start()
        return h

    yield make
    for h in made:
        h.client.stop()


def settings_for(network: IrcNetwork, nick: str, **changes: object) -> IrcSettings:
    base = IrcSettings(name="AnnexdTest", server="127.0.0.1", port=network.port, nick=nick, definition="btn",
                       tls=False, password="secret:irc", settings={"authkey": "secret:authkey"})
    return replace(base, **changes)  # type: ignore[arg-type]


def announce(bot: RawClient, lines: list[str], channel: str = CHANNEL) -> None:
    for line in lines:
        bot.send(f"PRIVMSG {channel} :{line}")
        bot.sync()


def test_tls_sasl_client_assembles_only_the_announcers_lines(
        irc_network: IrcNetwork, account: tuple[str, str], harness_factory: Callable[..., Harness]) -> None:
    nick, password = account
    h = harness_factory(settings_for(irc_network, nick, port=irc_network.tls_port, tls=True,
                                     tls_ca_file=str(irc_network.ca_file), sasl=True), {"secret:irc": password})
    wait_for(h.joined, what="the client to join over TLS with SASL")
    barney, mallory = h.bot("Barney"), h.bot("Mallory")
    h.client.connection.join("#chatter")  # however it got there, another channel's lines must not count
    barney.send("JOIN #chatter")
    wait_for(lambda: "#chatter" in h.client.joined, what="#chatter joined")

    announce(barney, BTN_LINES[:1])
    announce(mallory, ["[ Title: S01E01 ] [ Series: Fake ]"])  # wrong nick, right channel
    announce(barney, ["[ Title: S01E01 ] [ Series: Elsewhere ]"], channel="#chatter")  # wrong channel
    barney.send(f"PRIVMSG {h.client.connection.get_nickname()} :[ Title: S01E01 ] [ Series: Private ]")
    announce(barney, BTN_LINES[1:])

    got = h.announces.get(timeout=15)
    assert got.channel == CHANNEL and got.network == "AnnexdTest" and got.definition.identifier == "btn"
    assert got.vars["title"] == "The Show" and got.vars["torrentId"] == "9116"
    assert got.vars["torrentName"] == "The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP"
    assert h.announces.empty()
    health = h.client.health()
    assert health["healthy"] and health["ignored_lines"] == 2
    assert health["channels"][CHANNEL]["announces"] == 1 and health["channels"][CHANNEL]["lines"] == 4
    for bot in (barney, mallory):
        bot.close()


def test_server_restart_reconnects_and_identifies_with_nickserv(
        irc_network: IrcNetwork, account: tuple[str, str], harness_factory: Callable[..., Harness]) -> None:
    nick, password = account
    h = harness_factory(settings_for(irc_network, nick), {"secret:irc": password})
    wait_for(h.joined, what="the client to identify and join")

    irc_network.restart()
    wait_for(lambda: h.client.health()["sessions"] >= 2 and h.joined(), what="the client to reconnect and rejoin")
    barney = h.bot("Barney")
    announce(barney, BTN_LINES)
    assert h.announces.get(timeout=15).vars["groupId"] == "7338"
    barney.close()


@pytest.mark.parametrize("sasl", [False, True], ids=["nickserv", "sasl"])
def test_wrong_password_stops_reconnecting_with_a_fatal_state(
        irc_network: IrcNetwork, account: tuple[str, str], harness_factory: Callable[..., Harness],
        sasl: bool) -> None:
    nick, _ = account
    h = harness_factory(settings_for(irc_network, nick, sasl=sasl), {"secret:irc": "not-the-password"})
    wait_for(lambda: h.client.state is LinkState.FATAL, what="the fatal state")
    health = h.client.health()
    assert not health["healthy"] and health["state"] == "fatal"
    assert ("SASL" if sasl else "NickServ") in health["reason"]
    assert "not-the-password" not in str(health)
    wait_for(lambda: not h.client._thread.is_alive(), timeout=15, what="the client to give up")
    assert not h.client.connection.is_connected() and h.client.state is LinkState.FATAL


def test_unreachable_server_backs_off(irc_network: IrcNetwork, harness_factory: Callable[..., Harness]) -> None:
    from tests.servers.sshd import free_port

    h = harness_factory(settings_for(irc_network, "nobody", port=free_port(), password=""), {})
    wait_for(lambda: h.client.reconnects.failures >= 3, what="three failed attempts")
    assert h.client.state is LinkState.WAITING and "cannot connect" in h.client.reason


def test_invite_command_gets_the_client_into_an_invite_only_channel(
        irc_network: IrcNetwork, harness_factory: Callable[..., Harness]) -> None:
    inviter = RawClient(irc_network.port, "Satsuki")
    inviter.expect(" 001 ")
    inviter.send("JOIN #invite-only")
    inviter.expect("JOIN")
    inviter.send("MODE #invite-only +i")
    inviter.sync()
    h = harness_factory(settings_for(irc_network, "invitee", password="", channels=("#invite-only",),
                                     invite_command="secret:invite"), {"secret:invite": "Satsuki invite KEY123"})
    request = inviter.expect("PRIVMSG Satsuki :invite KEY123")
    inviter.send(f"INVITE {request[1:].split('!')[0]} #invite-only")
    wait_for(lambda: "#invite-only" in h.client.joined, what="the join after the invite")
    assert h.client.state is LinkState.CONNECTED
    inviter.close()


def test_an_unresolvable_secret_is_fatal(irc_network: IrcNetwork, harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(settings_for(irc_network, "nosecret"), {})
    wait_for(lambda: h.client.state is LinkState.FATAL, what="the fatal state")
    assert "secret reference" in h.client.reason


def test_definition_settings_resolve_for_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTN_AUTHKEY", "ak-123")
    settings = IrcSettings(name="n", server="s", port=1, nick="x", definition="btn",
                           settings={"authkey": "env:BTN_AUTHKEY", "torrent_pass": ""})
    assert definition_values(settings) == {"authkey": "ak-123"}
