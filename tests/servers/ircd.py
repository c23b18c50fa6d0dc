"""A real IRC network on free 127.0.0.1 ports: InspIRCd 3 with Anope 2 services (NickServ, SASL PLAIN).

Why not ergo: Debian bookworm's ``ergo`` package is a quantum-chemistry program; the IRC server of that name
is not packaged there. InspIRCd and Anope are (Makefile SYSTEM_PACKAGES): InspIRCd serves plain and TLS
clients (a self-signed certificate made here with openssl, its own CA for the client), Anope links to it
as services and provides NickServ and SASL. Both run in the foreground as our children with their own
generated config in a tmp dir and are stopped by PID; ``restart()`` brings the network back on the same ports
with the same accounts.
"""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.sshd import free_port

INSPIRCD = "/usr/sbin/inspircd"
ANOPE = "/usr/sbin/anope"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LINK_PASSWORD = "annexd-test-link"

INSPIRCD_CONF = """\
<server name="irc.annexd.test" description="annexd test IRC server" network="AnnexdTest">
<admin name="annexd" nick="annexd" email="annexd@localhost">
<path configdir="{d}" datadir="{d}" logdir="{d}" moduledir="/usr/lib/inspircd/modules">
<pid file="{d}/inspircd.pid">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="Clients">
<bind address="127.0.0.1" port="{link_port}" type="servers">
<connect name="main" allow="*" timeout="20" pingfreq="60" sendq="1048576" recvq="65536" localmax="1000"
         globalmax="1000" limit="5000" useident="no" threshold="1000" commandrate="1000000" fakelag="no">
<options>
<performance nouserdns="yes">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/inspircd.log">
<module name="cap">
<module name="ircv3">
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<module name="ssl_gnutls">
<module name="hidechans">
<module name="svshold">
<module name="chghost">
<module name="chgident">
<sslprofile name="Clients" provider="gnutls" certfile="{d}/cert.pem" keyfile="{d}/key.pem" requestclientcert="no">
<link name="services.annexd.test" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.0/8"
      sendpass="{link_password}" recvpass="{link_password}">
<uline server="services.annexd.test" silent="yes">
<sasl target="services.annexd.test" requiressl="no">
"""

ANOPE_CONF = """\
uplink {{ host = "127.0.0.1"; ipv6 = no; ssl = no; port = {link_port}; password = "{link_password}"; }}
serverinfo {{ name = "services.annexd.test"; description = "annexd test services"; pid = "{d}/anope.pid";
  motd = "{d}/services.motd"; }}
module {{ name = "inspircd3"; use_server_side_mlock = yes; use_server_side_topiclock = yes; }}
networkinfo {{ networkname = "AnnexdTest"; nicklen = 31; userlen = 10; hostlen = 64; chanlen = 32;
  modelistsize = 100; vhost_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
  allow_undotted_vhosts = false; disallow_start_or_end = ".-"; }}
options {{ casemap = "rfc1459"; strictpasswords = no; badpasslimit = 1000; badpasstimeout = 1h;
  updatetimeout = 2s; expiretimeout = 30m; readtimeout = 5s; warningtimeout = 4h; timeoutcheck = 1s;
  retrywait = 1s; hideprivilegedcommands = yes; hideregisteredcommands = yes; languages = ""; }}
mail {{ usemail = no; }}
log {{ target = "services.log"; logage = 1; other = "*"; }}
module {{ name = "db_flatfile"; database = "anope.db"; keepbackups = 0; nobackupokay = yes; fork = no; }}
module {{ name = "enc_sha256"; }}
service {{ nick = "NickServ"; user = "services"; host = "services.annexd.test"; gecos = "Nickname Service"; }}
module {{ name = "nickserv"; client = "NickServ"; forceemail = no; confirmemailchanges = no;
  defaults = "ns_secure ns_private hide_email hide_mask"; regdelay = 0s; expire = 21d; secureadmins = yes;
  modeonid = yes; hidenetsplitquit = no; killquick = 20s; kill = 60s; enforceruser = "enforcer";
  enforcerhost = "services.annexd.test"; releasetimeout = 1m; guestnickprefix = "Guest";
  nonicknameownership = yes; passlen = 32; }}
module {{ name = "ns_register"; registration = "none"; resenddelay = 0s; unconfirmedexpire = 1d; maxemails = 0; }}
command {{ service = "NickServ"; name = "REGISTER"; command = "nickserv/register"; }}
module {{ name = "ns_identify"; maxlogins = 10; }}
command {{ service = "NickServ"; name = "IDENTIFY"; command = "nickserv/identify"; }}
module {{ name = "m_sasl"; }}
"""


def _no_core_dumps() -> None:
    # inspircd 3.15 aborts while exiting on SIGTERM; its core file must not land anywhere
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


class RawClient:
    """A minimal line-based IRC client for the tests' own bots (the code under test uses the real library)."""

    def __init__(self, port: int, nick: str, *, caps: bool = False):
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pending = b""
        if caps:
            self.send("CAP LS 302")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def expect(self, needle: str, timeout: float = 15.0) -> str:
        """Reads lines (answering PINGs) until one contains ``needle``; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\r\n" in self.pending:
                raw, self.pending = self.pending.split(b"\r\n", 1)
                line = raw.decode(errors="replace")
                if line.startswith("PING"):
                    self.send("PONG" + line[4:])
                if needle in line:
                    return line
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError(f"server closed the connection waiting for {needle!r}")
                self.pending += data
        raise TimeoutError(f"no line containing {needle!r}")

    def sync(self) -> None:
        """Returns once the server has handled everything sent so far (and relayed it)."""
        token = f"sync{time.monotonic_ns()}"
        self.send(f"PING :{token}")
        self.expect(token)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        self.sock.close()


@dataclass
class IrcNetwork:
    directory: Path
    port: int = 0
    tls_port: int = 0
    link_port: int = 0
    ircd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    services: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def ca_file(self) -> Path:
        return self.directory / "cert.pem"

    def setup(self) -> None:
        (self.directory / "db" / "backups").mkdir(parents=True, exist_ok=True)
        (self.directory / "services.motd").write_text("annexd test services\n")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
              "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.directory / "key.pem"),
              "-out", str(self.ca_file)])
        self.port, self.tls_port, self.link_port = free_port(), free_port(), free_port()
        values = {"d": self.directory, "port": self.port, "tls_port": self.tls_port, "link_port": self.link_port,
                  "link_password": LINK_PASSWORD}
        (self.directory / "inspircd.conf").write_text(INSPIRCD_CONF.format(**values))
        (self.directory / "services.conf").write_text(ANOPE_CONF.format(**values))

    def start(self) -> None:
        running = [p is not None and p.poll() is None for p in (self.ircd, self.services)]
        if all(running):
            return
        self.stop()  # whatever half of the network is left
        log = open(self.directory / "processes.log", "ab")  # noqa: SIM115 - kept open by the children
        self.ircd = subprocess.Popen([INSPIRCD, "--runasroot", "--nofork", f"--config={self.directory}/inspircd.conf"],
                                     stdout=log, stderr=log, cwd=self.directory, preexec_fn=_no_core_dumps)
        self._wait_port(self.port)
        self.services = subprocess.Popen([ANOPE, f"--confdir={self.directory}", f"--dbdir={self.directory}/db",
                                          f"--logdir={self.directory}", "--modulesdir=/usr/lib/anope", "--nofork"],
                                         stdout=log, stderr=log, cwd=self.directory, preexec_fn=_no_core_dumps)
        self._wait_services()

    def _wait_port(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.ircd is None or self.ircd.poll() is not None:
                raise RuntimeError(f"inspircd exited; see {self.directory}/processes.log")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"inspircd did not listen on {port}")

    def _wait_services(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            probe = RawClient(self.port, f"probe{os.getpid() % 10000}")
            try:
                probe.expect(" 001 ")
                probe.send("PRIVMSG NickServ :HELP")
                with contextlib.suppress(TimeoutError):
                    probe.expect(":NickServ!", timeout=1.0)
                    return
            finally:
                probe.close()
            time.sleep(0.2)
        raise RuntimeError(f"anope did not link; see {self.directory}/services.log*")

    def stop(self) -> None:
        _stop(self.services)
        _stop(self.ircd)
        self.services = self.ircd = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def register(self, nick: str, password: str) -> None:
        """Registers ``nick`` with NickServ (an account for NickServ IDENTIFY and SASL)."""
        client = RawClient(self.port, nick)
        try:
            client.expect(" 001 ")
            client.send(f"PRIVMSG NickServ :REGISTER {password}")
            client.expect("registered")
        finally:
            client.close()

    def sasl_works(self, account: str, password: str) -> bool:
        client = RawClient(self.port, "saslprobe", caps=True)
        try:
            client.send("CAP REQ :sasl")
            client.expect("ACK")
            client.send("AUTHENTICATE PLAIN")
            client.expect("AUTHENTICATE")
            client.send("AUTHENTICATE " + base64.b64encode(f"\0{account}\0{password}".encode()).decode())
            return " 903 " in client.expect(" 90")
        finally:
            client.close()


@pytest.fixture(scope="session")
def irc_network_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcNetwork]:
    network = IrcNetwork(tmp_path_factory.mktemp("ircd"))
    network.setup()
    try:
        network.start()  # a half-started network (ircd up, services not linked) is stopped too
        yield network
    finally:
        network.stop()


@pytest.fixture
def irc_network(irc_network_server: IrcNetwork) -> IrcNetwork:
    """The session IRC network, running at the start of the test (a previous test may have restarted it)."""
    irc_network_server.start()
    return irc_network_server
