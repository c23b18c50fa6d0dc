"""Delivery to a local (or locally mounted) directory: exclusive create, fsync, no-clobber hard-link rename,
and a realpath check so a symlinked directory cannot lead out of the target's roots.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path, PurePosixPath
from typing import Literal

from annexd.clients.delivery_settings import Target
from annexd.clients.delivery_transport import (
    CHUNK,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    DestinationConflictError,
    ProgressCallback,
    provider_name,
    sha256_file,
)
from annexd.errors import ProviderError, UnsafePathError


class LocalTransport:
    verification: Literal["sha256", "size"] = "sha256"

    def __init__(self, target: Target):
        self.target = target

    def _fail(self, action: str, exc: OSError) -> ProviderError:
        return ProviderError(provider_name(self.target), f"{action} failed: {exc.strerror or exc}")

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
            self.check_inside_root(PurePosixPath(existing))  # before creating anything through a symlink
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise self._fail("mkdir", exc) from None
        self.check_inside_root(path)

    def _roots(self) -> list[str]:
        return [r for r in (self.target.movie_root, self.target.tv_root) if r]

    def check_inside_root(self, path: PurePosixPath) -> None:
        # the lexical check in join_under cannot see a symlinked directory pointing out of the root
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

    def remove_empty_dir(self, path: PurePosixPath) -> bool:
        self.check_inside_root(path)
        try:
            os.rmdir(path)
        except OSError:
            return False
        return True

    def sweep(self, root: PurePosixPath, older_than_seconds: float) -> int:
        return cleanup_stale_temp_files(root, older_than_seconds) if os.path.isdir(root) else 0


def _fsync_dir(path: PurePosixPath) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cleanup_stale_temp_files(root: str | Path | PurePosixPath, older_than_seconds: float,
                             now: float | None = None) -> int:
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
