"""Who may call the HTTP API: the one key check, what is open without a key, and the status page's sessions.

Every route needs the API key (``X-Api-Key`` or ``Authorization: Bearer``), GETs too, except: ``/health``
(its summary only), ``/api/v1/openapi.json``, the encoder agents' WebSocket (it checks its own token) and
``/metrics`` when ``http.metrics_public`` is true (unset: true exactly when ``http.host`` is a loopback
address). The status page asks for the key once, in a form, and then keeps a server-side session whose
random id travels in an HttpOnly, SameSite=Strict cookie; the key itself is never put in a cookie.

The Radarr/Sonarr API under ``/radarr`` and ``/sonarr`` takes the key as those apps do (also as the ``apikey``
query parameter: :func:`arr_presented_key`), through the same check; its ``/ping`` is open.

Every user has its own key (``store.queries.caller_by_key`` is the one check: lookup by the key's SHA-256, the
hash compared again in constant time); the caller's rights come with it. A busy API checks the same key
thousands of times a second, so a found caller is kept for :data:`KEY_SECONDS` (by the key's hash): any change
to users made by this process forgets it at once; one made by another process (the CLI) counts within
:data:`KEY_SECONDS`. Some routes are for admins only
(:data:`ADMIN_PATHS`). Not pure: :class:`Sessions` keeps the open sessions in memory (a restart asks for the
key again).
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

SESSION_COOKIE = "annexd_session"
SESSION_SECONDS = 7 * 24 * 3600
MAX_SESSIONS = 1000
OPENAPI_PATH = "/api/v1/openapi.json"
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
ENCODER_WS_PATH = "/api/v1/encoders/ws"  # the agents' WebSocket authenticates with its own token
PAGE_PATHS = frozenset({"/", "/login", "/logout"})  # the status page and its form: sessions, not headers


ARR_BASES = ("/radarr/", "/sonarr/")  # the Radarr/Sonarr API (annexd.http.arr): the key also in ``?apikey=``
ARR_OPEN = frozenset({"/radarr/ping", "/sonarr/ping"})


def is_arr_path(path: str) -> bool:
    return path.startswith(ARR_BASES)


def arr_presented_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The key a Radarr/Sonarr client presents, in the apps' order: the ``apikey`` query parameter (its name in
    any case), else ``X-Api-Key``, else ``Authorization: Bearer``."""
    given = next((value for name, value in query.items() if name.lower() == "apikey" and value), None)
    return given or presented_key(headers)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a caller presents: ``X-Api-Key``, else ``Authorization: Bearer <key>``."""
    given = headers.get("X-Api-Key")
    if given:
        return given
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


KEY_SECONDS = 2.0  # how long a found key is known without a lookup (see the module docstring)


@dataclass
class Sessions:
    """Open status-page sessions: random id -> (who, expiry). Bounded; the oldest go first."""

    ttl_seconds: float = SESSION_SECONDS
    max_sessions: int = MAX_SESSIONS
    clock: Callable[[], float] = time.monotonic
    _open: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, principal: str) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._open[session_id] = (principal, self.clock() + self.ttl_seconds)
            while len(self._open) > self.max_sessions:
                self._open.popitem(last=False)
        return session_id

    def principal(self, session_id: str | None) -> str | None:
        if not session_id:
            return None
        with self._lock:
            entry = self._open.get(session_id)
            if entry is None or entry[1] <= self.clock():
                self._open.pop(session_id, None)
                return None
            return entry[0]

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)


def is_loopback(host: str) -> bool:
    """Whether the daemon listens on a loopback address only (``localhost`` counts)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def metrics_public(setting: bool | None, host: str) -> bool:
    """``http.metrics_public``; unset, /metrics is open exactly when nothing but this machine can reach it."""
    return is_loopback(host) if setting is None else setting


# Operations routes: an admin's key (a requester gets 403). Approve and decline check the role themselves.
ADMIN_PATHS = frozenset({"/api/v1/status", "/api/v1/feeds", "/api/v1/feeds/sync", "/api/v1/encoders",
                         "/api/v1/notifications", "/api/v1/notifications/test", METRICS_PATH})


@dataclass
class Access:
    metrics_public: bool
    sessions: Sessions = field(default_factory=Sessions)

    def is_open(self, path: str) -> bool:
        """Routes served without a key (the page and its form check the session themselves)."""
        if path in (HEALTH_PATH, OPENAPI_PATH, ENCODER_WS_PATH) or path in PAGE_PATHS:
            return True
        if is_arr_path(path):
            return path.rstrip("/").lower() in ARR_OPEN
        return path == METRICS_PATH and self.metrics_public
