"""qBittorrent download client (sync; the download actors are threads).

- Every request has a timeout (``requests`` connect + read) and is counted by endpoint and outcome.
- Progress comes from ONE ``sync/maindata`` call per poll, merged into a :class:`MaindataCache`.
- Refused credentials are never retried automatically: the client is marked ``auth_failed`` and every later
  call raises :class:`ProviderAuthError` without touching the network until :meth:`QbtClient.update_settings`
  brings new settings (qBittorrent bans an IP after a few failed logins, for an hour).
- An unreachable client raises :class:`ProviderError`; callers keep their items DOWNLOADING and poll again.
- Paths coming back from qBittorrent are joined with :func:`annexd.clients.paths.resolve_under`, never trusted.
- qBittorrent adds asynchronously. :meth:`QbtClient.add_torrent` never waits for the new torrent to be listed:
  it answers ``listed=False`` and remembers the add with a deadline (``ADD_CONFIRM_S``); called again for the
  same hash it confirms (and then adds the peers), answers not yet, or, past the deadline, fails. Only
  :meth:`QbtClient.add` (scripts and tests) waits, polling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

import qbittorrentapi
import structlog
from qbittorrentapi import exceptions as qbt_exc

from annexd import metrics
from annexd.clients.paths import resolve_under
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.domain.download_states import MaindataCache, TorrentSnapshot
from annexd.domain.torrents import info_hash_of
from annexd.errors import InvalidInputError, ProviderAuthError, ProviderError, TorrentNotFoundError

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class TorrentFile:
    relative_path: str
    size: int
    progress: float
    absolute_path: Path
    index: int = 0


ADD_CONFIRM_S = 2.0  # how long a new torrent may take to be listed after its add (Sonarr waits ~1 s)


@dataclass(frozen=True)
class AddResult:
    """``added``: this call put the torrent into the client (False: it was there already, e.g. a torrent the
    user added under another category; annexd does not own that one)."""

    info_hash: str
    added: bool
    listed: bool = True  # False: added, but qBittorrent does not list it yet; call add_torrent again to confirm


@dataclass(frozen=True)
class _Adding:
    """An add this client made that qBittorrent has not listed yet."""

    deadline: float
    peers: tuple[str, ...]


@dataclass(frozen=True)
class MaindataView:
    """Every torrent in the client after one poll, whatever its category (annexd tracks its torrents by hash:
    one it reuses may sit in another category); ``changed`` holds the hashes touched by this response. The
    merged view is complete after every successful poll, so a tracked hash missing from it is not there."""

    torrents: dict[str, TorrentSnapshot]
    changed: frozenset[str]
    full_update: bool
    rid: int


def _peer_list(peers: str | Iterable[str]) -> list[str]:
    items = [peers] if isinstance(peers, str) else list(peers)
    for peer in items:
        host, sep, port = peer.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInputError(f"peer must be host:port, got {peer!r}")
    return items


class QbtClient:
    """One qBittorrent instance. Thread-safe: one lock around the session (calls are short and bounded)."""

    def __init__(self, settings: QbtClientSettings, *, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.RLock()
        self._clock = clock
        self._adding: dict[str, _Adding] = {}  # info hash -> the add to confirm
        self.cache = MaindataCache()
        self._apply_settings(settings)

    # --- settings and health ---------------------------------------------------------------------------

    def _apply_settings(self, settings: QbtClientSettings) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"qBittorrent url must be http(s)://host:port, got {settings.url!r}")
        self.settings = settings
        self.auth_failed = False
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self._logged_in = False
        self._category_ready = False
        self._api = qbittorrentapi.Client(
            host=settings.url,
            username=settings.username or None,
            password=settings.password or None,
            REQUESTS_ARGS={"timeout": (settings.timeout_seconds, settings.timeout_seconds)},
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
            SIMPLE_RESPONSES=True,  # plain dicts: wrapping 10,000 torrents in AttrDicts per poll costs CPU
        )

    def update_settings(self, settings: QbtClientSettings) -> None:
        """New settings (e.g. a corrected password) are the only thing that clears ``auth_failed``."""
        with self._lock:
            self._apply_settings(settings)
            self.cache.reset()

    @property
    def name(self) -> str:
        return self.settings.name

    def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.settings.url,
            "up": self.last_error is None and self.last_ok_at is not None and not self.auth_failed,
            "auth_failed": self.auth_failed,
            "last_error": self.last_error,
            "last_ok_at": self.last_ok_at,
            "tracked": len(self.cache.snapshots(self.settings.category)),
        }

    # --- one guarded request ---------------------------------------------------------------------------

    def _count(self, endpoint: str, outcome: str) -> None:
        metrics.QBT_REQUESTS.labels(self.name, endpoint, outcome).inc()

    def _refuse(self, endpoint: str, exc: BaseException | None) -> ProviderAuthError:
        self.auth_failed = True
        self._logged_in = False
        self.last_error = "credentials refused; not retried until the settings change"
        metrics.DOWNLOAD_CLIENT_UP.labels(self.name).set(0)
        log.error("qbittorrent.auth_failed", client=self.name, endpoint=endpoint, error=type(exc).__name__)
        return ProviderAuthError(self.name, self.last_error)

    def _fail(self, endpoint: str, outcome: str, message: str) -> ProviderError:
        self._count(endpoint, outcome)
        self.last_error = message
        metrics.DOWNLOAD_CLIENT_UP.labels(self.name).set(0)
        log.warning("qbittorrent.request_failed", client=self.name, endpoint=endpoint, outcome=outcome, error=message)
        return ProviderError(self.name, message)

    def _login(self) -> None:
        if self._logged_in or not self.settings.username:
            return
        try:
            self._api.auth_log_in()
        except (qbt_exc.LoginFailed, qbt_exc.Unauthorized401Error, qbt_exc.Forbidden403Error) as exc:
            self._count("auth/login", "auth_error")
            raise self._refuse("auth/login", exc) from None
        self._count("auth/login", "ok")
        self._logged_in = True

    def _call(self, endpoint: str, fn: Callable[[qbittorrentapi.Client], T]) -> T:
        with self._lock:
            if self.auth_failed:
                self._count(endpoint, "refused")
                raise ProviderAuthError(self.name, self.last_error or "credentials refused")
            try:
                self._login()
                result = fn(self._api)
            except ProviderError:
                raise
            except (qbt_exc.LoginFailed, qbt_exc.Unauthorized401Error, qbt_exc.Forbidden403Error) as exc:
                # a 403 here means the library's one automatic re-login was refused too
                self._count(endpoint, "auth_error")
                raise self._refuse(endpoint, exc) from None
            except (qbt_exc.HTTP4XXError, qbt_exc.HTTP5XXError) as exc:
                raise self._fail(endpoint, "error", f"{endpoint}: HTTP {type(exc).__name__}") from None
            except qbt_exc.APIConnectionError as exc:
                self._logged_in = False
                raise self._fail(endpoint, "unreachable", f"{endpoint}: unreachable ({type(exc).__name__})") from None
            except qbt_exc.APIError as exc:
                raise self._fail(endpoint, "error", f"{endpoint}: {type(exc).__name__}") from None
            self._count(endpoint, "ok")
            self.last_error = None
            self.last_ok_at = self._clock()
            metrics.DOWNLOAD_CLIENT_UP.labels(self.name).set(1)
            return result

    # --- API -------------------------------------------------------------------------------------------

    def ping(self) -> str:
        """The qBittorrent version; raises like every other call."""
        return str(self._call("app/version", lambda api: api.app_version()))

    def has(self, info_hash: str) -> bool:
        found = self._call("torrents/info", lambda api: api.torrents_info(torrent_hashes=info_hash.lower()))
        return any(str(t.get("hash", "")).lower() == info_hash.lower() for t in found)

    def _ensure_category(self) -> None:
        if self._category_ready or not self.settings.category:
            return

        def create(api: qbittorrentapi.Client) -> None:
            try:
                api.torrents_create_category(name=self.settings.category)
            except qbt_exc.Conflict409Error:
                pass  # it exists already: the usual case

        self._call("torrents/createCategory", create)
        self._category_ready = True

    def add(
        self,
        torrent_bytes: bytes | None = None,
        magnet: str | None = None,
        *,
        tags: Iterable[str] = (),
        save_path: str | None = None,
        peers: str | Iterable[str] | None = None,
    ) -> str:
        """Add a torrent (or find it already there) and return its info hash (lower-case hex) once qBittorrent
        lists it. Waits (polling every 50 ms): for scripts and tests; the daemon's workers use add_torrent."""
        while not (result := self.add_torrent(torrent_bytes, magnet, tags=tags, save_path=save_path,
                                              peers=peers)).listed:
            threading.Event().wait(0.05)
        return result.info_hash

    def add_torrent(
        self,
        torrent_bytes: bytes | None = None,
        magnet: str | None = None,
        *,
        tags: Iterable[str] = (),
        save_path: str | None = None,
        peers: str | Iterable[str] | None = None,
    ) -> AddResult:
        """Add a torrent, or find it already there (then it is left exactly as it is: its category, save path
        and state are the user's); says which of the two happened. Never waits: a new torrent qBittorrent does
        not list yet comes back ``listed=False``, and the next call for it confirms the add (see the module)."""
        info_hash = info_hash_of(torrent_bytes, magnet)
        peer_list = tuple(_peer_list(peers)) if peers else ()
        with self._lock:
            adding = self._adding.get(info_hash)
        if adding is not None:  # ours, waiting to be listed: never added twice
            return self._confirm(info_hash, adding)
        log.info("qbittorrent.add", client=self.name, info_hash=info_hash)
        if self.has(info_hash):
            log.info("qbittorrent.add_reused", client=self.name, info_hash=info_hash)
            if peer_list:
                self.add_peers(info_hash, peer_list)
            return AddResult(info_hash, False)
        self._ensure_category()
        try:
            self._add_new(torrent_bytes, magnet, tags, save_path)
            log.info("qbittorrent.added", client=self.name, info_hash=info_hash)
        except ProviderError:
            # "Fails." also means "already there": an add still being processed by qBittorrent.
            if not self.has(info_hash):
                raise
        adding = _Adding(self._clock() + ADD_CONFIRM_S, peer_list)
        with self._lock:
            self._adding[info_hash] = adding
        return self._confirm(info_hash, adding)

    def _confirm(self, info_hash: str, adding: _Adding) -> AddResult:
        """Is our add listed now? Then its peers go in; past its deadline it failed (the next call adds again)."""
        if self.has(info_hash):
            with self._lock:
                self._adding.pop(info_hash, None)
            if adding.peers:
                self.add_peers(info_hash, adding.peers)
            return AddResult(info_hash, True)
        if self._clock() > adding.deadline:
            with self._lock:
                self._adding.pop(info_hash, None)
            raise ProviderError(self.name, f"torrent {info_hash} did not appear after add")
        return AddResult(info_hash, True, listed=False)

    def _add_new(self, torrent_bytes: bytes | None, magnet: str | None, tags: Iterable[str], save_path: str | None) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {
            "category": s.category or None,
            "tags": sorted({*s.tags, *tags}) or None,
            "save_path": save_path or s.save_path,
            "is_paused": False,
            "ratio_limit": s.seed_ratio_limit,
            "seeding_time_limit": s.seed_time_limit_minutes,
        }
        if torrent_bytes is not None:
            kwargs["torrent_files"] = {"annexd.torrent": torrent_bytes}
        else:
            kwargs["urls"] = magnet
        answer = self._call("torrents/add", lambda api: api.torrents_add(**kwargs))
        if str(answer).strip() not in ("Ok.", ""):
            raise self._fail("torrents/add", "error", f"torrents/add answered {str(answer)[:80]!r}")

    def add_peers(self, info_hash: str, peers: str | Iterable[str]) -> None:
        joined = "|".join(_peer_list(peers))
        self._call("torrents/addPeers", lambda api: api.torrents_add_peers(peers=joined, torrent_hashes=info_hash))

    def delete(self, info_hash: str, delete_files: bool) -> None:
        self._call(
            "torrents/delete",
            lambda api: api.torrents_delete(delete_files=delete_files, torrent_hashes=info_hash.lower()),
        )
        with self._lock:
            self.cache.forget(info_hash)

    def maindata(self) -> MaindataView:
        """One ``sync/maindata`` request, merged into the cache; returns every torrent in the client."""
        started = self._clock()
        with self._lock:
            rid = self.cache.rid
            try:
                response = self._call("sync/maindata", lambda api: api.sync_maindata(rid=rid))
            except ProviderError:
                self._logged_in = False
                raise
            changed = self.cache.apply(response)
            view = self.cache.snapshots()
        metrics.TORRENTS_TRACKED.labels(self.name).set(len(self.cache.snapshots(self.settings.category or None)))
        metrics.DOWNLOAD_POLL_SECONDS.observe(max(0.0, self._clock() - started))
        return MaindataView(
            torrents=view,
            changed=frozenset(h for h in changed if h in view),
            full_update=bool(response.get("full_update")),
            rid=self.cache.rid,
        )

    def snapshot(self, info_hash: str) -> TorrentSnapshot | None:
        """From the cache of the last poll (no request)."""
        return self.cache.snapshot(info_hash)

    def files(self, info_hash: str) -> list[TorrentFile]:
        """The torrent's files with absolute paths inside its save (or incomplete-download) directory."""
        info = self._call("torrents/info", lambda api: api.torrents_info(torrent_hashes=info_hash.lower()))
        if not info:
            raise TorrentNotFoundError(self.name, f"torrent {info_hash} is not in the client")
        root = content_root(dict(info[0]))
        raw: list[dict[str, Any]] = list(
            self._call("torrents/files", lambda api: api.torrents_files(torrent_hash=info_hash.lower()))
        )
        return [
            TorrentFile(
                relative_path=str(PurePosixPath(str(f["name"]))),
                size=int(f.get("size", 0)),
                progress=float(f.get("progress", 0.0)),
                absolute_path=resolve_under(root, str(f["name"])),
                index=int(f.get("index", i)),
            )
            for i, f in enumerate(raw)
        ]


def content_root(torrent: dict[str, Any]) -> str:
    """The directory that file names from ``torrents/files`` are relative to.

    File names are relative to the save path (they include the torrent's root folder when it has one). While
    an incomplete-downloads directory is in use the data lives under ``download_path`` instead;
    ``content_path`` tells which of the two is current.
    """
    save_path = str(torrent.get("save_path") or "")
    download_path = str(torrent.get("download_path") or "")
    content_path = str(torrent.get("content_path") or "")
    if not save_path:
        raise ProviderError("qbittorrent", "torrent has no save_path")
    if download_path and content_path and Path(content_path).is_relative_to(download_path):
        return download_path
    return save_path
