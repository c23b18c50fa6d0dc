"""Notification events and what each destination receives (pure: shapes only, no I/O).

An event is a kind (below) and its *facts*, a plain JSON dict captured when the event happened (the request's
title and ids, the items, the release...), so a notification says what was true then even if the request is
gone when it is sent. Two renderings:

* :func:`webhook_payload`: Radarr's/Sonarr's webhook shapes where one exists (``Grab``, ``Download`` with
  ``isUpgrade``, ``MovieAdded``/``SeriesAdd``, ``Health``, ``Test``; ``shared/reference/arr-api.md`` section 5):
  camelCase keys, nulls omitted, ``eventType`` PascalCase, ``instanceName`` and ``applicationUrl`` on top.
  Events Radarr/Sonarr do not have use ``RequestApproved``, ``RequestDeclined``, ``ItemFailed`` and
  ``ItemStranded`` with the same common fields plus ``request`` and ``items``.
* :func:`message`: a title and a line for people (Apprise: Discord, ntfy, e-mail...).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from annexd.domain.pipeline import Event, ProcessingStatus
from annexd.domain.retry import RetryPolicy


class Kind(enum.StrEnum):
    REQUEST_CREATED = "request.created"
    REQUEST_APPROVED = "request.approved"
    REQUEST_DECLINED = "request.declined"
    RELEASE_GRABBED = "release.grabbed"
    ITEM_AVAILABLE = "item.available"
    REQUEST_AVAILABLE = "request.available"
    ITEM_FAILED = "item.failed"
    ITEM_STRANDED = "item.stranded"  # issue 10's stranded detection / waiting too long records it
    ITEM_UPGRADED = "item.upgraded"  # an upgrade landed on every target
    HEALTH = "health"
    TEST = "test"


# How long a failed send waits before the next try: 30 s doubling to 1 h; given up after MAX_ATTEMPTS.
RETRY = RetryPolicy(base_seconds=30.0, factor=2.0, cap_seconds=3600.0, jitter=0.1)  # the one retry policy's shape
MAX_ATTEMPTS = 12


def wants(filters: Sequence[str], kind: str) -> bool:
    """A destination's filter: empty takes every event; else the kinds listed (``request.*`` for a group)."""
    if not filters:
        return True
    return any(f == kind or (f.endswith(".*") and kind.startswith(f[:-1])) for f in filters)


def kinds_of_transition(before: ProcessingStatus, after: ProcessingStatus, event: Event, *,
                        upgrading: bool = False) -> tuple[Kind, ...]:
    """The events an item transition causes (recorded in the transition's own transaction). The delivery that
    lands an upgrade is ITEM_UPGRADED; a failed upgrade (back to COMPLETED, files kept) tells no one."""
    if event is Event.GRAB:
        return (Kind.RELEASE_GRABBED,)
    if event is Event.UPGRADE_FAILED:
        return ()
    if upgrading and after is ProcessingStatus.COMPLETED:
        return (Kind.ITEM_UPGRADED,)
    if after is ProcessingStatus.COMPLETED:
        return (Kind.ITEM_AVAILABLE,)
    if after is ProcessingStatus.FAILED:
        return (Kind.ITEM_FAILED,)
    return ()


def merge_grabs(events: Iterable[tuple[int, str, dict[str, Any]]]) -> list[tuple[list[int], str, dict[str, Any]]]:
    """Events ``(id, kind, facts)`` with the grabs of one release for one request (a season pack grabbed for
    its episodes in one go) folded into one event listing every item, as Sonarr's Grab does."""
    out: list[tuple[list[int], str, dict[str, Any]]] = []
    grabs: dict[tuple[Any, Any], int] = {}
    for event_id, kind, facts in events:
        key = (facts.get("request", {}).get("id"), (facts.get("release") or {}).get("key"))
        if kind == Kind.RELEASE_GRABBED and key[1] is not None and key in grabs:
            ids, _, merged = out[grabs[key]]
            ids.append(event_id)
            merged["items"] = [*merged.get("items", []), *facts.get("items", [])]
            continue
        if kind == Kind.RELEASE_GRABBED:
            grabs[key] = len(out)
        out.append(([event_id], kind, dict(facts)))
    return out


# --- webhook (Radarr/Sonarr shapes) -----------------------------------------------------------------------
_EVENT_TYPES = {
    Kind.RELEASE_GRABBED: "Grab", Kind.ITEM_AVAILABLE: "Download", Kind.ITEM_UPGRADED: "Download",
    Kind.REQUEST_AVAILABLE: "Download", Kind.HEALTH: "Health", Kind.TEST: "Test",
    Kind.REQUEST_APPROVED: "RequestApproved", Kind.REQUEST_DECLINED: "RequestDeclined",
    Kind.ITEM_FAILED: "ItemFailed", Kind.ITEM_STRANDED: "ItemStranded",
}


def event_type(kind: str, facts: Mapping[str, Any]) -> str:
    if kind == Kind.REQUEST_CREATED:
        return "MovieAdded" if _request(facts).get("kind") == "movie" else "SeriesAdd"
    return _EVENT_TYPES[Kind(kind)]


def webhook_payload(kind: str, facts: Mapping[str, Any], instance_name: str = "annexd",
                    application_url: str | None = None) -> dict[str, Any]:
    """The JSON body a webhook destination receives for one event."""
    if kind == Kind.TEST:
        return _compact({"eventType": "Test", "instanceName": instance_name, "applicationUrl": application_url,
                         **_test_body(facts)})
    body: dict[str, Any] = {"eventType": event_type(kind, facts), "instanceName": instance_name,
                            "applicationUrl": application_url}
    body.update(_media(facts))
    if kind == Kind.RELEASE_GRABBED:
        body.update(release=_grab_release(facts), downloadClient=facts.get("download_client"),
                    downloadClientType="qBittorrent", downloadId=_download_id(facts))
    elif kind in (Kind.ITEM_AVAILABLE, Kind.ITEM_UPGRADED, Kind.REQUEST_AVAILABLE):
        body.update(_download_body(kind, facts))
    elif kind == Kind.REQUEST_CREATED:
        body.pop("episodes", None)  # Sonarr's SeriesAdd names the series only
        if _request(facts).get("kind") == "movie":
            body["addMethod"] = "manual"
    elif kind == Kind.HEALTH:
        body.update(level=facts.get("level", "warning"), message=facts.get("message", ""),
                    type=facts.get("check", ""), wikiUrl=None)
    else:
        body.update(request=_request_object(facts), items=[_item_object(i) for i in facts.get("items", [])],
                    reason=facts.get("reason"), by=facts.get("by"), error=facts.get("error"))
    return _compact(body)


def _request(facts: Mapping[str, Any]) -> Mapping[str, Any]:
    request = facts.get("request")
    return request if isinstance(request, Mapping) else {}


def _media(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Radarr's ``movie`` + ``remoteMovie`` or Sonarr's ``series`` + ``episodes`` (health has neither)."""
    req = _request(facts)
    if not req:
        return {}
    if req.get("kind") == "movie":
        movie = {"id": req.get("id"), "title": req.get("title"), "year": req.get("year"), "tmdbId": req.get("tmdb_id"),
                 "imdbId": req.get("imdb_id"), "tags": [f"requested-by:{req.get('requested_by')}"]}
        remote = {"tmdbId": req.get("tmdb_id"), "imdbId": req.get("imdb_id"), "title": req.get("title"),
                  "year": req.get("year")}
        return {"movie": movie, "remoteMovie": remote}
    series = {"id": req.get("id"), "title": req.get("title"), "year": req.get("year"), "tvdbId": req.get("tvdb_id"),
              "tmdbId": req.get("tmdb_id"), "imdbId": req.get("imdb_id"), "type": "standard",
              "tags": [f"requested-by:{req.get('requested_by')}"]}
    episodes = [{"id": i.get("id"), "seasonNumber": i.get("season"), "episodeNumber": i.get("episode"),
                 "title": i.get("title"), "airDate": i.get("air_date"), "seriesId": req.get("id")}
                for i in facts.get("items", []) if i.get("kind", "episode") == "episode"]
    return {"series": series, "episodes": episodes}


def _grab_release(facts: Mapping[str, Any]) -> dict[str, Any]:
    rel = facts.get("release") or {}
    return {"quality": rel.get("quality"), "qualityVersion": 1, "releaseGroup": rel.get("group"),
            "releaseTitle": rel.get("title"), "indexer": rel.get("indexer"), "size": rel.get("size"),
            "customFormatScore": 0, "customFormats": [], "indexerFlags": []}


def _download_id(facts: Mapping[str, Any]) -> str | None:
    info_hash = (facts.get("release") or {}).get("info_hash")
    return str(info_hash).upper() if info_hash else None


def _download_body(kind: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    rel = facts.get("release") or {}
    body: dict[str, Any] = {
        "isUpgrade": kind == Kind.ITEM_UPGRADED, "downloadClient": facts.get("download_client"),
        "downloadClientType": "qBittorrent", "downloadId": _download_id(facts),
        "release": {"releaseTitle": rel.get("title"), "indexer": rel.get("indexer"), "size": rel.get("size")},
    }
    files = [{"id": i.get("id"), "relativePath": p, "path": p, "quality": rel.get("quality"),
              "releaseGroup": rel.get("group"), "sceneName": rel.get("title")}
             for i in facts.get("items", []) for p in i.get("paths", [])[:1]]
    if _request(facts).get("kind") == "movie":
        if files:
            body["movieFile"] = files[0]
    elif kind == Kind.REQUEST_AVAILABLE:
        body["episodeFiles"] = files
    elif files:
        body["episodeFile"] = files[0]
    return body


def _request_object(facts: Mapping[str, Any]) -> dict[str, Any]:
    req = _request(facts)
    return {"id": req.get("id"), "type": req.get("kind"), "title": req.get("title"), "year": req.get("year"),
            "tmdbId": req.get("tmdb_id"), "requestedBy": req.get("requested_by")}


def _item_object(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item.get("id"), "seasonNumber": item.get("season"), "episodeNumber": item.get("episode"),
            "title": item.get("title"), "status": item.get("status"), "error": item.get("error")}


def _test_body(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Radarr's own test payload (Grab-shaped), so a receiver checks its parsing with it."""
    return {"movie": {"id": 1, "title": "Test Title", "year": 1970, "folderPath": "C:\\testpath",
                      "releaseDate": "1970-01-01", "tags": ["test-tag"]},
            "remoteMovie": {"tmdbId": 1234, "imdbId": "5678", "title": "Test title", "year": 1970},
            "release": {"quality": "Test Quality", "qualityVersion": 1, "releaseGroup": "Test Group",
                        "releaseTitle": "Test Title", "indexer": "Test Indexer", "size": 9999999},
            "message": facts.get("message")}


def _compact(value: Any) -> Any:
    """Nulls omitted, as Radarr's and Sonarr's serialiser does."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


# --- people (Apprise) ---------------------------------------------------------------------------------------
def _what(facts: Mapping[str, Any]) -> str:
    req = _request(facts)
    title = f"{req.get('title', '?')}" + (f" ({req['year']})" if req.get("year") else "")
    items = [i for i in facts.get("items", []) if i.get("kind", "episode") == "episode"]
    if req.get("kind") == "tv" and items:
        names = [f"S{int(i.get('season') or 0):02}E{int(i.get('episode') or 0):02}" for i in items[:6]]
        more = f" and {len(items) - 6} more" if len(items) > 6 else ""
        return f"{title} {', '.join(names)}{more}"
    return title


def message(kind: str, facts: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) for people."""
    req = _request(facts)
    what = _what(facts)
    by = req.get("requested_by")
    if kind == Kind.REQUEST_CREATED:
        waits = " It waits for an admin's approval." if facts.get("pending_approval") else ""
        return "Request added", f"{by} requested {what}.{waits}"
    if kind == Kind.REQUEST_APPROVED:
        return "Request approved", f"{what} was approved by {facts.get('by')}."
    if kind == Kind.REQUEST_DECLINED:
        reason = facts.get("reason")
        return "Request declined", f"{what} was declined by {facts.get('by')}" + (f": {reason}" if reason else ".")
    if kind == Kind.RELEASE_GRABBED:
        return "Release grabbed", f"{what}: grabbed {(facts.get('release') or {}).get('title', '?')}."
    if kind in (Kind.ITEM_AVAILABLE, Kind.REQUEST_AVAILABLE):
        return "Available", f"{what} is available."
    if kind == Kind.ITEM_UPGRADED:
        return "Upgraded", f"{what} was upgraded to {(facts.get('release') or {}).get('title', '?')}."
    if kind == Kind.ITEM_FAILED:
        return "Failed", f"{what} failed: {facts.get('error') or 'no reason given'}."
    if kind == Kind.ITEM_STRANDED:
        return "Waiting too long", f"{what}: {facts.get('error') or 'stranded'}."
    if kind == Kind.HEALTH:
        return f"Health: {facts.get('level', 'warning')}", str(facts.get("message", ""))
    return "annexd test", str(facts.get("message") or "This is a test notification from annexd.")
