"""Ask Plex, Emby or Jellyfin to rescan the folder a file was delivered to.

A rescan is a courtesy: :func:`rescan` never raises for ordinary failures (the delivery stands; the media
server's periodic scan will find the file), but counts the outcome and returns a detail that holds no token.
Tokens travel only in headers, never in URLs.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from annexd import metrics
from annexd.clients.mediaserver_settings import MediaServer
from annexd.errors import ProviderAuthError, ProviderError
from annexd.redaction import redact_text, reveal

logger = structlog.get_logger(__name__)

USER_AGENT = "annexd/0.1"


@dataclass(frozen=True)
class RescanResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class PlexSection:
    key: str
    title: str
    locations: tuple[str, ...]


# --- pure helpers -------------------------------------------------------------------------------------

def to_server_path(path: str, path_map: Sequence[tuple[str, str]]) -> str:
    """Translate a target path to the media server's view (longest matching prefix wins)."""
    for src, dst in sorted(path_map, key=lambda p: len(p[0]), reverse=True):
        src = src.rstrip("/")
        if path == src or path.startswith(src + "/"):
            return dst.rstrip("/") + path[len(src):]
    return path


def _within(path: str, location: str) -> bool:
    location = location.rstrip("/") or "/"
    return path == location or path.startswith(location.rstrip("/") + "/")


def find_plex_section(sections: Sequence[PlexSection], path: str) -> PlexSection | None:
    """The section with the longest Location that contains ``path``."""
    best: tuple[int, PlexSection] | None = None
    for section in sections:
        for location in section.locations:
            if _within(path, location) and (best is None or len(location) > best[0]):
                best = (len(location), section)
    return best[1] if best else None


def parse_plex_sections(body: bytes, content_type: str) -> list[PlexSection]:
    """``GET /library/sections`` as JSON (``Accept: application/json``) or as Plex's default XML."""
    if "json" in content_type:
        container = json.loads(body).get("MediaContainer", {})
        return [PlexSection(str(d.get("key", "")), str(d.get("title", "")),
                            tuple(str(loc.get("path", "")) for loc in d.get("Location", []) or []))
                for d in container.get("Directory", []) or []]
    root = ElementTree.fromstring(body)
    return [PlexSection(d.get("key", ""), d.get("title", ""),
                        tuple(loc.get("path", "") for loc in d.findall("Location")))
            for d in root.findall("Directory")]


# --- clients ------------------------------------------------------------------------------------------

class _Client:
    def __init__(self, server: MediaServer, session: requests.Session | None = None):
        self.server = server
        self.session = session or requests.Session()
        self.base = server.url.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.server.name!r}, {self.base!r})"

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        provider = f"media_server:{self.server.name}"
        try:
            response = self.session.request(method, self.base + path, headers=self._headers(),
                                            timeout=self.server.timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise ProviderError(provider, f"{method} {path.split('?')[0]}: {type(exc).__name__}",
                                retry_after=60) from None
        if response.status_code in (401, 403):
            raise ProviderAuthError(provider, f"{method} {path.split('?')[0]}: HTTP {response.status_code}, "
                                              "token refused")
        return response

    def _ok(self, response: requests.Response, what: str) -> None:
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"media_server:{self.server.name}", f"{what}: HTTP {response.status_code}")


class PlexClient(_Client):
    def _headers(self) -> dict[str, str]:
        return {"X-Plex-Token": reveal(self.server.token), "Accept": "application/json",
                "X-Plex-Product": "annexd", "X-Plex-Client-Identifier": "annexd", "User-Agent": USER_AGENT}

    def sections(self) -> list[PlexSection]:
        response = self._request("GET", "/library/sections")
        self._ok(response, "list sections")
        try:
            return parse_plex_sections(response.content, response.headers.get("Content-Type", ""))
        except (ValueError, AttributeError, DefusedXmlException, ElementTree.ParseError) as exc:
            raise ProviderError(f"media_server:{self.server.name}",
                                f"unreadable section list: {type(exc).__name__}") from None

    def ping(self) -> str:
        """The server answers and takes the token (the health check)."""
        return f"{len(self.sections())} library section(s)"

    def refresh(self, path: str) -> str:
        """Refresh only the folder of ``path`` in the section that contains it."""
        folder = posixpath.dirname(path.rstrip("/")) or "/"
        section = self.server.library_section
        if not section:
            found = find_plex_section(self.sections(), folder)
            if found is None:
                raise ProviderError(f"media_server:{self.server.name}", f"no library section contains {folder}")
            section = found.key
        response = self._request("GET", f"/library/sections/{section}/refresh", params={"path": folder})
        self._ok(response, "refresh")
        return f"section {section} refreshing {folder}"


class EmbyClient(_Client):
    def _headers(self) -> dict[str, str]:
        return {"X-Emby-Token": reveal(self.server.token), "User-Agent": USER_AGENT}

    def ping(self) -> str:
        """The server answers and takes the token (the health check)."""
        response = self._request("GET", "/System/Info")
        self._ok(response, "system info")
        return "answering"

    def refresh(self, path: str) -> str:
        """Tell the server about the new file; fall back to a full library refresh if that is unsupported."""
        body = {"Updates": [{"Path": path, "UpdateType": "Created"}]}
        response = self._request("POST", "/Library/Media/Updated", json=body)
        if 200 <= response.status_code < 300:
            return f"media updated {path}"
        logger.info("media_server_fallback_refresh", server=self.server.name, status=response.status_code)
        self._ok(self._request("POST", "/Library/Refresh"), "library refresh")
        return f"full library refresh (media updated answered HTTP {response.status_code})"


class JellyfinClient(EmbyClient):
    def _headers(self) -> dict[str, str]:
        token = reveal(self.server.token).replace('"', "")
        return {"Authorization": f'MediaBrowser Client="annexd", Device="annexd", DeviceId="annexd", '
                                 f'Version="0.1", Token="{token}"', "User-Agent": USER_AGENT}


def client_for(server: MediaServer, session: requests.Session | None = None) -> PlexClient | EmbyClient:
    clients: dict[str, type[PlexClient] | type[EmbyClient]] = {
        "plex": PlexClient, "emby": EmbyClient, "jellyfin": JellyfinClient}
    if server.kind not in clients:
        raise ProviderError(f"media_server:{server.name}", f"unknown kind {server.kind!r}")
    return clients[server.kind](server, session)


def ping(server: MediaServer) -> str:
    """Whether ``server`` answers and takes its token; ProviderError (or ProviderAuthError) when not."""
    with requests.Session() as session:
        return client_for(server, session).ping()


def rescan(server: MediaServer, path: str, session: requests.Session | None = None) -> RescanResult:
    """Ask ``server`` to rescan the folder of ``path`` (a path as the target sees it). Never raises for
    network, HTTP or auth failures: they are counted, logged without the token, and returned."""
    server_path = to_server_path(path, server.path_map)
    log = logger.bind(server=server.name, kind=server.kind, path=server_path)
    own_session = session is None
    try:
        session = session or requests.Session()
        detail = client_for(server, session).refresh(server_path)
    except ProviderAuthError as exc:
        return _failed(server, log, "auth", str(exc))
    except ProviderError as exc:
        return _failed(server, log, "error", str(exc))
    except Exception as exc:  # a buggy server answer must not fail a finished delivery
        return _failed(server, log, "error", f"{type(exc).__name__}: {exc}")
    finally:
        if own_session and session is not None:
            session.close()
    metrics.MEDIA_SERVER_RESCANS.labels(server=server.name, outcome="ok").inc()
    log.info("media_server_rescan", ok=True, detail=detail)
    return RescanResult(True, detail)


def _failed(server: MediaServer, log: Any, outcome: str, detail: str) -> RescanResult:
    detail = redact_text(detail, [server.token] if reveal(server.token) else [])
    metrics.MEDIA_SERVER_RESCANS.labels(server=server.name, outcome=outcome).inc()
    log.warning("media_server_rescan_failed", ok=False, outcome=outcome, detail=detail)
    return RescanResult(False, detail)
