"""Legacy release objects to annexd's release shape, with every credential removed (pure).

annexd stores a release as :meth:`annexd.domain.quality.Release.to_dict` gives it (guid, title, size, indexer, seeders,
peers, info_hash, download_url, magnet, published, categories). Annex's objects carried the indexer's API key
or a tracker passkey in ``downloadUrl`` and authentication headers in ``downloadHeaders``; none of that is kept:

- ``downloadHeaders``, ``infoUrl`` and every other field annexd does not use are dropped;
- query parameters whose name looks like a credential (``apikey``, ``passkey``, ``token``, ``auth``...) and a
  ``user:password@`` part are removed from ``downloadUrl`` and from every tracker of ``magnetUri``;
- a URL whose path holds a recognisable passkey (a long run of letters and digits) is dropped whole, since it
  cannot be made safe by removing a part of it.

The names of removed query parameters are kept in ``credentials_removed``: annexd may add its own indexer key
back when it fetches the link (the seam for the download stage; without it such a link answers 401).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from annexd.domain.quality import make_guid
from annexd.domain.torrents import normalize_info_hash

_CREDENTIAL_WORDS = ("key", "pass", "pwd", "token", "auth", "secret", "sign", "session", "cookie")
_CREDENTIAL_NAMES = frozenset({"sid", "uid", "pk", "sig", "hash_key"})
_PASSKEY_SEGMENT = re.compile(r"^(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}$")
_BTIH = re.compile(r"^urn:btih:([A-Za-z0-9]+)$", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def is_credential_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _CREDENTIAL_NAMES or any(word in lowered for word in _CREDENTIAL_WORDS)


def _has_passkey_path(path: str) -> bool:
    return any(_PASSKEY_SEGMENT.match(segment) for segment in path.split("/"))


def clean_url(url: Any) -> tuple[str | None, tuple[str, ...]]:
    """The URL without credentials and the names of the query parameters removed; None when it is not an
    http(s) URL or its path holds a passkey. Kept parameters stay exactly as they were encoded."""
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
    names = [unquote_plus(p.partition("=")[0]) for p in params]
    removed = tuple(sorted({n for n in names if is_credential_param(n)}))
    query = "&".join(p for p, n in zip(params, names, strict=True) if not is_credential_param(n))
    return urlunsplit((parts.scheme, netloc, parts.path, query, "")), removed


def clean_magnet(magnet: Any) -> tuple[str | None, str | None]:
    """The magnet with its trackers cleaned (a tracker holding a passkey in its path is dropped), and its info
    hash; (None, None) when it is not a magnet with a BitTorrent info hash."""
    if not isinstance(magnet, str) or not magnet.lower().startswith("magnet:?"):
        return None, None
    params = parse_qsl(magnet[len("magnet:?"):], keep_blank_values=True)
    info_hash = next((normalize_info_hash(m.group(1)) for k, v in params if k == "xt" and (m := _BTIH.match(v))),
                     None)
    if info_hash is None:
        return None, None
    kept: list[tuple[str, str]] = []
    for key, value in params:
        if key == "dn":
            kept.append((key, value))
        elif key == "tr":
            tracker, _ = clean_url(value)
            if tracker:
                kept.append((key, tracker))
    return f"magnet:?xt=urn:btih:{info_hash}" + (f"&{urlencode(kept)}" if kept else ""), info_hash


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def _published(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _categories(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [c for c in (_int(v) for v in value) if c]


def convert_release(obj: Any, indexer_names: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """One legacy release object as annexd stores a release; None when it has no title. ``indexer_names``
    maps legacy indexer ids to annexd indexer names (else the legacy ``indexerName`` is kept)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("title"), str) or not obj["title"].strip():
        return None
    magnet, info_hash = clean_magnet(obj.get("magnetUri"))
    download_url, removed = clean_url(obj.get("downloadUrl"))
    indexer_id = str(obj.get("indexerId") or "")
    indexer = (indexer_names or {}).get(indexer_id) or str(obj.get("indexerName") or indexer_id or "annex")
    seeders = _int(obj.get("seeders"))
    release: dict[str, Any] = {
        "guid": make_guid(info_hash, f"annex:{obj.get('id') or ''}:{indexer}:{obj['title']}"),
        "title": obj["title"].strip(), "size": _int(obj.get("size")), "indexer": indexer,
        "seeders": seeders, "peers": seeders + _int(obj.get("leechers")), "info_hash": info_hash,
        "download_url": download_url, "magnet": magnet, "published": _published(obj.get("publishDate")),
        "categories": _categories(obj.get("categories")),
    }
    if removed:
        release["credentials_removed"] = list(removed)
    return release


def convert_releases(objs: Any, indexer_names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """A legacy release array converted, skipping entries that are not releases."""
    if not isinstance(objs, list):
        return []
    return [r for r in (convert_release(o, indexer_names) for o in objs) if r is not None]
