"""Delivery over ssh: rsync for the bytes (with ``--info=progress2`` progress) and ssh for file operations,
or OpenSSH ``sftp -b -`` batches. Every path is shell-quoted for ssh and double-quoted for sftp batch files;
every subprocess has a timeout and runs in its own process group, killed whole on timeout.

Commands and transfers to one target share one authenticated connection (OpenSSH ControlMaster, its socket in
the target's ``control_dir``, kept ``ssh_reuse_seconds`` after its last use): a delivery's stat, mkdir, upload,
checksum and rename cost one handshake, not six. :func:`close_shared_connection` ends it at shutdown.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from annexd.clients.delivery_settings import Target
from annexd.clients.delivery_transport import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    DestinationConflictError,
    ProgressCallback,
    provider_name,
    sha256_file,
)
from annexd.errors import ProviderError, UnsafePathError


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


def sftp_quote(path: PurePosixPath | Path | str) -> str:
    """A path as one argument of an sftp batch command."""
    text = str(path)
    if any(c in text for c in "\0\n\r"):
        raise UnsafePathError(f"control character in path {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ssh_options(target: Target) -> list[str]:
    """Options shared by ssh, rsync's ``-e`` and sftp (sftp takes the port as ``-P`` separately)."""
    return [
        "-i", target.key_file, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={target.known_hosts_file}",
        "-o", f"ConnectTimeout={max(1, int(target.connect_timeout))}",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
        *_sharing_options(target),
    ]


# A unix socket path holds at most 107 bytes, and ssh first binds "<ControlPath>.<16 random characters>".
MAX_CONTROL_PATH = 88


def control_path(target: Target) -> str | None:
    """The socket of the target's shared ssh connection, or None when it shares none. Too long a state path
    falls back to a private directory in the system's temp dir; a directory that is not ours (owner, mode)
    turns sharing off rather than trusting it."""
    if target.protocol == "local" or not target.control_dir or target.ssh_reuse_seconds <= 0:
        return None
    who = f"{target.user}@{target.host}:{target.port}:{target.key_file}"
    name = hashlib.sha256(who.encode()).hexdigest()[:16]
    directory = Path(target.control_dir).expanduser()
    if len(str(directory)) + 1 + len(name) > MAX_CONTROL_PATH:
        tag = hashlib.sha256(str(directory).encode()).hexdigest()[:10]
        directory = Path(tempfile.gettempdir()) / f"annexd-{os.getuid()}-{tag}"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return None
    if not os.path.isdir(directory) or os.path.islink(directory) or info.st_uid != os.getuid() \
            or info.st_mode & 0o077:
        return None
    return str(directory / name)


def _sharing_options(target: Target) -> list[str]:
    path = control_path(target)
    if path is None:
        return []
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={path}",
            "-o", f"ControlPersist={int(target.ssh_reuse_seconds)}"]


def close_shared_connection(target: Target, timeout: float = 5.0) -> None:
    """End the target's shared ssh connection, if one is open (at shutdown; it would end by itself once idle)."""
    path = control_path(target)
    if path is None or not os.path.exists(path):
        return
    cmd = ["ssh", "-o", f"ControlPath={path}", "-O", "exit", "-p", str(target.port),
           f"{target.user}@{target.host}"]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


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
        raise ProviderError(provider_name(target), f"{action}: cannot run {cmd[0]}: {exc.strerror}") from None
    try:
        stdout, stderr = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ProviderError(provider_name(target), f"{action} timed out after {timeout:g}s", retry_after=60) from None
    if proc.returncode == 255:
        raise ProviderError(provider_name(target), f"{action}: connection failed: {_last_line(stderr)}",
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
            raise ProviderError(provider_name(self.target), f"{action} failed: {_last_line(proc.stderr)}")
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
            raise ProviderError(provider_name(self.target), f"stat: unexpected output {out[:80]!r}")
        return int(out)

    def sha256(self, path: PurePosixPath) -> str:
        out = self._check(self._ssh(f"sha256sum < {shlex.quote(str(path))}", "checksum",
                                    timeout=self.target.timeout), "checksum")
        digest = out.split()[0] if out.split() else ""
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ProviderError(provider_name(self.target), "checksum: unexpected sha256sum output")
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

    def remove_empty_dir(self, path: PurePosixPath) -> bool:
        try:
            return self._ssh(f"rmdir -- {shlex.quote(str(path))}", "rmdir").returncode == 0
        except ProviderError:
            return False

    def sweep(self, root: PurePosixPath, older_than_seconds: float) -> int:
        q = shlex.quote(str(root))
        minutes = max(1, math.ceil(older_than_seconds / 60))
        pattern = shlex.quote(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
        script = f"[ -d {q} ] || exit 0; find {q} -type f -name {pattern} -mmin +{minutes} -print -delete"
        out = self._check(self._ssh(script, "sweep", timeout=self.target.timeout), "sweep")
        return sum(1 for line in out.splitlines() if line.strip())


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
            raise ProviderError(provider_name(t), f"rsync timed out after {t.timeout:g}s", retry_after=60)
        if rc != 0:
            raise ProviderError(provider_name(t), f"rsync exited {rc}: {_last_line(stderr)}", retry_after=60)
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
            raise ProviderError(provider_name(self.target), f"{action} failed: {_last_line(proc.stderr)}")
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

    def remove_empty_dir(self, path: PurePosixPath) -> bool:
        try:
            return self._sftp(f"rmdir {sftp_quote(path)}\n", "rmdir").returncode == 0
        except ProviderError:
            return False

    def sweep(self, root: PurePosixPath, older_than_seconds: float, max_depth: int = 4) -> int:
        """SFTP has no find: list the tree level by level (one sftp batch per level, a media root is shallow:
        ``Show/Season 01/file``), then remove the old temp files in one batch."""
        stale: list[PurePosixPath] = []
        level = [root]
        for _ in range(max_depth):
            if not level:
                break
            listing = self._sftp("".join(f"-ls -lan {sftp_quote(d)}\n" for d in level), "sweep").stdout
            level = self._sweep_level(level, listing, older_than_seconds, stale)
        if stale:
            self._sftp("".join(f"-rm {sftp_quote(p)}\n" for p in stale), "sweep")
        return len(stale)

    @staticmethod
    def _sweep_level(dirs: list[PurePosixPath], listing: str, older_than_seconds: float,
                     stale: list[PurePosixPath]) -> list[PurePosixPath]:
        """The subdirectories in one level's listing; its old temp files are added to ``stale``."""
        subdirs: list[PurePosixPath] = []
        current = -1
        for line in listing.splitlines():
            if line.startswith("sftp>"):
                current += 1  # the batch echoes each command before its output
                continue
            fields = line.split(None, 8)
            if len(fields) != 9 or not 0 <= current < len(dirs):
                continue
            name = PurePosixPath(fields[8]).name
            if name in (".", ".."):
                continue
            path = dirs[current] / name
            if fields[0].startswith("d"):
                subdirs.append(path)
            elif (fields[0].startswith("-") and name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
                  and listed_age(fields[5:8], time.time()) > older_than_seconds):
                stale.append(path)
        return subdirs


def listed_age(stamp: list[str], now: float) -> float:
    """Seconds since an ``ls -l`` time (``Jan 5 10:20`` within the last six months, else ``Jan 5 2023``)."""
    month, day, clock = stamp
    current = datetime.fromtimestamp(now)
    try:
        if ":" in clock:
            when = datetime.strptime(f"{current.year} {month} {day} {clock}", "%Y %b %d %H:%M")
            if when > current:
                when = when.replace(year=current.year - 1)
        else:
            when = datetime.strptime(f"{clock} {month} {day}", "%Y %b %d")
    except ValueError:
        return 0.0  # unreadable: never old enough to delete
    return (current - when).total_seconds()
