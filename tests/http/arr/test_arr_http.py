"""The Radarr/Sonarr API in-process (aiohttp test client), SQLite and PostgreSQL: every route needs the key (401
with an empty body), the key from the query string, X-Api-Key or Bearer, case-insensitive paths and query names,
the 400 arrays, and a delete with deleteFiles removing the delivered files (only inside the target's roots)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from actors.context import ActorContext
from annexd.clients.delivery_settings import Target
from annexd.config import Config, HttpConfig
from annexd.http.app import HttpDeps, make_app
from annexd.http.arr.call import ArrDeps
from annexd.http.arr.routes import ROUTES, mount
from store import queries

KEY = "arr-k3y-for-tests-0123"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    for sub in ("movies", "tv"):
        (tmp_path / "library" / sub).mkdir(parents=True)
    return tmp_path / "library"


@pytest.fixture
def ctx(db, library):
    target = Target(name="library", movie_root=str(library / "movies"), tv_root=str(library / "tv"))
    return ActorContext(db=db, config=replace(Config(), http=replace(HttpConfig(), api_key=KEY), targets=(target,)))


@pytest.fixture
async def client(ctx, aiohttp_client):
    return await aiohttp_client(make_app(HttpDeps(ctx=ctx), [lambda app: mount(app, ArrDeps())]))


def _paths() -> list[tuple[str, str]]:
    """Every (method, path) of the route table, on each URL base it is served under, ids filled in."""
    return [(route.method, f"/{app}/" + re.sub(r"\(\?P<id>[^)]*\)", "1", route.path))
            for route in ROUTES for app in route.apps]


async def test_every_route_needs_the_key_and_answers_401_with_an_empty_body(client):
    paths = _paths()
    assert len(paths) >= 55  # the whole table, both URL bases
    for method, path in paths:
        if path.endswith("/ping"):
            resp = await client.request(method, path)
            assert resp.status == 200 and await resp.json() == {"status": "OK"}
            continue
        for attempt in ({}, {"headers": {"X-Api-Key": "wrong"}}, {"params": {"apikey": "wrong"}},
                        {"headers": {"Authorization": "Bearer wrong"}}):
            resp = await client.request(method, path, **attempt)
            assert resp.status == 401, (method, path, attempt)
            assert await resp.read() == b"", (method, path)


async def test_the_key_comes_in_the_query_string_a_header_or_bearer(client):
    for attempt in ({"params": {"apikey": KEY}}, {"params": {"ApiKey": KEY}}, {"headers": {"X-Api-Key": KEY}},
                    {"headers": {"Authorization": f"Bearer {KEY}"}}):
        resp = await client.get("/radarr/api/v3/system/status", **attempt)
        assert resp.status == 200, attempt
        assert resp.headers["X-Application-Version"] == "5.28.0.0"
    resp = await client.get("/sonarr/api", params={"apikey": KEY})
    assert await resp.json() == {"current": "v3", "deprecated": []}


async def test_paths_and_query_names_match_case_insensitively(client):
    auth = {"X-Api-Key": KEY}
    for path in ("qualityprofile", "qualityProfile", "QUALITYPROFILE/"):
        resp = await client.get(f"/radarr/api/v3/{path}", headers=auth)
        assert resp.status == 200, path
    for path in ("languageProfile", "rootFolder"):
        assert (await client.get(f"/sonarr/api/v3/{path}", headers=auth)).status == 200
    resp = await client.get("/radarr/api/v3/movie", params={"TMDBID": "603"}, headers=auth)
    assert resp.status == 200 and await resp.json() == []
    resp = await client.get("/radarr/api/v3/movie", params={"tmdbId": "x"}, headers=auth)
    assert resp.status == 400 and (await resp.json())[0]["propertyName"] == "tmdbId"
    assert (await client.get("/radarr/api/v3/nothing", headers=auth)).status == 404
    assert (await client.delete("/radarr/api/v3/qualityprofile", headers=auth)).status == 405
    assert (await client.get("/radarr/api/v3/series", headers=auth)).status == 404  # Sonarr's only


async def test_adds_are_validated_with_the_apps_400_arrays(client, library):
    auth = {"X-Api-Key": KEY}
    profiles = await (await client.get("/radarr/api/v3/qualityprofile", headers=auth)).json()
    good = {"title": "Dune", "year": 2021, "tmdbId": 438631, "qualityProfileId": profiles[0]["id"],
            "rootFolderPath": str(library / "movies"), "monitored": True, "addOptions": {"searchForMovie": False}}
    cases = [({**good, "tmdbId": 0}, "TmdbId"), ({**good, "qualityProfileId": 999}, "QualityProfileId"),
             ({**good, "rootFolderPath": "/nowhere"}, "RootFolderPath")]
    for body, prop in cases:
        resp = await client.post("/radarr/api/v3/movie", json=body, headers=auth)
        errors = await resp.json()
        assert resp.status == 400 and errors[0]["propertyName"] == prop and errors[0]["severity"] == "error"
    assert "Root folder '/nowhere' does not exist" in str(errors)
    resp = await client.post("/radarr/api/v3/movie", data=b"{not json", headers=auth)
    assert resp.status == 400 and "message" in await resp.json()
    resp = await client.post("/radarr/api/v3/movie", json=good, headers=auth)  # no TMDB: the body's title
    created = await resp.json()
    assert resp.status == 201 and created["title"] == "Dune" and created["id"] >= 1
    resp = await client.post("/radarr/api/v3/movie", json=good, headers=auth)
    assert resp.status == 400 and (await resp.json())[0]["errorMessage"] == "This movie has already been added"
    resp = await client.post("/sonarr/api/v3/series", json={"title": "X", "tvdbId": 1, "qualityProfileId": 1,
                                                            "rootFolderPath": str(library / "tv")}, headers=auth)
    assert resp.status == 400 and "TMDB" in (await resp.json())[0]["errorMessage"]


async def _delivered_movie(client, ctx, library: Path, title: str, outside: Path | None = None) -> tuple[int, Path]:
    """A movie added over the API with one delivered file on the local target (as the deliverer records it)."""
    auth = {"X-Api-Key": KEY}
    profiles = await (await client.get("/radarr/api/v3/qualityprofile", headers=auth)).json()
    resp = await client.post("/radarr/api/v3/movie", headers=auth, json={
        "title": title, "year": 2020, "tmdbId": sum(map(ord, title)),
        "qualityProfileId": profiles[0]["id"], "rootFolderPath": str(library / "movies")})
    movie = await resp.json()
    assert resp.status == 201, movie
    folder = library / "movies" / f"{title} (2020)"
    folder.mkdir()
    file = outside or folder / f"{title} (2020).mkv"
    file.write_bytes(b"x" * 1000)
    with ctx.db.connection_context():
        [item] = queries.request_items(movie["id"])
        queries.start_delivery(item.id, "library")
        queries.finish_delivery(item.id, "library", ctx.clock(), rescan=None, remote_path=str(file), size=1000)
    return movie["id"], file


async def test_delete_with_delete_files_removes_the_delivered_files_inside_the_roots_only(client, ctx, library,
                                                                                         tmp_path):
    auth = {"X-Api-Key": KEY}
    kept_id, kept = await _delivered_movie(client, ctx, library, "Kept")
    resp = await client.delete(f"/radarr/api/v3/movie/{kept_id}", headers=auth)
    assert resp.status == 200 and kept.exists()  # without deleteFiles the files stay
    gone_id, gone = await _delivered_movie(client, ctx, library, "Gone")
    resp = await client.delete(f"/radarr/api/v3/movie/{gone_id}", params={"deleteFiles": "True"}, headers=auth)
    assert resp.status == 200 and not gone.exists() and not gone.parent.exists()
    assert (await client.get(f"/radarr/api/v3/movie/{gone_id}", headers=auth)).status == 404
    assert (await client.delete(f"/radarr/api/v3/movie/{gone_id}", headers=auth)).status == 404
    outside = tmp_path / "outside.mkv"
    odd_id, _ = await _delivered_movie(client, ctx, library, "Odd", outside=outside)
    resp = await client.delete(f"/radarr/api/v3/movie/{odd_id}", params={"deleteFiles": "true"}, headers=auth)
    assert resp.status == 200 and outside.exists()  # a recorded path outside the target's roots is left alone


async def test_commands_make_waiting_items_due_now(client, ctx):
    from annexd.domain.request_specs import EpisodeSpec, RequestSpec

    spec = RequestSpec(kind="tv", title="Waiting Show", tmdb_id=77, targets=("library",),
                       episodes=tuple(EpisodeSpec(1, n) for n in (1, 2, 3, 4)))
    with ctx.db.connection_context():
        request_id = queries.submit_request(spec, ctx.clock()).request_id
        items = queries.request_items(request_id)
        _force(items[0].id, "AWAITING")
        _force(items[1].id, "QUALITY_UNAVAILABLE")
        _force(items[2].id, "FAILED", failed_stage="search")
        _force(items[3].id, "FAILED", failed_stage="deliver")
    resp = await client.post("/sonarr/api/v3/command", headers={"X-Api-Key": KEY},
                             json={"name": "seriesSearch", "seriesId": request_id})
    command = await resp.json()
    assert resp.status == 201 and command["name"] == "SeriesSearch" and "3 waiting item(s)" in command["message"]
    with ctx.db.connection_context():
        statuses = [i.status for i in queries.request_items(request_id)]
    assert statuses == ["PENDING", "PENDING", "PENDING", "FAILED"]  # a delivery failure is not a search's
    resp = await client.get(f"/sonarr/api/v3/command/{command['id']}", headers={"X-Api-Key": KEY})
    assert (await resp.json())["status"] == "completed"


def _force(item_id: int, status: str, failed_stage: str | None = None) -> None:
    """Put an item in ``status`` for the test (the store's test helper writes it directly)."""
    from store.models import ProcessingItem

    ProcessingItem.update(status=status, failed_stage=failed_stage).where(ProcessingItem.id == item_id).execute()


async def test_a_users_key_carries_its_rights(client, ctx, library):
    """Per-user keys through the one check: a requester adds under its own name (its request waits for approval
    unless it auto-approves movies) and sees only its own movies; an admin sees everything."""
    from annexd.domain.users import Role

    with ctx.db.connection_context():
        alice = queries.add_user("alice", Role.REQUESTER, frozenset(), ctx.clock())
        bob = queries.add_user("bob", Role.REQUESTER, frozenset({"movie"}), ctx.clock())
    profiles = await (await client.get("/radarr/api/v3/qualityprofile", params={"apikey": alice})).json()
    body = {"title": "Alien", "year": 1979, "tmdbId": 348, "qualityProfileId": profiles[0]["id"],
            "rootFolderPath": str(library / "movies")}
    resp = await client.post("/radarr/api/v3/movie", json=body, params={"apikey": alice})
    movie = await resp.json()
    assert resp.status == 201 and movie["id"] >= 1
    with ctx.db.connection_context():
        row = queries.request_row(movie["id"])
        [item] = queries.request_items(movie["id"])
    assert row["requested_by"] == "alice" and item.status == "PENDING_APPROVAL"
    own = await (await client.get("/radarr/api/v3/movie", params={"apikey": alice})).json()
    assert [m["id"] for m in own] == [movie["id"]]
    assert await (await client.get("/radarr/api/v3/movie", params={"apikey": bob})).json() == []
    assert (await client.get(f"/radarr/api/v3/movie/{movie['id']}", params={"apikey": bob})).status == 404
    assert (await client.delete(f"/radarr/api/v3/movie/{movie['id']}", params={"apikey": bob})).status == 404
    admin = await (await client.get("/radarr/api/v3/movie", params={"apikey": KEY})).json()
    assert [m["id"] for m in admin] == [movie["id"]]
