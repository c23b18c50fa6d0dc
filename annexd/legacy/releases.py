"""Legacy release objects to annexd's release shape, with every credential removed (pure).

annexd stores a release as :meth:`annexd.domain.quality.Release.to_dict` gives it (guid, title, size, indexer, seeders,
peers, info_hash, download_url, magnet, published, categories). Annex's objects carried the indexer's API key
or a tracker passkey in ``downloadUrl`` and authentication headers in ``downloadHeaders``; none of that is kept:

- ``downloadHeaders``, ``infoUrl`` and every other field annexd does not use are dropped;
- query parameters whose name looks like a credential (``apikey``, ``passkey``, ``token``, ``auth``...) and a
  ``user:password@`` part are removed from ``downloadUrl`` and from every tracker of ``magnetUri``;
- a URL whose path holds a recognisable passkey (a long run of letters and digits) is dropped whole, since it
  cannot be made safe by removing a part of it.

The names of removed query parameters are kept in ``credentials_removed``; at grab time the DownloadWorker puts
the configured key of the release's indexer back (:func:`annexd.domain.release_links.grab_link`). The cleaning
rules are :mod:`annexd.domain.release_links`, shared with search results.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from annexd.domain.quality import make_guid
from annexd.domain.release_links import (
    MAGNET_TRACKERS,
    clean_magnet,
    clean_magnet_trackers,
    clean_url,
    is_credential_param,
)

__all__ = ["clean_magnet", "clean_url", "convert_release", "convert_releases", "is_credential_param"]


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
    magnet, info_hash, trackers_dropped = clean_magnet_trackers(obj.get("magnetUri"))
    download_url, removed = clean_url(obj.get("downloadUrl"))
    if trackers_dropped:
        removed = (*removed, MAGNET_TRACKERS)
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
