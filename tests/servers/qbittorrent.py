"""Real qbittorrent-nox instances for tests (pytest plugin, loaded from tests/conftest.py).

Two session-scoped instances, a seeder and a downloader, on free 127.0.0.1 ports with a loopback-only
configuration (no DHT/PeX/LSD/UPnP/GeoIP, WebUI on 127.0.0.1), profiles in temporary directories, stopped by
PID. Readiness is polled with a plain urllib GET of /api/v2/app/version: never with an authenticating client,
whose failed logins would get 127.0.0.1 banned.

Fixtures: ``qbt_seeder``, ``qbt_downloader``, ``qbt_pair`` (both, cleaned after each test), ``qbt_auth`` (an
instance with a real password), ``content_factory``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import qbittorrentapi
import torf

from tests.servers import refuse_under_test_fast

QBT_BINARY = "qbittorrent-nox"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        threading.Event().wait(interval)


def qbt_password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000, dklen=64)
    return f'"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"'


def loopback_config(profile: Path, web_port: int, bt_port: int, password: str | None, max_auth_fail: int) -> str:
    pw_line = f"WebUI\\Password_PBKDF2={qbt_password_hash(password)}\n" if password else ""
    localhost_auth = "true" if password else "false"
    return f"""[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\PeXEnabled=false
Session\\LSDEnabled=false
Session\\Port={bt_port}
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
Session\\DefaultSavePath={profile}/downloads
Session\\AnonymousModeEnabled=false
Session\\QueueingSystemEnabled=false
Session\\MultiConnectionsPerIp=true
Session\\BTProtocol=TCP
Session\\AddTrackersEnabled=false

[Network]
PortForwardingEnabled=false

[RSS]
AutoDownloader\\EnableProcessing=false
Session\\EnableProcessing=false

[Preferences]
Connection\\ResolvePeerCountries=false
Connection\\ResolvePeerHostNames=false
General\\Locale=en
Search\\SearchEnabled=false
WebUI\\Enabled=true
WebUI\\Address=127.0.0.1
WebUI\\Port={web_port}
WebUI\\UseUPnP=false
WebUI\\LocalHostAuth={localhost_auth}
WebUI\\HostHeaderValidation=false
WebUI\\CSRFProtection=false
WebUI\\Username=admin
WebUI\\MaxAuthenticationFailCount={max_auth_fail}
WebUI\\BanDuration=1
{pw_line}"""


class QbtInstance:
    """One qbittorrent-nox process with its own profile; restartable with the same profile and ports."""

    def __init__(self, name: str = "qbt"):
        self.name = name
        self.host = "127.0.0.1"
        self.username = "admin"
        self.password: str | None = None
        self.port = 0
        self.bt_port = 0
        self.profile_dir = Path()
        self.max_auth_fail = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def save_path(self) -> Path:
        return self.profile_dir / "downloads"

    def start(
        self, profile_dir: Path, web_port: int, bt_port: int, password: str | None = None, max_auth_fail: int = 0
    ) -> QbtInstance:
        refuse_under_test_fast("qBittorrent")
        binary = shutil.which(QBT_BINARY)
        if binary is None:
            raise AssertionError(f"{QBT_BINARY} is not installed (apt-get install qbittorrent-nox); this test needs it")
        self.profile_dir, self.port, self.bt_port = Path(profile_dir), web_port, bt_port
        self.password, self.max_auth_fail = password, max_auth_fail
        conf_dir = self.profile_dir / "qBittorrent" / "config"
        conf_dir.mkdir(parents=True, exist_ok=True)
        self.save_path.mkdir(parents=True, exist_ok=True)
        (conf_dir / "qBittorrent.conf").write_text(
            loopback_config(self.profile_dir, web_port, bt_port, password, max_auth_fail)
        )
        self._spawn(binary)
        return self

    def _spawn(self, binary: str) -> None:
        self._log = open(self.profile_dir / "stdout.log", "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "HOME": str(self.profile_dir)}
        self._proc = subprocess.Popen(
            [binary, f"--profile={self.profile_dir}", f"--webui-port={self.port}"],
            cwd=self.profile_dir, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._ready, START_TIMEOUT, what=f"{self.name} WebUI on {self.url}")

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self._proc.returncode}; see {self.profile_dir}/stdout.log")
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/app/version", timeout=HTTP_TIMEOUT) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 403  # auth required: up, and a 403 here is not a failed login
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        binary = shutil.which(QBT_BINARY)
        assert binary is not None
        self._spawn(binary)

    def api(self) -> qbittorrentapi.Client:
        """A test-side client; only for instances without auth (LocalHostAuth=false), so it never logs in."""
        assert self.password is None, "use annexd's client for the password instance"
        return qbittorrentapi.Client(
            host=self.url, REQUESTS_ARGS={"timeout": (HTTP_TIMEOUT, HTTP_TIMEOUT)}, DISABLE_LOGGING_DEBUG_OUTPUT=True
        )


def start_instance(tmp_root: Path, name: str, password: str | None = None, max_auth_fail: int = 0) -> QbtInstance:
    profile = tmp_root / name
    profile.mkdir(parents=True, exist_ok=True)
    return QbtInstance(name).start(profile, free_port(), free_port(), password, max_auth_fail)


# --- torrents -------------------------------------------------------------------------------------------


def make_content(root: Path, files: dict[str, int]) -> Path:
    """Write random files (relative path -> size in bytes) under ``root``; returns ``root``."""
    for rel, size in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def make_torrent(content_path: Path) -> tuple[bytes, str]:
    """A private, trackerless torrent of a file or directory: (bencoded bytes, v1 info hash)."""
    t = torf.Torrent(path=content_path, private=True, trackers=[], created_by=None, creation_date=None)
    t.generate()
    return bytes(t.dump()), str(t.infohash).lower()


@dataclass
class Seeded:
    torrent: bytes
    info_hash: str
    content_path: Path


class QbtPair:
    """The seeder and the downloader, with helpers to seed content and connect the two."""

    def __init__(self, seeder: QbtInstance, downloader: QbtInstance, content_root: Path):
        self.seeder = seeder
        self.downloader = downloader
        self.content_root = content_root

    def seed(self, content_path: Path) -> tuple[bytes, str]:
        data, info_hash = make_torrent(content_path)
        sd = self.seeder.api()
        sd.torrents_add(torrent_files={"t.torrent": data}, save_path=str(content_path.parent), is_paused=False,
                        is_skip_checking=True)

        def seeding() -> bool:
            found: list[Any] = list(sd.torrents_info(torrent_hashes=info_hash))
            return bool(found) and found[0]["progress"] >= 1 and found[0]["state"] in ("stalledUP", "uploading")

        wait_for(seeding, 20, 0.1, what=f"seeder to seed {content_path.name}")
        return data, info_hash

    @property
    def seeder_peer(self) -> str:
        return f"127.0.0.1:{self.seeder.bt_port}"

    def connect(self, info_hash: str) -> None:
        """Tell the downloader where the seeder is (there are no trackers and no DHT)."""
        self.downloader.api().torrents_add_peers(peers=self.seeder_peer, torrent_hashes=info_hash)

    def clean(self) -> None:
        for inst, delete_files in ((self.downloader, True), (self.seeder, False)):
            api = inst.api()
            api.torrents_delete(delete_files=delete_files, torrent_hashes="all")

            def empty(api: qbittorrentapi.Client = api) -> bool:
                return not api.torrents_info()

            wait_for(empty, 10, what=f"{inst.name} to drop its torrents")


# --- a TCP proxy that counts requests, to prove how many HTTP calls (and logins) annexd makes ------------

_REQUEST_LINE = re.compile(rb"(GET|POST) (/api/v2/[A-Za-z0-9_/]+)[^ ]* HTTP/1\.[01]\r\n")


class CountingProxy:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="counting-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if p == path)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=HTTP_TIMEOUT)
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        src.settimeout(30)
        try:
            while chunk := src.recv(65536):
                if count:
                    with self._lock:
                        self.requests.extend((m.decode(), p.decode()) for m, p in _REQUEST_LINE.findall(chunk))
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def qbt_seeder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbtInstance]:
    inst = start_instance(tmp_path_factory.mktemp("qbt"), "seeder")
    yield inst
    inst.stop()


@pytest.fixture(scope="session")
def qbt_downloader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbtInstance]:
    inst = start_instance(tmp_path_factory.mktemp("qbt"), "downloader")
    yield inst
    inst.stop()


@pytest.fixture
def qbt_pair(
    qbt_seeder: QbtInstance, qbt_downloader: QbtInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QbtPair]:
    """Both instances; every torrent is deleted afterwards (downloader with files, seeder without)."""
    pair = QbtPair(qbt_seeder, qbt_downloader, tmp_path_factory.mktemp("seed-content"))
    yield pair
    pair.clean()


@pytest.fixture(scope="session")
def qbt_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbtInstance]:
    """An instance that needs a real password (admin / a random one); bans are off (count 0) so a buggy test
    cannot lock the session out, which is why the tests count login attempts themselves."""
    inst = start_instance(tmp_path_factory.mktemp("qbt"), "auth", password=base64.b32encode(os.urandom(10)).decode())
    yield inst
    inst.stop()


@pytest.fixture
def content_factory(tmp_path: Path) -> Callable[[str, dict[str, int]], Path]:
    def make(name: str, files: dict[str, int]) -> Path:
        return make_content(tmp_path / name, files)

    return make


class PeerIntroducer:
    """Plays the tracker (there is none, and no DHT): tells the downloader where the seeder is, for every
    incomplete torrent, every ``interval`` seconds until stopped. Repeating it covers a peer dropped while
    a torrent was still being checked."""

    def __init__(self, downloader: QbtInstance, seeder: QbtInstance, interval: float = 1.0):
        self.downloader, self.peer, self.interval = downloader, f"127.0.0.1:{seeder.bt_port}", interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peer-introducer", daemon=True)

    def start(self) -> PeerIntroducer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                api = self.downloader.api()
                hashes = [t["hash"] for t in api.torrents_info() if t["progress"] < 1]
                if hashes:
                    api.torrents_add_peers(peers=self.peer, torrent_hashes="|".join(hashes))
            except Exception:  # the downloader may be restarting or busy: try again next turn
                continue
