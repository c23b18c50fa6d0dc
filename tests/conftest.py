"""Shared fixtures. Real servers live in tests/servers/ (one plugin module each), fake web services in tests/fakes/."""

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.qbittorrent",
    "tests.servers.sshd",
]
