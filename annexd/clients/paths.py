"""Local paths that outside services report (qBittorrent's file list, the members of an archive), joined under
a root with symlinks resolved, so a hostile name or a symlink can never lead out of it; and annexd's own work
copy of a file it must not touch (a hard link, or a copy across filesystems). Reads the filesystem;
the lexical checks are :func:`annexd.domain.torrents.validate_relative_path`, and the naming of delivered files
uses :func:`annexd.domain.naming.join_under` (lexical only: the target may be remote).
"""

from __future__ import annotations

import os
import shutil
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


def work_copy(source: Path, root: Path, relative: str | PurePosixPath) -> Path:
    """``source`` linked into ``root`` at ``relative`` (hard link; copied when the link is refused, e.g. across
    filesystems). The source is only read: never moved, renamed or changed. An existing copy is kept."""
    target = root / validate_relative_path(relative)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copy2(source, partial)
    partial.replace(target)
    return target
