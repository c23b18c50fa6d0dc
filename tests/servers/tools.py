"""External programs the tests run for real, as fixtures that fail (never skip) when one is missing: ffmpeg and
ffprobe, bsdtar (libarchive), systemd-analyze. Requesting one marks the test `integration`."""

from __future__ import annotations

import shutil

import pytest

from tests.servers import refuse_under_test_fast


def require_program(name: str, package: str) -> str:
    refuse_under_test_fast(name)
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (Debian package {package!r}; `make system-deps`)")
    return path


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """ffmpeg (and ffprobe beside it): clips are generated, encoded and probed for real."""
    require_program("ffprobe", "ffmpeg")
    return require_program("ffmpeg", "ffmpeg")


@pytest.fixture(scope="session")
def bsdtar() -> str:
    return require_program("bsdtar", "libarchive-tools")


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    return require_program("systemd-analyze", "systemd")
