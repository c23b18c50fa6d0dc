"""A real, private OpenSSH server on a free 127.0.0.1 port, for rsync and SFTP delivery tests.

Keys and config live in a tmp dir (see reference/real-components.md section 7). sshd runs in the foreground
(``-D``) as our child, so it is stopped by its PID and reaped; ``stop()``/``start()`` let a test take it down
and bring it back on the same port with the same host key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import refuse_under_test_fast

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/keys/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/keys/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 50:30:100
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        # sshd greets first; a banner proves it is sshd and not a stale listener.
        s.settimeout(2.0)
        return s.recv(4).startswith(b"SSH-")
    return False


@dataclass
class SshdServer:
    directory: Path
    root: Path  # a directory for remote target roots (same machine, reached over ssh)
    host: str = "127.0.0.1"
    user: str = "root"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def key_file(self) -> Path:
        return self.directory / "keys" / "client_ed25519"

    @property
    def log_file(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def ssh_options(self) -> list[str]:
        return [
            "-p", str(self.port), "-i", str(self.key_file), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ]

    def setup(self) -> None:
        keys = self.directory / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host_ed25519")])
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client_ed25519")])
        (keys / "authorized_keys").write_bytes((keys / "client_ed25519.pub").read_bytes())
        os.chmod(keys / "authorized_keys", 0o600)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)

    def _write_config(self) -> Path:
        cfg = self.directory / "sshd_config"
        cfg.write_text(CONFIG.format(port=self.port, d=self.directory))
        _run([SSHD, "-t", "-f", str(cfg)])
        return cfg

    def start(self) -> None:
        refuse_under_test_fast("sshd")
        if self.pid is not None:
            return
        for _ in range(3):
            self.port = self.port or free_port()
            cfg = self._write_config()
            with open(self.log_file, "ab") as log:
                self.proc = subprocess.Popen([SSHD, "-D", "-f", str(cfg), "-E", str(self.log_file)],
                                             stdout=log, stderr=log)
            if self._wait_ready():
                return
            self.stop()
            self.port = 0  # the port was probably taken meanwhile: pick another
        raise RuntimeError(f"sshd did not start; see {self.log_file}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            if _port_open(self.port):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None
        # the listener is gone once connections are refused
        deadline = time.monotonic() + STOP_TIMEOUT
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stop sshd for the body of a ``with`` block and always bring it back."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def ssh(self, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", *self.ssh_options, f"{self.user}@{self.host}", command],
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    base = tmp_path_factory.mktemp("sshd")
    root = tmp_path_factory.mktemp("sshd-remote")
    server = SshdServer(directory=base, root=root)
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd(sshd_server: SshdServer) -> SshdServer:
    """The session sshd, guaranteed running at the start of the test (a previous test may have stopped it)."""
    sshd_server.start()
    return sshd_server
