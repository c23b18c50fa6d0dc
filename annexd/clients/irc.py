"""The IRC announce client: one network, one definition's channels, announces handed to a callback.

Library: ``irc`` (jaraco, PyPI) rather than ``pydle`` or ``bottom``. All three speak TLS; ``irc`` is the most
used and longest maintained of them, has SASL PLAIN built in (``connect(sasl_login=…)``), parses numerics into
named events, and runs a synchronous reactor that fits annexd's threads (pykka actors, no asyncio in workers).
``pydle`` (SASL, reconnect delays) and ``bottom`` (a bare protocol layer) are asyncio-only and would need an
event loop thread of their own. None of them has a circuit breaker, fatal-cause detection or NickServ, so
those are here (the rules in annexd.domain.announce.ircrules, the timing in annexd.domain.reconnect).
Keepalive is ours too: ``set_keepalive`` adds a scheduler job per connect and never notices a dead link; the
loop below pings when the link is idle and drops it when nothing came back.

The client joins the definition's channels (after the invite command, if any, and after NickServ accepted the
password when NickServ is used), takes only PRIVMSGs from those channels and the definition's announcers,
and feeds one queue per channel to its own consumer thread, which assembles announces (multi-line ones too)
and calls ``on_announce``. It reconnects with backoff; a reconnect storm opens a circuit breaker; a fatal
cause (wrong password, a ban) stops it for good with ``state == FATAL`` and the reason in ``health()``.
Passwords are secret references, resolved at connect time and never logged (the library's debug log of every
sent line, AUTHENTICATE and IDENTIFY included, is raised to INFO).
"""

from __future__ import annotations

import enum
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import irc.client
import irc.events
import structlog
from jaraco.stream import buffer

from annexd import secrets
from annexd.clients.irc_settings import IrcSettings
from annexd.domain.announce import ircrules
from annexd.domain.announce.assembler import Assembler
from annexd.domain.announce.definition import Definition
from annexd.domain.reconnect import ReconnectPolicy, Reconnects
from annexd.secrets import Secret, reveal

log = structlog.get_logger(__name__)
logging.getLogger("irc.client").setLevel(logging.INFO)  # its DEBUG log prints every sent line, passwords too

CONNECT_TIMEOUT = 15.0
IDENTIFY_TIMEOUT = 20.0
IDENTIFY_RETRY = 2.0  # NickServ not on the network yet (services still linking after a restart)
QUEUE_SIZE = 128  # lines per channel, as autobrr; the reader waits when a channel's consumer falls behind
QUEUE_PUT_TIMEOUT = 30.0
TICK = 0.2
_FATAL_EVENTS = {str(irc.events.numeric[code]): code for code in ircrules.FATAL_NUMERICS}


class _ReplacingLineBuffer(buffer.DecodingLineBuffer):
    errors = "replace"  # announcers are not always UTF-8; a bad byte must not stop the reader


class LinkState(enum.StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    IDENTIFYING = "identifying"
    CONNECTED = "connected"
    WAITING = "waiting"          # backing off before the next attempt
    CIRCUIT_OPEN = "circuit_open"  # too many reconnects in a short time: a long pause
    FATAL = "fatal"              # wrong password, banned: no more attempts until a person acts


@dataclass(frozen=True)
class Announce:
    """A completed announce: all lines' vars after mappings (the seam for matching and grabbing)."""

    network: str
    channel: str
    definition: Definition
    vars: dict[str, str]
    received_at: float


Resolver = Callable[[str], "str | Secret"]


def definition_values(settings: IrcSettings, resolve: Resolver = secrets.resolve) -> dict[str, str]:
    """The definition's settings (passkey…) resolved, for ``build_release``; blank ones left out."""
    values = {name: reveal(resolve(ref)) for name, ref in settings.settings.items() if ref}
    return {name: value for name, value in values.items() if value}


def _tls_context(settings: IrcSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.tls_ca_file or None)
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_factory(settings: IrcSettings) -> Callable[[tuple[str, int]], socket.socket]:
    """A socket to the server, with a connect timeout, wrapped in TLS when the settings ask for it."""
    def connect(address: tuple[str, int]) -> socket.socket:
        sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
        if settings.tls:
            sock = _tls_context(settings).wrap_socket(sock, server_hostname=address[0])
        sock.settimeout(None)
        return sock
    return connect


@dataclass
class _ChannelStats:
    lines: int = 0
    announces: int = 0
    last_announce: float | None = None


class _ChannelConsumer(threading.Thread):
    """One channel's queue: lines in arrival order through the assembler; completed announces out."""

    def __init__(self, client: IrcAnnounceClient, channel: str):
        super().__init__(name=f"irc-{client.settings.name}-{channel}", daemon=True)
        self.client, self.channel = client, channel
        self.lines: queue.Queue[str | None] = queue.Queue(QUEUE_SIZE)
        self.assembler = Assembler(client.definition)
        self.stats = _ChannelStats()

    def run(self) -> None:
        while (line := self.lines.get()) is not None:
            try:
                self._consume(line)
            except Exception:  # a bad line or a failing callback must not stop the channel
                log.exception("irc.announce_failed", network=self.client.settings.name, channel=self.channel)

    def _consume(self, line: str) -> None:
        self.stats.lines += 1
        step = self.assembler.feed(line)
        if not step.matched:
            log.debug("irc.line_not_matched", channel=self.channel, slot=step.slot)
        if step.announce is not None:
            self.stats.announces += 1
            self.stats.last_announce = time.time()
            self.client.on_announce(Announce(self.client.settings.name, self.channel, self.client.definition,
                                             step.announce, self.stats.last_announce))


class IrcAnnounceClient:
    """Connects to one network and hands completed announces to ``on_announce`` (from a channel thread)."""

    def __init__(self, settings: IrcSettings, definition: Definition, on_announce: Callable[[Announce], None],
                 resolve: Resolver = secrets.resolve, policy: ReconnectPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings, self.definition, self.on_announce = settings, definition, on_announce
        self.resolve, self.clock = resolve, clock
        self.channels = settings.channels or definition.irc.channels
        self.reconnects = Reconnects(policy or ReconnectPolicy())
        self.state, self.reason = LinkState.STOPPED, ""
        self.connected_at: float | None = None
        self.next_attempt = 0.0
        self.last_seen = self.last_ping = self.identify_deadline = 0.0
        self.identify_retry_at: float | None = None
        self.resolved: dict[str, str] = {}
        self.joined: set[str] = set()
        self.ignored_lines = 0
        self.sessions = 0  # registrations so far: more than one means it reconnected
        self.reactor = irc.client.Reactor()
        self.connection = self.reactor.server()
        self.connection.buffer_class = _ReplacingLineBuffer
        self.consumers = {c.lower(): _ChannelConsumer(self, c) for c in self.channels}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"irc-{settings.name}", daemon=True)
        self._install_handlers()

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        for consumer in self.consumers.values():
            consumer.start()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for consumer in self.consumers.values():
            if consumer.is_alive():
                consumer.lines.put(None)
                consumer.join(timeout)
        if self.state is not LinkState.FATAL:
            self.state = LinkState.STOPPED

    def health(self) -> dict[str, Any]:
        """What a health check shows: the state, why, and each channel's last announce (epoch seconds)."""
        return {
            "network": self.settings.name, "definition": self.definition.identifier,
            "state": self.state.value, "reason": self.reason, "healthy": self.state is LinkState.CONNECTED,
            "joined": sorted(self.joined), "ignored_lines": self.ignored_lines, "sessions": self.sessions,
            "channels": {c.channel: {"lines": c.stats.lines, "announces": c.stats.announces,
                                     "last_announce": c.stats.last_announce} for c in self.consumers.values()},
        }

    def _run(self) -> None:
        while not self._stopping.is_set() and self.state is not LinkState.FATAL:
            now = self.clock()
            if not self.connection.is_connected() and now >= self.next_attempt:
                self._connect(now)
            try:
                self.reactor.process_once(TICK)
            except irc.client.ServerNotConnectedError:
                pass  # a handler sent after the server closed the link; the disconnect event follows
            except Exception:  # a protocol surprise drops this connection, never the client
                log.exception("irc.reader_failed", network=self.settings.name)
                self.connection.disconnect("reader failed")
            self._housekeeping(self.clock())
        if self.connection.is_connected():
            self.connection.disconnect("annexd: " + (self.reason[:80] if self.state is LinkState.FATAL else "stopping"))

    # --- connecting -----------------------------------------------------------------------------------
    def _secret(self, ref: str) -> str:
        return self.resolved.get(ref, "")

    def _resolve_secrets(self) -> bool:
        """Resolves every secret reference for this connection; a reference that cannot be resolved is fatal."""
        s = self.settings
        try:
            self.resolved = {ref: reveal(self.resolve(ref)) for ref in (s.password, s.server_password,
                                                                       s.invite_command) if ref}
        except Exception as exc:  # the resolver is the secret store, the environment or a file
            self._fatal(f"cannot resolve a secret reference: {type(exc).__name__}: {exc}")
            return False
        return True

    def _connect(self, now: float) -> None:
        s = self.settings
        if not self._resolve_secrets():
            return
        self.state, self.joined = LinkState.CONNECTING, set()
        self.connected_at = self.last_seen = self.last_ping = now
        log.info("irc.connecting", network=s.name, server=s.server, port=s.port, tls=s.tls)
        sasl = s.sasl and bool(s.password)
        password = self._secret(s.password if sasl else s.server_password) or None  # SASL uses it, not PASS
        try:
            self.connection.connect(s.server, s.port, s.nick, password=password, username=s.username or s.nick,
                                    ircname=s.nick, connect_factory=connect_factory(s),
                                    sasl_login=(s.account or s.nick) if sasl else None)
        except (irc.client.ServerConnectionError, OSError) as exc:
            self._disconnected(f"cannot connect: {exc}", uptime=0.0)

    def _registered(self) -> None:
        s = self.settings
        self.sessions += 1
        if s.password and not s.sasl:
            self.state, self.identify_deadline = LinkState.IDENTIFYING, self.clock() + IDENTIFY_TIMEOUT
            self._identify()
            return
        self._join()

    def _identify(self) -> None:
        s, self.identify_retry_at = self.settings, None
        self.connection.privmsg("NickServ", f"IDENTIFY {s.account or s.nick} {self._secret(s.password)}")

    def _join(self) -> None:
        for target, text in ircrules.invite_messages(self._secret(self.settings.invite_command)):
            self.connection.privmsg(target, text)
        for channel in self.channels:
            self.connection.join(channel)
        self.state, self.reason = LinkState.CONNECTED, ""
        log.info("irc.connected", network=self.settings.name, channels=list(self.channels))

    def _fatal(self, reason: str) -> None:
        if self.state is LinkState.FATAL:
            return
        self.state, self.reason = LinkState.FATAL, reason
        log.error("irc.fatal", network=self.settings.name, reason=reason)
        # the loop disconnects once the library's handlers for this line are done (its SASL machine still sends)

    def _disconnected(self, why: str, uptime: float) -> None:
        if self.state is LinkState.FATAL or self._stopping.is_set():
            return
        now = self.clock()
        decision = self.reconnects.after_disconnect(now, uptime)
        self.next_attempt = now + decision.delay
        self.state = LinkState.CIRCUIT_OPEN if decision.circuit_open else LinkState.WAITING
        self.reason, self.joined = why, set()
        log.warning("irc.disconnected", network=self.settings.name, reason=why, retry_in=round(decision.delay, 1),
                    circuit_open=decision.circuit_open)

    def _housekeeping(self, now: float) -> None:
        if not self.connection.is_connected():
            return
        if self.state is LinkState.IDENTIFYING and now >= self.identify_deadline:
            log.warning("irc.identify_unanswered", network=self.settings.name)
            self._join()
        elif self.state is LinkState.IDENTIFYING and self.identify_retry_at and now >= self.identify_retry_at:
            self._identify()
        idle = now - self.last_seen
        if idle > 2 * self.settings.keepalive + 10:
            self.connection.disconnect("ping timeout")
        elif idle > self.settings.keepalive and now - self.last_ping > self.settings.keepalive:
            self.last_ping = now
            self.connection.ping("keepalive")

    # --- events -----------------------------------------------------------------------------------------
    def _install_handlers(self) -> None:
        add = self.reactor.add_global_handler
        add("all_raw_messages", self._on_raw, -50)
        add("welcome", lambda c, e: self._registered())
        add("nicknameinuse", lambda c, e: c.nick(c.get_nickname() + "_"))
        add("privnotice", self._on_notice)
        add("loggedin", self._on_logged_in)
        add("nosuchnick", self._on_no_such_nick)
        add("login_failed", lambda c, e: self._fatal("SASL login failed: " + " ".join(e.arguments)))
        for name in _FATAL_EVENTS:
            add(name, self._on_fatal_numeric)
        add("error", lambda c, e: self._on_error(" ".join(e.arguments) or str(e.target or "")))
        add("join", self._on_join)
        add("invite", self._on_invite)
        add("pubmsg", self._on_pubmsg)
        add("disconnect", self._on_disconnect)

    def _on_raw(self, connection: Any, event: Any) -> None:
        self.last_seen = self.clock()

    def _on_notice(self, connection: Any, event: Any) -> None:
        if event.source and event.source.nick.lower() == "nickserv" and self.state is LinkState.IDENTIFYING:
            verdict = ircrules.nickserv_verdict(event.arguments[0] if event.arguments else "")
            if verdict is False:
                self._fatal("NickServ refused the password: " + event.arguments[0])
            elif verdict:
                self._join()

    def _on_no_such_nick(self, connection: Any, event: Any) -> None:
        if self.state is LinkState.IDENTIFYING and event.arguments and event.arguments[0].lower() == "nickserv":
            self.identify_retry_at = self.clock() + IDENTIFY_RETRY

    def _on_logged_in(self, connection: Any, event: Any) -> None:
        if self.state is LinkState.IDENTIFYING:
            self._join()

    def _on_fatal_numeric(self, connection: Any, event: Any) -> None:
        reason = ircrules.fatal_numeric(_FATAL_EVENTS[str(event.type)], [str(a) for a in event.arguments])
        if reason:
            self._fatal(reason)

    def _on_error(self, message: str) -> None:
        reason = ircrules.fatal_error_message(message)
        if reason:
            self._fatal(reason)

    def _on_join(self, connection: Any, event: Any) -> None:
        if event.source and event.source.nick == connection.get_nickname():
            self.joined.add(event.target)

    def _on_invite(self, connection: Any, event: Any) -> None:
        channel = event.arguments[0] if event.arguments else ""
        if channel.lower() in self.consumers:
            connection.join(channel)

    def _on_pubmsg(self, connection: Any, event: Any) -> None:
        nick = event.source.nick if event.source else ""
        if not ircrules.accepts(event.target, nick, self.channels, self.definition.irc.announcers):
            self.ignored_lines += 1
            return
        try:
            self.consumers[event.target.lower()].lines.put(event.arguments[0], timeout=QUEUE_PUT_TIMEOUT)
        except queue.Full:
            log.warning("irc.queue_full", network=self.settings.name, channel=event.target)

    def _on_disconnect(self, connection: Any, event: Any) -> None:
        uptime = self.clock() - (self.connected_at or self.clock())
        self._disconnected(" ".join(event.arguments) or "disconnected", uptime)
