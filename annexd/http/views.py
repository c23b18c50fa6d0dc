"""JSON views of store rows and actor state (pure shaping, no I/O beyond reading actor refs). Statuses are shown
as their upper-case enum values everywhere (items, episodes, deliveries, requests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from actors.context import ActorContext
from actors.ticker import inbox_depth
from annexd import __version__, metrics
from annexd.domain.live import LiveProgress

if TYPE_CHECKING:
    from store.models import ProcessingItem


def iso(value: date | datetime | None) -> str | None:
    """API times: ISO 8601, UTC with milliseconds (dates as dates)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return value.isoformat()


_iso = iso


def user_view(user: Any) -> dict[str, Any]:
    """A user as the API and the CLI show it (never its key or the key's hash)."""
    auto = [k for k, on in (("movie", user.auto_approve_movie), ("tv", user.auto_approve_tv)) if on]
    return {"name": user.name, "role": user.role, "enabled": user.enabled, "auto_approve": auto,
            "has_key": user.key_hash is not None, "key_created_at": iso(user.key_created_at),
            "movie_quota": _quota_view(user.movie_quota_limit, user.movie_quota_days),
            "season_quota": _quota_view(user.season_quota_limit, user.season_quota_days),
            "created_at": iso(user.created_at)}


def _quota_view(limit: int | None, days: float | None) -> dict[str, Any] | str:
    if limit is None:
        return "default"
    return {"limit": limit or None, "days": days or 7.0}


def approval_view(approval: Any) -> dict[str, Any]:
    return {"action": approval.action, "by": approval.by, "items": approval.items or [], "reason": approval.reason,
            "at": iso(approval.created_at)}


def _iso_text(value: str | None) -> str | None:
    """A timestamp the database gave as text ("YYYY-MM-DD HH:MM:SS[.ffffff]", or a date) in the API's form
    ("YYYY-MM-DDTHH:MM:SS.mmmZ"), without parsing it."""
    if value is None or len(value) <= 10:
        return value
    return f"{value[:10]}T{value[11:19]}.{value[20:23].ljust(3, '0')}Z"


def request_view(req: Mapping[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """A request row (store.queries.request_row / list_requests, ``created_at`` as text) with its summary."""
    return {
        "id": req["id"], "type": req["kind"], "title": req["title"], "year": req["year"], "tmdb_id": req["tmdb_id"],
        "tvdb_id": req["tvdb_id"], "imdb_id": req["imdb_id"], "targets": req["targets"] or [],
        "quality_profile": req["quality_profile"], "requested_by": req["requested_by"], "priority": req["priority"],
        "status": summary["status"], "progress": summary["progress"], "counts": summary["counts"],
        "items": summary["items"], "created_at": _iso_text(req["created_at"]),
        "monitor": req["monitor"], "monitor_seasons": req["monitor_seasons"], "follows": follows(req),
        "legacy_id": req["legacy_id"], "legacy_ids": req["legacy_ids"],
    }


def follows(req: Mapping[str, Any]) -> str:
    """What a request follows, in words (the API and the CLI show it), from its row."""
    if req["kind"] != "tv" or req["monitor"] == "none":
        return "only the episodes requested"
    seasons = req["monitor_seasons"]
    which = "every season" if seasons is None else "season(s) " + ", ".join(str(s) for s in seasons)
    when = "episodes airing from the request on" if req["monitor"] == "future" else "all episodes"
    return f"{when} of {which}, new ones added as TMDB announces them"


def feed_view(state: Any) -> dict[str, Any]:
    cursor = state.data or {}
    return {"name": state.name.removeprefix("feed:"), "last_poll_at": _iso(state.last_run_at),
            "last_ok_at": _iso(state.last_ok_at), "next_poll_at": _iso(state.next_run_at),
            "error": state.last_error, "polling": state.claimed_by is not None,
            "cursor_published": cursor.get("published")}


def _release_name(item: ProcessingItem) -> str | None:
    release = item.release
    return release.get("title") if isinstance(release, dict) else None


def alternatives_view(releases: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The kept lower-quality releases a person may accept: ``id`` is what accept-release takes as
    ``release_id`` (the release's stable id: its info hash, else a hash of the indexer's guid). Links stay out."""
    return [{"id": r.get("guid") or r.get("info_hash"), "title": r.get("title"), "size": r.get("size"),
             "indexer": r.get("indexer"), "seeders": r.get("seeders"), "published": r.get("published")}
            for r in releases or [] if isinstance(r, dict)]


def _progress_fields(item: ProcessingItem, live: LiveProgress | None) -> dict[str, Any]:
    """Progress, speed, ETA and detail: live from memory while the item reports them, else the stored copy."""
    entry = live.get(item.id, item.status, item.status_changed_at) if live is not None else None
    if entry is not None:
        return {"progress": entry.progress, "speed": entry.speed, "eta_seconds": entry.eta_seconds,
                "detail": entry.detail if entry.detail is not None else item.detail}
    return {"progress": item.progress, "speed": item.speed, "eta_seconds": item.eta_seconds, "detail": item.detail}


def item_view(item: ProcessingItem, deliveries: list[Any] | None = None, live: LiveProgress | None = None,
              download_hash: str | None = None) -> dict[str, Any]:
    """One item; ``download_hash``: the info hash of the Download it is linked to (store.queries.download_hashes),
    ``legacy_id``: the legacy Annex row it was imported from (null when not imported)."""
    return {
        "deliveries": [{"target": d.target, "status": str(d.status).upper(), "remote_path": d.remote_path, "size": d.size,
                        "error": d.last_error, "rescan": d.rescan, "delivered_at": _iso(d.delivered_at)}
                       for d in deliveries or []],
        "created_at": _iso(item.created_at),
        "id": item.id, "request_id": item.request_id, "kind": item.kind, "season": item.season,
        "episode": item.episode, "title": item.title, "status": item.status,
        "attempts": item.attempts, "error": item.last_error, "next_retry_at": _iso(item.next_retry_at),
        "air_date": _iso(item.air_date), "release": _release_name(item), "quality_met": item.quality_met,
        "available_releases": alternatives_view(item.available_releases), "source_file_path": item.source_file_path,
        "downloaded_at": _iso(item.downloaded_at), "encoded_at": _iso(item.encoded_at),
        "delivered_at": _iso(item.delivered_at), "status_changed_at": _iso(item.status_changed_at),
        "download_hash": download_hash, "legacy_id": item.legacy_id,
        # An upgrading item keeps its delivered files until the new ones replace them.
        "has_file": item.status == "COMPLETED" or bool(item.upgrading), "upgrading": bool(item.upgrading),
        "upgrades": upgrades_view(item.upgrade_history),
        **_progress_fields(item, live),
    }


def upgrades_view(history: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The item's upgrades, oldest first: which release replaced which, the outcome, the files per target."""
    return [{"from": (e.get("from") or {}).get("title"), "to": (e.get("to") or {}).get("title"),
             "from_quality": e.get("from_quality"), "to_quality": e.get("to_quality"), "reason": e.get("reason"),
             "outcome": e.get("outcome"), "error": e.get("error"), "started_at": e.get("started_at"),
             "finished_at": e.get("finished_at"), "targets": e.get("targets") or {}}
            for e in history or [] if isinstance(e, dict)]


def episodes_view(rows: Sequence[Mapping[str, Any]], live: LiveProgress | None = None) -> dict[str, Any]:
    """Episodes grouped by season, from the rows of store.queries.request_episode_rows (timestamps as text)."""
    seasons: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        entry = None
        if live is not None and row["id"] in live:
            changed = row["status_changed_at"]
            entry = live.get(row["id"], row["status"], datetime.fromisoformat(changed) if changed else None)
        seasons.setdefault(row["season"], []).append({
            "id": row["id"], "episode": row["episode"], "title": row["title"], "status": row["status"],
            "progress": entry.progress if entry else row["progress"], "error": row["last_error"],
            "air_date": row["air_date"], "downloaded_at": _iso_text(row["downloaded_at"]),
            "encoded_at": _iso_text(row["encoded_at"]), "delivered_at": _iso_text(row["delivered_at"]),
            "release": row["release_title"], "speed": entry.speed if entry else row["speed"],
            "detail": entry.detail if entry and entry.detail is not None else row["detail"],
            "next_retry_at": _iso_text(row["next_retry_at"]),
        })
    return {"seasons": [{"season": s, "episodes": eps} for s, eps in sorted(seasons.items())]}


def actor_states(ctx: ActorContext) -> dict[str, dict[str, Any]]:
    refs = dict(ctx.workers)
    if ctx.writer is not None:
        refs["writer"] = ctx.writer
    if ctx.supervisor is not None:
        refs["supervisor"] = ctx.supervisor
    return {name: {"alive": ref.is_alive(), "mailbox": inbox_depth(ref)} for name, ref in refs.items()}


def export_actor_metrics(ctx: ActorContext) -> None:
    for name, state in actor_states(ctx).items():
        metrics.ACTOR_MAILBOX_DEPTH.labels(name).set(state["mailbox"])
        metrics.ACTOR_UP.labels(name).set(1 if state["alive"] else 0)


def status_view(ctx: ActorContext, counts: dict[str, int]) -> dict[str, Any]:
    from store.db import pool_snapshot

    return {
        "version": __version__,
        "items": counts,
        "actors": actor_states(ctx),
        "database": {"pool": pool_snapshot(ctx.db)},
    }
