"""Local paths that outside services report (qBittorrent's file list, the members of an archive), joined under
a root with symlinks resolved, so a hostile name or a symlink can never lead out of it. Reads the filesystem;
the lexical checks are :func:`annexd.domain.torrents.validate_relative_path`, and the naming of delivered files
uses :func:`annexd.domain.naming.join_under` (lexical only: the target may be remote).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from annexd.domain.torrents import validate_relative_path
from annexd.errors import UnsafePathError


def resolve_under(root: str | Path, relative: str | PurePosixPath) -> Path:
    """Join an untrusted relative path onto ``root``; the result (symlinks resolved) never leaves root."""
    rel = validate_relative_path(relative)
    base = Path(root).resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise UnsafePathError(f"path {rel!r} escapes {base}")
    return target
