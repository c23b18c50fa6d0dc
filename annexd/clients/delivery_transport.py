"""What every delivery transport offers (:class:`Transport`), and what the transports share: the conflict error,
the progress callback, the file checksum and the provider name in errors and metrics. Local file I/O only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from annexd.clients.delivery_settings import Target
from annexd.errors import PermanentProviderError

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)
# Every transport writes to a hidden ``.annexd-<random>.part`` in the destination directory first.
TEMP_PREFIX = ".annexd-"
TEMP_SUFFIX = ".part"
CHUNK = 4 * 1024 * 1024


class DestinationConflictError(PermanentProviderError):
    """A different file (or a directory) already exists at the destination and the policy forbids replacing
    it. Retrying will not help; a person must decide."""

    def __init__(self, target: str, path: str, message: str = "a different file already exists"):
        self.path = path
        super().__init__(f"target:{target}", f"{message} at {path}")


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

    def remove_empty_dir(self, path: PurePosixPath) -> bool:
        """Remove the directory at ``path`` if it is empty; False (never an error) when it is not there, not
        empty or cannot be removed."""

    def sweep(self, root: PurePosixPath, older_than_seconds: float) -> int:
        """Remove the delivery temp files (``.annexd-*.part``) under ``root`` unchanged for longer than
        ``older_than_seconds``; how many. ProviderError when the target cannot be reached."""


def provider_name(target: Target) -> str:
    return f"target:{target.name}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
