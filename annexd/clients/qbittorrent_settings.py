"""A qBittorrent client's settings (``[[download_clients]]``), kept apart from the client so ``annexd.config``
builds them without importing qbittorrent-api (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annexd.config_loader import http_url_problem


@dataclass(frozen=True)
class QbtClientSettings:
    name: str = "qbittorrent"
    url: str = "http://127.0.0.1:8080"
    username: str = "admin"
    password: str = field(default="", repr=False)
    category: str = "annexd"
    tags: tuple[str, ...] = ("annexd",)
    seed_ratio_limit: float | None = None
    seed_time_limit_minutes: int | None = None
    timeout_seconds: float = 10.0
    save_path: str | None = None

    @classmethod
    def from_host(cls, host: str, port: int, *, https: bool = False, **kwargs: Any) -> QbtClientSettings:
        """Settings from a host and port instead of a URL."""
        return cls(url=f"{'https' if https else 'http'}://{host}:{int(port)}", **kwargs)


def validate_client(c: QbtClientSettings) -> list[str]:
    """Every problem of a download client's settings, each naming its key."""
    key = f"download_clients.{c.name or '?'}"
    problems = []
    if (why := http_url_problem(c.url)) is not None:
        problems.append(f"{key}.url: {why} (qBittorrent's Web UI, e.g. http://127.0.0.1:8080)")
    if c.timeout_seconds <= 0:
        problems.append(f"{key}.timeout_seconds: must be positive")
    return problems
