"""What the movie and series handlers share: the library as entries, the POST/PUT fields both apps validate
(``qualityProfileId``, ``rootFolderPath``/``path``, ``tags``), submitting a title as the caller (the one request
per title rule: "has already been added" otherwise), searching now, and deleting a title (with its delivered
files when asked). Not pure: the store, the targets' transports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from annexd.clients.delivery import remove_delivered
from annexd.domain.request_specs import RequestSpec
from annexd.errors import InvalidInputError, NotFoundError, ProviderError, QuotaExceededError
from annexd.http.arr.call import Call, empty, invalid, message
from annexd.http.arr.library import RootFolder, entry, folder_for
from annexd.http.arr.resources import LibraryEntry, Metadata
from annexd.http.arr.system import configured_profiles, folders, profile_ids
from store import queries

log = structlog.get_logger("annexd.http.arr")
KIND = {"radarr": "movie", "sonarr": "tv"}
NOUN = {"radarr": "movie", "sonarr": "series"}


@dataclass(frozen=True)
class Settings:
    """The root folders and quality profiles (by stable id) as this call sees them."""

    folders: list[RootFolder]
    profile_ids: dict[str, int]
    resolve: dict[str, str]  # a request's quality_profile (possibly "default") -> the profile it means

    @property
    def default_root(self) -> str | None:
        return self.folders[0].path if self.folders else None

    def profile_name(self, profile_id: Any) -> str | None:
        return next((name for name, pid in self.profile_ids.items() if pid == profile_id), None)


async def settings(call: Call) -> Settings:
    cfg = call.deps.ctx.config
    ids = await profile_ids(call)
    return Settings(folders(call), ids, {"default": cfg.profile("default").name,
                                         **{p.name: p.name for p in configured_profiles(call)}})


async def entries(call: Call, found: Settings, *, request_ids: Sequence[int] | None = None,
                  tmdb_ids: Sequence[int] | None = None, tvdb_ids: Sequence[int] | None = None,
                  metadata: dict[int, Metadata] | None = None) -> list[LibraryEntry]:
    """The caller's library entries of this app's kind; ``metadata`` (by TMDB id) replaces the request's own."""
    kind, who = KIND[call.app], call.visible_to
    rows = await call.db(lambda: queries.library(kind, request_ids=request_ids, tmdb_ids=tmdb_ids,
                                                 tvdb_ids=tvdb_ids, visible_to=who))
    meta = metadata or {}
    return [entry(r, meta.get(r.tmdb_id or 0), found.profile_ids,
                  found.resolve.get(r.quality_profile, r.quality_profile), found.folders) for r in rows]


def common_fields(call: Call, body: dict[str, Any], found: Settings
                  ) -> tuple[str, RootFolder] | web.StreamResponse:
    """(quality profile name, root folder) of a POST body, or the 400 validation answer."""
    profile = found.profile_name(body.get("qualityprofileid"))
    if profile is None:
        return invalid(call, "QualityProfileId", "Quality Profile does not exist", body.get("qualityprofileid"))
    root = body.get("rootfolderpath") or body.get("path")
    folder = folder_for(found.folders, root if isinstance(root, str) else None)
    if folder is None:
        return invalid(call, "RootFolderPath", f"Root folder '{root}' does not exist", root)
    return profile, folder


def tag_ids(body: dict[str, Any]) -> list[int] | None:
    tags = body.get("tags")
    if not isinstance(tags, list):
        return None
    return [t for t in tags if isinstance(t, int) and not isinstance(t, bool)]


async def submit(call: Call, spec: RequestSpec, tags: list[int] | None, *, new: bool = True
                 ) -> int | web.StreamResponse:
    """Submit ``spec`` as the caller through the one request-per-title operation. ``new`` (a POST): a title
    already held is refused with the apps' 400 "has already been added" and nothing changes; otherwise (a PUT)
    what is new is added to the request holding it. Returns the request id, or the answer: 429 past a quota,
    400 for what annexd refuses."""
    caller, now, quotas = call.caller, call.now(), call.deps.ctx.config.quotas

    def run() -> tuple[Any, bool] | None:
        if new and queries.request_for_title(spec) is not None:
            return None
        outcome, waits = queries.submit_as(caller, spec, now, quotas.movies(), quotas.seasons())
        if tags is not None:
            queries.set_request_tags(outcome.request_id, tags)
        return outcome, waits

    try:
        done = await call.db(run)
    except QuotaExceededError as exc:
        return message(call, 429, str(exc))
    except InvalidInputError as exc:
        return invalid(call, "Title", str(exc))
    if done is None:
        prop, value = ("TmdbId", spec.tmdb_id) if call.app == "radarr" else ("TvdbId", spec.tvdb_id)
        return invalid(call, prop, f"This {NOUN[call.app]} has already been added", value)
    outcome, waits = done
    log.info("arr_request_submitted", app=call.app, request_id=outcome.request_id, created=outcome.created,
             changed=outcome.changed, title=spec.title, requested_by=caller.name, pending_approval=waits)
    if outcome.changed and not waits and call.deps.on_request_created:
        call.deps.on_request_created(outcome.request_id)
    return int(outcome.request_id)


async def search_now(call: Call, request_ids: Sequence[int], *, season: int | None = None,
                     item_ids: Sequence[int] | None = None) -> int:
    """The search of these requests' waiting items starts at once (the search worker is woken)."""
    now = call.now()
    moved: int = await call.db(lambda: queries.search_now(request_ids, now, season=season, item_ids=item_ids))
    call.deps.ctx.wake("search", f"{call.app} search command")
    return moved


async def delete_title(call: Call, request_id: int, delete_files: bool) -> web.StreamResponse:
    """annexd's delete (cancel the items, remove the request; its torrents go after the rows), and with
    ``delete_files`` the delivered files on every target too, as Radarr and Sonarr remove the title's folder."""
    deps, now, kind, who = call.deps, call.now(), KIND[call.app], call.visible_to

    def delete() -> tuple[tuple[int, ...], list[tuple[str, str]]]:
        if not queries.library(kind, request_ids=[request_id], visible_to=who):
            raise NotFoundError(f"{kind} {request_id} not found")
        files = queries.delivered_files(request_id)
        queries.cancel_request(request_id, now)
        downloads = tuple(queries.request_download_ids(request_id))
        queries.delete_request(request_id)
        return downloads, files

    try:
        downloads, files = await call.db(delete)
    except NotFoundError:
        return message(call, 404, "NotFound")
    if deps.on_request_cancelled:
        deps.on_request_cancelled(request_id, downloads)
    if delete_files and files:
        await call.blocking(lambda: _remove_files(call, files))
    log.info("arr_title_deleted", app=call.app, request_id=request_id, files_removed=len(files) if delete_files
             else 0)
    return empty(call)


def _remove_files(call: Call, files: list[tuple[str, str]]) -> None:
    targets = {t.name: t for t in call.deps.ctx.config.targets}
    for target_name, path in files:
        target = targets.get(target_name)
        if target is None:
            log.warning("arr_delete_file_skipped", target=target_name, reason="target no longer configured")
            continue
        try:
            remove_delivered(target, path)
        except (ProviderError, InvalidInputError) as exc:
            log.warning("arr_delete_file_failed", target=target_name, error=str(exc)[:300])


async def from_tmdb(call: Call, fetch: Any) -> list[Metadata] | web.StreamResponse:
    """TMDB metadata fetched off the event loop; a 502 answer when TMDB fails (movies and series alike)."""
    try:
        result: list[Metadata] = await call.blocking(fetch)
    except ProviderError as exc:
        return message(call, 502, f"TMDB did not answer: {exc}")
    return result
