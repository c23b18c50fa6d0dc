"""Release links without credentials, and the link rebuilt at grab time (pure).

An indexer's download link carries its API key (Prowlarr ``apikey=``, Jackett ``jackett_apikey=``) and a
magnet's trackers may carry a tracker passkey. annexd never stores either:

- query parameters whose name looks like a credential (``apikey``, ``passkey``, ``token``, ``auth``...) and a
  ``user:password@`` part are removed, and the names removed are kept in ``credentials_removed``;
- a URL whose path holds a recognisable passkey (a long run of letters and digits) is dropped whole, since it
  cannot be made safe by removing a part of it; so is one still holding a known secret value anywhere;
- a magnet keeps its info hash, its name and the trackers that are safe; when a tracker had to go,
  ``credentials_removed`` says so (:data:`MAGNET_TRACKERS`) and the download link is preferred at grab time.

At grab time the release names its source (an indexer or a feed), and :func:`grab_link` puts that source's
configured credentials back into the parameters that were removed (:class:`LinkCredentials`: an indexer's
API key, a feed URL's passkey). Search results (annexd.clients.torznab), imported legacy releases
(annexd.legacy.releases) and rows stored before this rule (migration 021) all go through these functions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

from annexd.domain.torrents import normalize_info_hash

_CREDENTIAL_WORDS = ("key", "pass", "pwd", "token", "auth", "secret", "sign", "session", "cookie")
_CREDENTIAL_NAMES = frozenset({"sid", "uid", "pk", "sig", "hash_key"})
_PASSKEY_SEGMENT = re.compile(r"^(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}$")
_BTIH = re.compile(r"^urn:btih:([A-Za-z0-9]+)$", re.IGNORECASE)
MIN_SECRET_LENGTH = 4  # shorter values would match ordinary text everywhere
MAGNET_TRACKERS = "magnet:tr"  # in credentials_removed: a magnet tracker was dropped (it held a passkey)
# Fields of a release object that only ever carry credentials (legacy Annex kept request headers).
DROPPED_FIELDS = frozenset({"download_headers", "downloadHeaders", "headers", "cookies"})


@functools.lru_cache(maxsize=1024)
def is_credential_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _CREDENTIAL_NAMES or any(word in lowered for word in _CREDENTIAL_WORDS)


def _has_passkey_path(path: str) -> bool:
    return any(_PASSKEY_SEGMENT.match(segment) for segment in path.split("/"))


def _holds_secret(text: str, secrets: Iterable[str]) -> bool:
    return any(len(s) >= MIN_SECRET_LENGTH and s in text for s in secrets)


def clean_url(url: Any, secrets: Iterable[str] = ()) -> tuple[str | None, tuple[str, ...]]:
    """The URL without credentials and the names of the query parameters removed; None when it is not an
    http(s) URL, its path holds a passkey, or it still holds one of ``secrets``. Kept parameters stay exactly
    as they were encoded."""
    if not isinstance(url, str) or not url.strip():
        return None, ()
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None, ()
    if parts.scheme.lower() not in ("http", "https", "udp") or not parts.hostname or _has_passkey_path(parts.path):
        return None, ()
    netloc = parts.netloc.rpartition("@")[2]  # without user:password@
    params = [p for p in parts.query.split("&") if p]
    names = [_param_name(p) for p in params]
    removed = tuple(sorted({n for n in names if is_credential_param(n)}))
    query = "&".join(p for p, n in zip(params, names, strict=True) if not is_credential_param(n)) if removed \
        else "&".join(params)
    cleaned = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    secrets = tuple(secrets)
    if secrets and (_holds_secret(cleaned, secrets) or _holds_secret(unquote_plus(cleaned), secrets)):
        return None, ()
    return cleaned, removed


def _param_name(param: str) -> str:
    name = param.partition("=")[0]
    return unquote_plus(name) if "%" in name or "+" in name else name  # most names need no decoding


def clean_magnet_trackers(magnet: Any, secrets: Iterable[str] = ()) -> tuple[str | None, str | None, bool]:
    """The magnet with only its safe trackers, its info hash, and whether a tracker was dropped;
    (None, None, False) when it is not a magnet with a BitTorrent info hash."""
    if not isinstance(magnet, str) or not magnet.lower().startswith("magnet:?"):
        return None, None, False
    params = parse_qsl(magnet[len("magnet:?"):], keep_blank_values=True)
    info_hash = next((normalize_info_hash(m.group(1)) for k, v in params if k == "xt" and (m := _BTIH.match(v))),
                     None)
    if info_hash is None:
        return None, None, False
    secrets = tuple(secrets)
    kept: list[tuple[str, str]] = []
    dropped = False
    for key, value in params:
        if key == "dn" and not _holds_secret(value, secrets):
            kept.append((key, value))
        elif key == "tr":
            tracker, removed = clean_url(value, secrets)
            dropped = dropped or tracker is None or bool(removed)
            if tracker:
                kept.append((key, tracker))
    return f"magnet:?xt=urn:btih:{info_hash}" + (f"&{urlencode(kept)}" if kept else ""), info_hash, dropped


def clean_magnet(magnet: Any, secrets: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """The magnet with its trackers cleaned (a tracker holding a passkey in its path is dropped), and its info
    hash; (None, None) when it is not a magnet with a BitTorrent info hash."""
    cleaned, info_hash, _ = clean_magnet_trackers(magnet, secrets)
    return cleaned, info_hash


def scrub_release(release: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A stored release (:meth:`annexd.domain.quality.Release.to_dict` shape) with no credential left in its
    links; idempotent, and ``credentials_removed`` accumulates what was taken out."""
    secrets = tuple(secrets)
    out = {k: v for k, v in release.items() if k not in DROPPED_FIELDS}
    names = set(release.get("credentials_removed") or ())
    if release.get("download_url") is not None:
        out["download_url"], removed = clean_url(release.get("download_url"), secrets)
        names.update(removed)
    if release.get("magnet") is not None:
        out["magnet"], _, dropped = clean_magnet_trackers(release.get("magnet"), secrets)
        if dropped:
            names.add(MAGNET_TRACKERS)
    if names:
        out["credentials_removed"] = sorted(str(n) for n in names)
    return out


@dataclass(frozen=True)
class LinkCredentials:
    """What one source (an indexer, a feed) puts back into its links at grab time: ``key``, an indexer's API
    key, goes into any removed credential parameter; ``params``, a feed URL's own credential parameters, go
    into the parameters of the same name (a tracker's feed and its download links share the passkey)."""

    key: str = field(default="", repr=False)
    params: Mapping[str, str] = field(default_factory=dict, repr=False)

    def value(self, name: str) -> str:
        return self.params.get(name) or self.key

    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.key, *self.params.values()) if v)


def feed_credentials(url: str) -> LinkCredentials:
    """The credentials of a feed URL: its credential parameters by name, and the one value they share (if
    they share one) for a link that names its parameter differently."""
    try:
        params = {k: v for k, v in parse_qsl(urlsplit(url).query) if is_credential_param(k) and v}
    except ValueError:
        return LinkCredentials()
    shared = set(params.values())
    return LinkCredentials(key=shared.pop() if len(shared) == 1 else "", params=params)


def link_with_credentials(url: str, names: Iterable[str], credentials: LinkCredentials) -> str:
    """``url`` with the credentials put back into every removed parameter it has a value for (the magnet
    marker aside)."""
    params = [f"{quote(n, safe='')}={quote(value, safe='')}" for n in names
              if n != MAGNET_TRACKERS and (value := credentials.value(n))]
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + "&".join(params)


def grab_link(release: Mapping[str, Any], credentials: Mapping[str, LinkCredentials]) -> str | None:
    """The download link to fetch now: the stored one with the credentials of the source the release names
    (its ``indexer``: an indexer or a feed) put back where they were removed; as stored when that source is
    no longer configured."""
    url = release.get("download_url")
    if not isinstance(url, str) or not url:
        return None
    source = credentials.get(str(release.get("indexer") or ""), LinkCredentials())
    return link_with_credentials(url, release.get("credentials_removed") or (), source)


def prefers_link(release: Mapping[str, Any]) -> bool:
    """Whether to fetch the download link before trying the magnet: the magnet lost a tracker that held a
    passkey (a private tracker's magnet without it finds no peers)."""
    return bool(release.get("download_url")) and MAGNET_TRACKERS in (release.get("credentials_removed") or ())


def secret_free(value: Any, secrets: Iterable[str]) -> bool:
    """True when no string inside ``value`` (nested dicts and lists) holds one of ``secrets``."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return not _holds_secret(value, secrets)
    if isinstance(value, Mapping):
        return all(secret_free(k, secrets) and secret_free(v, secrets) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(secret_free(v, secrets) for v in value)
    return True
