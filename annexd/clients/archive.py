"""Archive extraction with bsdtar (libarchive): RAR sets and other archives found in a finished torrent are
extracted into a working directory, after every member name is checked, so the file mapping can run again
on what came out. Runs subprocesses (with a timeout); the decisions are in :mod:`annexd.domain.filemap`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from annexd.clients.paths import resolve_under
from annexd.domain.torrents import validate_relative_path
from annexd.errors import InvalidInputError, UnsafePathError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ExtractionResult:
    archive: Path
    ok: bool
    files: tuple[Path, ...]
    error: str | None = None


def extractor_available() -> str | None:
    return shutil.which("bsdtar")


def _listing(binary: str, archive: Path, timeout: float) -> list[str]:
    proc = subprocess.run(
        [binary, "-tf", str(archive)], capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise InvalidInputError(f"cannot list {archive.name}: {proc.stderr.decode(errors='replace')[:200]}")
    return [line for line in proc.stdout.decode("utf-8", errors="replace").splitlines() if line and not line.endswith("/")]


def extract_archive(archive: Path, workdir: Path, *, timeout: float = 600.0) -> ExtractionResult:
    """Extract one archive with bsdtar (libarchive) into ``workdir``; member names are checked first."""
    binary = extractor_available()
    if binary is None:
        return ExtractionResult(archive, False, (), "bsdtar not installed (Debian: libarchive-tools)")
    try:
        members = [validate_relative_path(m) for m in _listing(binary, archive, timeout)]
        workdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [binary, "-xf", str(archive), "-C", str(workdir), "--no-same-owner", "--no-same-permissions"],
            capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
    except (InvalidInputError, subprocess.TimeoutExpired) as exc:
        log.warning("filemap.extract_failed", archive=str(archive), error=str(exc))
        return ExtractionResult(archive, False, (), str(exc))
    if proc.returncode != 0:
        return ExtractionResult(archive, False, (), proc.stderr.decode(errors="replace")[:300])
    try:
        return ExtractionResult(archive, True, tuple(resolve_under(workdir, m) for m in members))
    except UnsafePathError as exc:
        return ExtractionResult(archive, False, (), str(exc))


def extract_archives(paths: Iterable[Path], workdir: Path, *, timeout: float = 600.0) -> list[ExtractionResult]:
    """Extract each archive set (give the first volumes, e.g. ``FileMapping.archives`` joined on the root)."""
    return [extract_archive(Path(p), workdir, timeout=timeout) for p in paths]
