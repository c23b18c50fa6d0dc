"""A media server's settings (``[[media_servers]]``: Plex, Emby or Jellyfin) and their validation, kept apart
from the client so ``annexd.config`` builds them without importing requests (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from annexd.config_loader import http_url_problem
from annexd.redaction import Secret, reveal

ServerKind = Literal["plex", "emby", "jellyfin"]
KINDS = ("plex", "emby", "jellyfin")


@dataclass(frozen=True)
class MediaServer:
    name: str
    kind: ServerKind
    url: str
    token: str | Secret = field(default="", repr=False)
    library_section: str = ""  # Plex: skip section discovery and refresh this section id
    timeout: float = 10.0
    # (prefix as the target sees it, prefix as the media server sees it), e.g. ("/volume1/media", "/data")
    path_map: tuple[tuple[str, str], ...] = ()


def validate_media_server(s: MediaServer) -> list[str]:
    key = f"media_servers.{s.name or '?'}"
    problems = []
    if s.kind not in KINDS:
        problems.append(f"{key}.kind: {s.kind!r} is not one of {', '.join(KINDS)}")
    if (why := http_url_problem(s.url)) is not None:
        problems.append(f"{key}.url: {why}")
    parts = urlsplit(s.url)
    if parts.query or parts.username or parts.password:
        problems.append(f"{key}.url: must not hold a query or credentials (put the token in `token`)")
    if not reveal(s.token):
        problems.append(f"{key}.token: required")
    if s.timeout <= 0:
        problems.append(f"{key}.timeout: must be positive")
    return problems
