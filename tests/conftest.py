"""Shared fixtures and the two markers.

Real servers live in tests/servers/ (one plugin module each), fake web services in tests/fakes/.

``integration``: set here, automatically, on every test that uses a real server or program through its fixture
(directly or through other fixtures; REAL_SERVER_FIXTURES below). A new server (an IRC server, Chromium...)
joins by adding its fixture to that table. The PostgreSQL variant of the ``database_url``/``db`` fixtures is
marked by its parameter; the two tests that start servers on their own (the demo scenario, the bench smoke
test) carry the marker themselves. ``make test-fast`` deselects these, and under it (ANNEXD_TEST_FAST=1) every
server fixture and starter refuses to run, so a test that needs a server but is not marked fails loudly.

``slow``: long runs only (chaos trials, big benches): ``make chaos``; not part of ``make test``.
"""

from __future__ import annotations

import pytest

from tests.servers import TEST_FAST_ENV, refuse_under_test_fast

pytest_plugins = [
    "tests.servers.annexd",
    "tests.servers.ircd",
    "tests.servers.postgres",
    "tests.servers.prometheus",
    "tests.servers.qbittorrent",
    "tests.servers.sshd",
    "tests.servers.tools",
]

# Fixture -> the real server or program it needs.
REAL_SERVER_FIXTURES: dict[str, str] = {
    "postgres_server": "PostgreSQL",
    "postgres_factory": "PostgreSQL",
    "qbt_seeder": "qBittorrent",
    "qbt_downloader": "qBittorrent",
    "qbt_auth": "qBittorrent",
    "sshd_server": "sshd",
    "prometheus_factory": "Prometheus",
    "promtool_cli": "promtool (Prometheus)",
    "ffmpeg": "ffmpeg",
    "bsdtar": "bsdtar (libarchive)",
    "systemd_analyze": "systemd-analyze",
    "daemon_factory": "the annexd daemon as a process",
    "arr_daemon": "the annexd daemon as a process (the Radarr/Sonarr API tests)",
    "irc_network_server": "an IRC network (InspIRCd + Anope)",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if set(getattr(item, "fixturenames", ())) & REAL_SERVER_FIXTURES.keys():
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest) -> None:
    what = REAL_SERVER_FIXTURES.get(fixturedef.argname)
    if what is not None:
        refuse_under_test_fast(what)


__all__ = ["REAL_SERVER_FIXTURES", "TEST_FAST_ENV"]
