"""Deliver a finished file to a storage target: local copy, rsync over ssh, or SFTP.

Every transport writes to a hidden temp name (``.annexd-<random>.part``) in the destination directory,
verifies it (size + sha256 for local and rsync; size only for SFTP, which has no checksum command), then
renames it into place: without clobbering (hard link, fails if the name exists) unless the target's
overwrite policy allows replacing a different file. An identical existing file counts as delivered.
Remote paths are only ever ``target root / sanitised relative path`` (see :func:`annexd.domain.naming.safe_join`)
and are shell-quoted for ssh and double-quoted for sftp batch files. Every subprocess has a timeout.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shlex
import signal
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

import structlog

from annexd import metrics
from annexd.domain.naming import check_sanitized, safe_join
from annexd.errors import InvalidInputError, ProviderError, UnsafePathError

logger = structlog.get_logger(__name__)

ProtocolName = Literal["local", "rsync", "sftp"]
OverwritePolicy = Literal["never", "if_different", "always"]
MediaKind = Literal["movie", "tv"]
ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)

PROTOCOLS = ("local", "rsync", "sftp")
OVERWRITE_POLICIES = ("never", "if_different", "always")
CHUNK = 4 * 1024 * 1024
TEMP_SUFFIX = ".part"
TEMP_PREFIX = ".annexd-"
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")


class DestinationConflictError(ProviderError):
    """A different file (or a directory) already exists at the destination and the policy forbids replacing
    it. Retrying will not help; a person must decide."""

    def __init__(self, target: str, path: str, message: str = "a different file already exists"):
        self.path = path
        super().__init__(f"target:{target}", f"{message} at {path}")


@dataclass(frozen=True)
class Target:
    name: str
    protocol: ProtocolName = "local"
    host: str = ""
    port: int = 22
    user: str = ""
    key_file: str = ""
    known_hosts_file: str = ""  # a state file: host keys are accepted on first use, then pinned
    movie_root: str = ""
    tv_root: str = ""
    encode_profile: str = ""
    media_server: str = ""
    max_concurrent: int = 1
    overwrite: OverwritePolicy = "never"
    timeout: float = 6 * 3600.0  # whole transfer (and remote checksum) of one file
    command_timeout: float = 60.0  # small remote commands: stat, mkdir, rename
    connect_timeout: float = 15.0
    io_timeout: float = 300.0  # rsync --timeout: no data for this long aborts the transfer
    bandwidth_limit_kbps: int = 0  # KiB/s for rsync --bwlimit and sftp -l; 0 = unlimited

    def root_for(self, kind: MediaKind) -> str:
        root = self.movie_root if kind == "movie" else self.tv_root
        if not root:
            raise InvalidInputError(f"target {self.name} has no {kind} root")
        return root


@dataclass(frozen=True)
class DeliveryResult:
    target: str
    remote_path: str
    size: int
    checksum: str  # sha256 of the delivered file
    skipped_identical: bool
    verification: Literal["sha256", "size"]  # what was checked on the target side
    seconds: float = 0.0


def validate_target(t: Target) -> list[str]:
    """Every problem of a target's settings, each naming its key."""
    key = f"targets.{t.name or '?'}"
    problems: list[str] = []
    if t.protocol not in PROTOCOLS:
        problems.append(f"{key}.protocol: {t.protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if t.overwrite not in OVERWRITE_POLICIES:
        problems.append(f"{key}.overwrite: {t.overwrite!r} is not one of {', '.join(OVERWRITE_POLICIES)}")
    if not (t.movie_root or t.tv_root):
        problems.append(f"{key}: set movie_root and/or tv_root")
    for field_name in ("movie_root", "tv_root"):
        root = getattr(t, field_name)
        if root and (not root.startswith("/") or any(p in (".", "..") for p in root.split("/"))
                     or any(c in root for c in "\0\n\r")):
            problems.append(f"{key}.{field_name}: must be an absolute path without '.' or '..' parts")
    if t.bandwidth_limit_kbps < 0:
        problems.append(f"{key}.bandwidth_limit_kbps: must be 0 (unlimited) or positive")
    if t.max_concurrent < 1:
        problems.append(f"{key}.max_concurrent: must be at least 1")
    if min(t.timeout, t.command_timeout, t.connect_timeout, t.io_timeout) <= 0:
        problems.append(f"{key}: timeouts must be positive")
    if t.protocol in ("rsync", "sftp"):
        problems += _validate_remote(t, key)
    return problems


def _validate_remote(t: Target, key: str) -> list[str]:
    problems = []
    if not _HOST.match(t.host):
        problems.append(f"{key}.host: {t.host!r} is not a valid host name")
    if not _USER.match(t.user):
        problems.append(f"{key}.user: {t.user!r} is not a valid user name")
    if not 0 < t.port < 65536:
        problems.append(f"{key}.port: {t.port} is out of range")
    for field_name in ("key_file", "known_hosts_file"):
        value = getattr(t, field_name)
        if not value:
            problems.append(f"{key}.{field_name}: required for {t.protocol} targets")
        elif any(c in value for c in "'\"\0\n\r"):
            problems.append(f"{key}.{field_name}: must not contain quotes or control characters")
    return problems


# --- pure helpers -------------------------------------------------------------------------------------

Decision = Literal["upload", "skip", "replace", "conflict"]


def decide_existing(policy: OverwritePolicy, existing_size: int | None, local_size: int,
                    same_content: Callable[[], bool]) -> Decision:
    """What to do about the file already at the destination. ``same_content`` (costly: a remote checksum)
    is only called when sizes match."""
    if existing_size is None:
        return "upload"
    if policy == "always":
        return "replace"
    if existing_size == local_size and same_content():
        return "skip"
    return "replace" if policy == "if_different" else "conflict"


@dataclass(frozen=True)
class RsyncProgress:
    bytes_done: int
    percent: int
    rate: str
    eta: str


_PROGRESS2 = re.compile(r"^\s*([\d,.]+)\s+(\d{1,3})%\s+(\S+)\s+(\d+:\d{2}:\d{2})")


def parse_rsync_progress(line: str) -> RsyncProgress | None:
    """One ``--info=progress2`` line, e.g. ``  1,234,567  45%   10.50MB/s    0:00:01 (xfr#1, to-chk=0/1)``."""
    m = _PROGRESS2.match(line)
    if not m:
        return None
    digits = re.sub(r"[,.]", "", m.group(1))
    return RsyncProgress(int(digits), int(m.group(2)), m.group(3), m.group(4)) if digits.isdigit() else None


def split_progress_stream(buffer: str) -> tuple[list[str], str]:
    """Complete lines (rsync ends progress updates with ``\\r``) and the unfinished rest."""
    parts = re.split(r"[\r\n]", buffer)
    return [p for p in parts[:-1] if p.strip()], parts[-1]


def temp_name() -> str:
    return f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}{TEMP_SUFFIX}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sftp_quote(path: PurePosixPath | Path | str) -> str:
    """A path as one argument of an sftp batch command."""
    text = str(path)
    if any(c in text for c in "\0\n\r"):
        raise UnsafePathError(f"control character in path {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- transports ---------------------------------------------------------------------------------------

class Transport(Protocol):
    verification: Literal["sha256", "size"]

    def stat(self, path: PurePosixPath) -> int | None:
        """Size of the regular file at ``path``, None if nothing is there; DestinationConflictError if
        something other than a regular file is."""

    def sha256(self, path: PurePosixPath) -> str: ...

    def makedirs(self, path: PurePosixPath) -> None: ...

    def upload(self, local: Path, dest: PurePosixPath, size: int, on_progress: ProgressCallback) -> None: ...

    def commit(self, tmp: PurePosixPath, dest: PurePosixPath, *, replace: bool) -> None:
        """Rename ``tmp`` to ``dest``; without ``replace``, DestinationConflictError if ``dest`` exists."""

    def remove(self, path: PurePosixPath) -> None:
        """Best effort; never raises for a missing file."""


def _provider(target: Target) -> str:
    return f"target:{target.name}"


class LocalTransport:
    verification: Literal["sha256", "size"] = "sha256"

    def __init__(self, target: Target):
        self.target = target

    def _fail(self, action: str, exc: OSError) -> ProviderError:
        return ProviderError(_provider(self.target), f"{action} failed: {exc.strerror or exc}")

    def stat(self, path: PurePosixPath) -> int | None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail("stat", exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise DestinationConflictError(self.target.name, str(path), "something other than a file exists")
        return st.st_size

    def sha256(self, path: PurePosixPath) -> str:
        try:
            return sha256_file(Path(path))
        except OSError as exc:
            raise self._fail("checksum", exc) from None

    def makedirs(self, path: PurePosixPath) -> None:
        existing = Path(path)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if any(existing.is_relative_to(r) for r in self._roots()):  # else the root itself is still to be made
            self._check_inside_root(PurePosixPath(existing))  # before creating anything through a symlink
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise self._fail("mkdir", exc) from None
        self._check_inside_root(path)

    def _roots(self) -> list[str]:
        return [r for r in (self.target.movie_root, self.target.tv_root) if r]

    def _check_inside_root(self, path: PurePosixPath) -> None:
        # the lexical check in safe_join cannot see a symlinked directory pointing out of the root
        roots = [os.path.realpath(r) for r in self._roots()]
        real = os.path.realpath(path)
        if not any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
            raise UnsafePathError(f"{path} resolves outside the target roots")

    def upload(self, local: Path, dest: PurePosixPath, size: int, on_progress: ProgressCallback) -> None:
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise self._fail("create", exc) from None
        try:
            with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
                done = 0
                on_progress(0, size)
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    on_progress(done, size)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise self._fail("copy", exc) from None

    def commit(self, tmp: PurePosixPath, dest: PurePosixPath, *, replace: bool) -> None:
        try:
            if replace:
                os.replace(tmp, dest)
            else:
                self._link_no_clobber(tmp, dest)
            _fsync_dir(dest.parent)
        except FileExistsError:
            raise DestinationConflictError(self.target.name, str(dest)) from None
        except OSError as exc:
            raise self._fail("rename", exc) from None

    @staticmethod
    def _link_no_clobber(tmp: PurePosixPath, dest: PurePosixPath) -> None:
        try:
            os.link(tmp, dest)  # atomic: fails if dest exists
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if os.path.lexists(dest):  # no hard links here (FAT, some FUSE): check, then rename
                raise FileExistsError(str(dest)) from None
            os.rename(tmp, dest)
            return
        os.unlink(tmp)

    def remove(self, path: PurePosixPath) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _fsync_dir(path: PurePosixPath) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ssh_options(target: Target) -> list[str]:
    """Options shared by ssh, rsync's ``-e`` and sftp (sftp takes the port as ``-P`` separately)."""
    return [
        "-i", target.key_file, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={target.known_hosts_file}",
        "-o", f"ConnectTimeout={max(1, int(target.connect_timeout))}",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
    ]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _run(cmd: list[str], target: Target, *, timeout: float, action: str,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short command; ProviderError on timeout or on ssh's connection failure (exit 255). The command
    gets its own process group, so a timeout also kills the ssh that sftp started."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    except OSError as exc:
        raise ProviderError(_provider(target), f"{action}: cannot run {cmd[0]}: {exc.strerror}") from None
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ProviderError(_provider(target), f"{action} timed out after {timeout:g}s", retry_after=60) from None
    if proc.returncode == 255:
        raise ProviderError(_provider(target), f"{action}: connection failed: {_last_line(stderr)}",
                            retry_after=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
        proc.communicate(timeout=10)


class SshTransport:
    """Remote file operations through ``ssh host '<sh command>'``; every path is shlex-quoted."""

    verification: Literal["sha256", "size"] = "sha256"

    def __init__(self, target: Target):
        self.target = target

    def _ssh(self, script: str, action: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["ssh", "-p", str(self.target.port), *ssh_options(self.target),
               f"{self.target.user}@{self.target.host}", f"sh -c {shlex.quote(script)}"]  # any login shell
        return _run(cmd, self.target, timeout=timeout or self.target.command_timeout, action=action)

    def _check(self, proc: subprocess.CompletedProcess[str], action: str) -> str:
        if proc.returncode != 0:
            raise ProviderError(_provider(self.target), f"{action} failed: {_last_line(proc.stderr)}")
        return proc.stdout

    def stat(self, path: PurePosixPath) -> int | None:
        q = shlex.quote(str(path))
        script = (f"if [ -L {q} ]; then echo NOTFILE; elif [ -f {q} ]; then stat -c %s -- {q}; "
                  f"elif [ -e {q} ]; then echo NOTFILE; else echo MISSING; fi")
        out = self._check(self._ssh(script, "stat"), "stat").strip()
        if out == "MISSING":
            return None
        if out == "NOTFILE":
            raise DestinationConflictError(self.target.name, str(path), "something other than a file exists")
        if not out.isdigit():
            raise ProviderError(_provider(self.target), f"stat: unexpected output {out[:80]!r}")
        return int(out)

    def sha256(self, path: PurePosixPath) -> str:
        out = self._check(self._ssh(f"sha256sum < {shlex.quote(str(path))}", "checksum",
                                    timeout=self.target.timeout), "checksum")
        digest = out.split()[0] if out.split() else ""
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ProviderError(_provider(self.target), "checksum: unexpected sha256sum output")
        return digest

    def makedirs(self, path: PurePosixPath) -> None:
        self._check(self._ssh(f"mkdir -p -- {shlex.quote(str(path))}", "mkdir"), "mkdir")

    def upload(self, local: Path, dest: PurePosixPath, size: int, on_progress: ProgressCallback) -> None:
        raise NotImplementedError  # SshTransport only does file operations; RsyncTransport uploads

    def commit(self, tmp: PurePosixPath, dest: PurePosixPath, *, replace: bool) -> None:
        t, d = shlex.quote(str(tmp)), shlex.quote(str(dest))
        if replace:
            self._check(self._ssh(f"mv -f -T -- {t} {d}", "rename"), "rename")
            return
        # ln is an atomic no-clobber rename; where hard links are unsupported, mv -n and check it moved
        script = (f"if ln -T -- {t} {d} 2>/dev/null; then rm -f -- {t}; exit 0; fi; "
                  f"if [ -e {d} ] || [ -L {d} ]; then exit 17; fi; "
                  f"mv -n -T -- {t} {d} || exit 1; if [ -e {t} ]; then exit 17; fi")
        proc = self._ssh(script, "rename")
        if proc.returncode == 17:
            raise DestinationConflictError(self.target.name, str(dest))
        self._check(proc, "rename")

    def remove(self, path: PurePosixPath) -> None:
        with contextlib.suppress(ProviderError):
            self._ssh(f"rm -f -- {shlex.quote(str(path))}", "remove")


class RsyncTransport(SshTransport):
    """rsync over ssh for the bytes (progress from ``--info=progress2``), ssh for everything else."""

    def upload(self, local: Path, dest: PurePosixPath, size: int, on_progress: ProgressCallback) -> None:
        t = self.target
        # --inplace: rsync writes straight to our temp name, so a killed transfer leaves one file to remove
        cmd = ["rsync", "-s", "--inplace", "--no-motd", f"--timeout={max(1, int(t.io_timeout))}",
               *([f"--bwlimit={t.bandwidth_limit_kbps}"] if t.bandwidth_limit_kbps else []),
               "--info=progress2", "--no-inc-recursive", "-e", shlex.join(["ssh", "-p", str(t.port),
                                                                            *ssh_options(t)]),
               str(local.resolve()), f"{t.user}@{t.host}:{dest}"]
        on_progress(0, size)
        rc, stderr = _stream_subprocess(cmd, t.timeout, lambda line: _on_rsync_line(line, size, on_progress))
        if rc is None:
            raise ProviderError(_provider(t), f"rsync timed out after {t.timeout:g}s", retry_after=60)
        if rc != 0:
            raise ProviderError(_provider(t), f"rsync exited {rc}: {_last_line(stderr)}", retry_after=60)
        on_progress(size, size)


def _on_rsync_line(line: str, size: int, on_progress: ProgressCallback) -> None:
    progress = parse_rsync_progress(line)
    if progress is not None:
        on_progress(min(progress.bytes_done, size), size)


def _stream_subprocess(cmd: list[str], timeout: float, on_line: Callable[[str], None]) -> tuple[int | None, str]:
    """Run ``cmd``, feeding stdout lines (split on CR or LF) to ``on_line``. Returns (exit code or None on
    timeout, stderr). On timeout the whole process group we started (rsync and its ssh) is killed."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _pump_lines(proc, on_line)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    return (None if timed_out.is_set() else proc.returncode), stderr


def _pump_lines(proc: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    rest = ""
    while chunk := os.read(proc.stdout.fileno(), 65536):
        lines, rest = split_progress_stream(rest + chunk.decode("utf-8", errors="replace"))
        for line in lines:
            on_line(line)


class SftpTransport:
    """OpenSSH ``sftp -b -`` batches. Plain SFTP has no checksum command: an upload is verified by size only;
    an existing file of the same size is compared by downloading it and hashing it."""

    verification: Literal["sha256", "size"] = "size"

    def __init__(self, target: Target):
        self.target = target

    def _sftp(self, batch: str, action: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        t = self.target
        limit = ["-l", str(t.bandwidth_limit_kbps * 8)] if t.bandwidth_limit_kbps else []  # sftp: Kbit/s
        cmd = ["sftp", "-b", "-", "-P", str(t.port), *limit, *ssh_options(t), f"{t.user}@{t.host}"]
        return _run(cmd, t, timeout=timeout or t.command_timeout, action=action, stdin=batch)

    def _check(self, proc: subprocess.CompletedProcess[str], action: str) -> str:
        if proc.returncode != 0:
            raise ProviderError(_provider(self.target), f"{action} failed: {_last_line(proc.stderr)}")
        return proc.stdout

    def stat(self, path: PurePosixPath) -> int | None:
        proc = self._sftp(f"ls -ln {sftp_quote(path)}\n", "stat")
        if proc.returncode != 0 and "not found" in proc.stderr:
            return None
        listing = self._check(proc, "stat")
        # ls globs its argument: keep only the line naming exactly this path
        for line in listing.splitlines():
            fields = line.split(None, 8)
            if len(fields) == 9 and fields[8] == str(path) and not line.startswith("sftp>"):
                if not fields[0].startswith("-"):
                    raise DestinationConflictError(self.target.name, str(path),
                                                   "something other than a file exists")
                return int(fields[4])
        return None  # an (empty) directory lists nothing; committing with ln will then refuse

    def sha256(self, path: PurePosixPath) -> str:
        with tempfile.TemporaryDirectory(prefix="annexd-sftp-") as tmp:
            local = Path(tmp) / "remote"
            self._check(self._sftp(f"get {sftp_quote(path)} {sftp_quote(local)}\n", "download",
                                   timeout=self.target.timeout), "download")
            return sha256_file(local)

    def makedirs(self, path: PurePosixPath) -> None:
        # sftp has no mkdir -p: create each ancestor, ignoring "exists" ("-" prefix), then prove it exists
        prefixes = [p for p in reversed(path.parents) if str(p) != "/"] + [path]
        batch = "".join(f"-mkdir {sftp_quote(p)}\n" for p in prefixes) + f"cd {sftp_quote(path)}\n"
        self._check(self._sftp(batch, "mkdir"), "mkdir")

    def upload(self, local: Path, dest: PurePosixPath, size: int, on_progress: ProgressCallback) -> None:
        on_progress(0, size)
        with tempfile.TemporaryDirectory(prefix="annexd-sftp-") as tmp:
            # put globs its local argument: upload through a symlink with a plain name
            link = Path(tmp) / "upload"
            link.symlink_to(local.resolve())
            proc = self._sftp(f"put {sftp_quote(link)} {sftp_quote(dest)}\n", "upload", timeout=self.target.timeout)
        self._check(proc, "upload")
        on_progress(size, size)

    def commit(self, tmp: PurePosixPath, dest: PurePosixPath, *, replace: bool) -> None:
        if replace:  # OpenSSH's rename uses posix-rename@openssh.com, which replaces
            self._check(self._sftp(f"rename {sftp_quote(tmp)} {sftp_quote(dest)}\n", "rename"), "rename")
            return
        # ln (hardlink@openssh.com) is an atomic no-clobber rename
        proc = self._sftp(f"ln {sftp_quote(tmp)} {sftp_quote(dest)}\nrm {sftp_quote(tmp)}\n", "rename")
        if proc.returncode != 0 and "does not support" in proc.stderr:
            # not an OpenSSH server: check, then rename (a small race, documented)
            if self.stat(dest) is not None:
                raise DestinationConflictError(self.target.name, str(dest))
            self._check(self._sftp(f"rename {sftp_quote(tmp)} {sftp_quote(dest)}\n", "rename"), "rename")
            return
        if proc.returncode != 0 and "remote link" in proc.stderr:
            raise DestinationConflictError(self.target.name, str(dest))
        self._check(proc, "rename")

    def remove(self, path: PurePosixPath) -> None:
        with contextlib.suppress(ProviderError):
            self._sftp(f"-rm {sftp_quote(path)}\n", "remove")


def make_transport(target: Target) -> Transport:
    if target.protocol == "local":
        return LocalTransport(target)
    if target.protocol == "rsync":
        return RsyncTransport(target)
    if target.protocol == "sftp":
        return SftpTransport(target)
    raise InvalidInputError(f"target {target.name}: unknown protocol {target.protocol!r}")


# --- delivery -----------------------------------------------------------------------------------------

def _noop_progress(done: int, total: int) -> None:
    return None


def deliver(target: Target, local_file: str | Path, relative_dest: PurePosixPath | str,
            on_progress: ProgressCallback | None = None, *, kind: MediaKind = "movie",
            transport: Transport | None = None) -> DeliveryResult:
    """Deliver ``local_file`` to ``<target's movie/tv root>/<relative_dest>``.

    ``relative_dest`` must be made of sanitised components (as :mod:`annexd.domain.naming` renders them).
    Raises UnsafePathError (nothing written) if it is not, or if the destination would leave the root,
    DestinationConflictError if a different file is there and the policy is "never",
    ProviderError (retriable) on network/transfer/verification failures. Temp files are removed on failure.
    Blocking; call it from a worker thread and bound concurrency with :class:`TargetLimiter`.
    """
    log = logger.bind(target=target.name, protocol=target.protocol, dest=str(relative_dest))
    started = time.monotonic()
    outcome = "error"
    try:
        result = _deliver(target, Path(local_file), relative_dest, on_progress or _noop_progress, kind,
                          transport or make_transport(target))
        outcome = "skipped" if result.skipped_identical else "ok"
        result = _with_seconds(result, time.monotonic() - started)
        log.info("delivered", remote_path=result.remote_path, size=result.size, skipped=result.skipped_identical,
                 seconds=round(result.seconds, 3))
        if not result.skipped_identical:
            metrics.DELIVERY_BYTES.labels(target=target.name).inc(result.size)
        return result
    except DestinationConflictError as exc:
        outcome = "conflict"
        log.warning("delivery_conflict", error=str(exc))
        raise
    except UnsafePathError as exc:
        outcome = "unsafe"
        log.warning("delivery_unsafe_path", error=str(exc))
        raise
    except ProviderError as exc:
        log.warning("delivery_failed", error=str(exc))
        raise
    finally:
        metrics.DELIVERIES.labels(target=target.name, outcome=outcome).inc()
        metrics.DELIVERY_SECONDS.labels(target=target.name).observe(time.monotonic() - started)


def _with_seconds(result: DeliveryResult, seconds: float) -> DeliveryResult:
    return replace(result, seconds=seconds)


def _deliver(target: Target, local: Path, relative_dest: PurePosixPath | str, on_progress: ProgressCallback,
             kind: MediaKind, transport: Transport) -> DeliveryResult:
    dest = safe_join(target.root_for(kind), check_sanitized(relative_dest))
    try:
        size, digest = local.stat().st_size, sha256_file(local)
    except OSError as exc:
        raise InvalidInputError(f"local file {local} cannot be read: {exc.strerror}") from None
    existing = transport.stat(dest)
    decision = decide_existing(target.overwrite, existing, size, lambda: transport.sha256(dest) == digest)
    if decision == "conflict":
        raise DestinationConflictError(target.name, str(dest))
    if decision == "skip":
        return DeliveryResult(target.name, str(dest), size, digest, True, transport.verification)
    transport.makedirs(dest.parent)
    tmp = dest.parent / temp_name()
    try:
        transport.upload(local, tmp, size, on_progress)
        _verify(target, transport, tmp, size, digest)
        transport.commit(tmp, dest, replace=decision == "replace")
    except BaseException:
        transport.remove(tmp)
        raise
    return DeliveryResult(target.name, str(dest), size, digest, False, transport.verification)


def _verify(target: Target, transport: Transport, tmp: PurePosixPath, size: int, digest: str) -> None:
    remote_size = transport.stat(tmp)
    if remote_size != size:
        raise ProviderError(_provider(target), f"verification failed: {remote_size} bytes arrived, {size} sent")
    if transport.verification == "sha256" and transport.sha256(tmp) != digest:
        raise ProviderError(_provider(target), "verification failed: sha256 differs")


# --- concurrency --------------------------------------------------------------------------------------

class TargetLimiter:
    """At most ``target.max_concurrent`` deliveries per target at once (one BoundedSemaphore per name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, target: Target) -> threading.BoundedSemaphore:
        with self._lock:
            if target.name not in self._semaphores:
                self._semaphores[target.name] = threading.BoundedSemaphore(max(1, target.max_concurrent))
            return self._semaphores[target.name]

    @contextlib.contextmanager
    def slot(self, target: Target, timeout: float | None = None) -> Iterator[None]:
        """Hold one of the target's slots; ProviderError (retry later) if none frees up within ``timeout``."""
        semaphore = self._semaphore(target)
        if not semaphore.acquire(timeout=timeout):
            raise ProviderError(_provider(target), "all delivery slots busy", retry_after=timeout or 1.0)
        try:
            yield
        finally:
            semaphore.release()


def cleanup_stale_temp_files(root: str | Path, older_than_seconds: float, now: float | None = None) -> int:
    """Remove ``.annexd-*.part`` files left by a crash under a LOCAL root; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    if now - path.lstat().st_mtime > older_than_seconds:
                        path.unlink()
                        removed += 1
    return removed


__all__ = [
    "DeliveryResult", "DestinationConflictError", "LocalTransport", "RsyncTransport", "SftpTransport",
    "SshTransport", "Target", "TargetLimiter", "Transport", "cleanup_stale_temp_files", "decide_existing",
    "deliver", "make_transport", "parse_rsync_progress", "sha256_file", "validate_target",
]
