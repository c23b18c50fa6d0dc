"""annexd.clients.paths: untrusted relative paths joined under a local root, symlinks resolved."""

from pathlib import Path

import pytest

from annexd.clients.paths import resolve_under
from annexd.errors import UnsafePathError


def test_resolve_under_never_leaves_the_root(tmp_path: Path) -> None:
    (tmp_path / "root" / "a").mkdir(parents=True)
    root = tmp_path / "root"
    assert resolve_under(root, "a/b.mkv") == (root / "a" / "b.mkv").resolve()
    for bad in ("../x", "a/../../x", "/etc/passwd", "", "a//b", "a/./b", "C:/x", "a\\..\\b"):
        with pytest.raises(UnsafePathError):
            resolve_under(root, bad)
    (root / "link").symlink_to(tmp_path)  # a symlink inside root pointing out of it
    with pytest.raises(UnsafePathError):
        resolve_under(root, "link/secret")
