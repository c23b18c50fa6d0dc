"""Handlers both apps share for their settings: ``system/status``, ``health``, ``qualityprofile``, ``rootfolder``,
``tag`` and Sonarr 4's ``languageprofile`` stub, plus ``/api`` and ``/ping`` outside ``/api/v3``. Not pure: handlers (the store, the disk's free space)."""

from __future__ import annotations

import os
import shutil
from typing import Any

from aiohttp import web

from annexd.domain.quality import QualityProfile
from annexd.errors import InvalidInputError, NotFoundError
from annexd.http.arr import resources
from annexd.http.arr.call import BadBody, Call, answer, empty, invalid, message, not_found
from annexd.http.arr.library import RootFolder, profiles, root_folders
from store import queries
from store.db import is_postgres

MAX_LABEL = 200


async def ping(call: Call) -> web.StreamResponse:
    return answer(call, {"status": "OK"})


async def api_info(call: Call) -> web.StreamResponse:
    return answer(call, {"current": "v3", "deprecated": []})


async def system_status(call: Call) -> web.StreamResponse:
    db_type = "postgreSQL" if is_postgres(call.deps.ctx.db) else "sqLite"
    return answer(call, resources.system_status(call.app, call.arr.started, db_type, call.caller.is_admin))


async def health(call: Call) -> web.StreamResponse:
    """annexd's health checks that are not ok, as the apps' health warnings and errors."""
    checks = call.deps.health.report()
    out = [resources.health_check(name, "error" if check.get("severity") == "down" else "warning",
                                  str(check.get("detail") or "not ok"))
           for name, check in checks.items() if check.get("ok") is False]
    return answer(call, out)


# --- quality profiles ---------------------------------------------------------------------------------------
def configured_profiles(call: Call) -> list[QualityProfile]:
    cfg = call.deps.ctx.config
    return profiles(cfg.quality_profiles, cfg.profile("default"))


async def profile_ids(call: Call) -> dict[str, int]:
    names = [p.name for p in configured_profiles(call)]
    ids: dict[str, int] = await call.db(lambda: queries.quality_profile_ids(names))
    return ids


async def quality_profiles(call: Call) -> web.StreamResponse:
    ids = await profile_ids(call)
    listed = [resources.quality_profile(ids[p.name], p, call.app) for p in configured_profiles(call)]
    if "id" in call.ids:
        found = next((p for p in listed if p["id"] == call.ids["id"]), None)
        return answer(call, found) if found else not_found(call)
    return answer(call, listed)


# --- root folders ---------------------------------------------------------------------------------------------
def folders(call: Call) -> list[RootFolder]:
    return root_folders(call.deps.ctx.config.targets, call.app)


def _folder_resource(folder: RootFolder) -> dict[str, Any]:
    if folder.target.protocol != "local":
        return resources.root_folder(folder.id, folder.path, True, None)
    accessible = os.path.isdir(folder.root)
    free = shutil.disk_usage(folder.root).free if accessible else None
    return resources.root_folder(folder.id, folder.path, accessible, free)


async def list_root_folders(call: Call) -> web.StreamResponse:
    listed = [_folder_resource(f) for f in folders(call)]
    if "id" in call.ids:
        found = next((f for f in listed if f["id"] == call.ids["id"]), None)
        return answer(call, found) if found else not_found(call)
    return answer(call, listed)


async def add_root_folder(call: Call) -> web.StreamResponse:
    return invalid(call, "Path", "Root folders are annexd's targets: add a [[targets]] entry to its config")


# --- tags ------------------------------------------------------------------------------------------------------
async def list_tags(call: Call) -> web.StreamResponse:
    if "id" in call.ids:
        tag_id = call.ids["id"]
        found = [t for t in await call.db(queries.tags) if t[0] == tag_id]
        return answer(call, resources.tag(*found[0])) if found else not_found(call)
    return answer(call, [resources.tag(i, label) for i, label in await call.db(queries.tags)])


async def _tag_body(call: Call) -> tuple[str, int] | web.StreamResponse:
    """(the label, lower-cased as the apps store it; the body's id or 0), or the 400 answer."""
    try:
        body = await call.body()
    except BadBody as exc:
        return message(call, 400, str(exc))
    body = body if isinstance(body, dict) else {}
    label, body_id = body.get("label"), body.get("id")
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        return invalid(call, "Label", f"'Label' must be 1 to {MAX_LABEL} characters", label)
    return label.strip().lower(), body_id if isinstance(body_id, int) and not isinstance(body_id, bool) else 0


async def create_tag(call: Call) -> web.StreamResponse:
    parsed = await _tag_body(call)
    if not isinstance(parsed, tuple):
        return parsed
    label = parsed[0]
    tag_id, stored = await call.db(lambda: queries.create_tag(label))
    return answer(call, resources.tag(tag_id, stored), 201)


async def update_tag(call: Call) -> web.StreamResponse:
    parsed = await _tag_body(call)
    if not isinstance(parsed, tuple):
        return parsed
    label, tag_id = parsed[0], call.ids.get("id") or parsed[1]
    if tag_id <= 0:
        return invalid(call, "Id", "'Id' must be greater than '0'.", tag_id)
    try:
        got = await call.db(lambda: queries.rename_tag(tag_id, label))
    except NotFoundError:
        return not_found(call)
    except InvalidInputError as exc:
        return invalid(call, "Label", str(exc), label)
    return answer(call, resources.tag(*got), 202)


async def delete_tag(call: Call) -> web.StreamResponse:
    tag_id = call.ids["id"]
    try:
        await call.db(lambda: queries.delete_tag(tag_id))
    except NotFoundError:
        return not_found(call)
    return empty(call)


async def language_profiles(call: Call) -> web.StreamResponse:
    if "id" in call.ids:
        return answer(call, resources.LANGUAGE_PROFILES[0]) if call.ids["id"] == 1 else not_found(call)
    return answer(call, resources.LANGUAGE_PROFILES)
