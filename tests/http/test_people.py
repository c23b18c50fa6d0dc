"""Users, approvals and quotas through the API (in-process aiohttp app over SQLite and a real PostgreSQL)."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from actors.context import ActorContext
from annexd.config import Config, HttpConfig, QuotasConfig
from annexd.domain.users import Role
from annexd.http.app import HttpDeps, make_app
from store import queries
from store.models import ProcessingItem, utcnow

ADMIN_KEY = "admin-key-for-people-0123"
ADMIN = {"X-Api-Key": ADMIN_KEY}
NOW = datetime(2026, 5, 1, 12, 0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def _config(**quotas):
    return replace(Config(), http=replace(HttpConfig(), api_key=ADMIN_KEY),
                   quotas=replace(QuotasConfig(), **quotas))


async def _app(db, aiohttp_client, clock, **quotas):
    return await aiohttp_client(make_app(HttpDeps(ctx=ActorContext(db=db, config=_config(**quotas), clock=clock))))


@pytest.fixture
async def client(db, aiohttp_client, clock):
    return await _app(db, aiohttp_client, clock)


def _user(name, auto=frozenset(), role=Role.REQUESTER):
    return {"X-Api-Key": queries.add_user(name, role, frozenset(auto), utcnow())}


SHOW = {"type": "tv", "title": "The Show", "year": 2020, "episodes": [
    {"season": 1, "episode": 1}, {"season": 1, "episode": 2}, {"season": 2, "episode": 1}]}


async def _post(client, path, body, headers):
    resp = await client.post(path, json=body, headers=headers)
    return resp.status, await resp.json()


def _statuses(request_id):
    return {(i.season, i.episode): (i.status, i.last_error, i.requested_by) for i in queries.request_items(request_id)}


async def test_a_requester_without_auto_approve_waits_and_an_admin_approves_a_season(client):
    alice = _user("alice", auto={"movie"})
    status, body = await _post(client, "/api/v1/requests", SHOW, alice)
    assert status == 201 and body["pending_approval"] is True
    rid = body["id"]
    assert {s for s, _, _ in _statuses(rid).values()} == {"PENDING_APPROVAL"}
    assert {who for _, _, who in _statuses(rid).values()} == {"alice"}
    view = await (await client.get(f"/api/v1/requests/{rid}", headers=alice)).json()
    assert view["status"] == "PENDING_APPROVAL" and view["requested_by"] == "alice"
    # Her movie needs no approval.
    status, movie = await _post(client, "/api/v1/requests", {"type": "movie", "title": "Dune"}, alice)
    assert status == 201 and movie["pending_approval"] is False
    assert (await _post(client, f"/api/v1/requests/{rid}/approve", {}, alice))[0] == 403
    status, body = await _post(client, f"/api/v1/requests/{rid}/approve", {"seasons": [1]}, ADMIN)
    assert status == 200 and body["id"] == rid and len(body["approved_items"]) == 2
    items = _statuses(rid)
    assert items[(1, 1)][0] == items[(1, 2)][0] == "PENDING" and items[(2, 1)][0] == "PENDING_APPROVAL"
    assert (await _post(client, f"/api/v1/requests/{rid}/approve", {"seasons": [1]}, ADMIN))[0] == 409
    history = await (await client.get(f"/api/v1/requests/{rid}/approvals", headers=alice)).json()
    assert [(a["action"], a["by"], len(a["items"])) for a in history["approvals"]] == [("approve", "admin", 2)]


async def test_approval_bodies_are_validated(client):
    alice = _user("alice")
    rid = (await _post(client, "/api/v1/requests", SHOW, alice))[1]["id"]
    url = f"/api/v1/requests/{rid}/approve"
    for bad in ({"seasons": [1], "items": [1]}, {"seasons": []}, {"seasons": ["1"]}, {"items": [True]},
                {"everything": True}, [1]):
        status, body = await _post(client, url, bad, ADMIN)
        assert status == 422, bad
    other = queries.create_request(_movie_spec(), NOW).id
    foreign = queries.request_items(other)[0].id
    status, body = await _post(client, url, {"items": [foreign]}, ADMIN)
    assert status == 422 and str(foreign) in body["error"]
    assert (await client.post(url, data=b"{", headers=ADMIN)).status == 400
    assert (await _post(client, "/api/v1/requests/999999/approve", {}, ADMIN))[0] == 404
    one = queries.request_items(rid)[0].id
    status, body = await _post(client, url, {"items": [one]}, ADMIN)
    assert status == 200 and body["approved_items"] == [one]


def _movie_spec():
    from annexd.domain.request_specs import RequestSpec

    return RequestSpec(kind="movie", title="Other")


async def test_decline_cancels_every_pending_item_with_the_reason(client):
    alice = _user("alice")
    rid = (await _post(client, "/api/v1/requests", SHOW, alice))[1]["id"]
    await _post(client, f"/api/v1/requests/{rid}/approve", {"seasons": [2]}, ADMIN)
    assert (await _post(client, f"/api/v1/requests/{rid}/decline", {"reason": "x" * 501}, ADMIN))[0] == 422
    assert (await _post(client, f"/api/v1/requests/{rid}/decline", {}, alice))[0] == 403
    status, body = await _post(client, f"/api/v1/requests/{rid}/decline", {"reason": "season 1 is on the NAS"},
                               ADMIN)
    assert status == 200 and len(body["declined_items"]) == 2
    items = _statuses(rid)
    assert items[(1, 1)][:2] == ("CANCELLED", "declined by admin: season 1 is on the NAS")
    assert items[(2, 1)][0] == "PENDING"  # approved before: untouched
    assert (await client.post(f"/api/v1/requests/{rid}/decline", headers=ADMIN)).status == 409
    approvals = queries.approval_history(rid)
    assert [(a.action, a.reason) for a in approvals] == [("approve", None), ("decline", "season 1 is on the NAS")]


async def test_another_users_request_answers_404(client):
    alice, bob = _user("alice", auto={"movie", "tv"}), _user("bob")
    rid = (await _post(client, "/api/v1/requests", SHOW, alice))[1]["id"]
    item = queries.request_items(rid)[0].id
    for path in (f"/api/v1/requests/{rid}", f"/api/v1/requests/{rid}/items", f"/api/v1/requests/{rid}/episodes",
                 f"/api/v1/requests/{rid}/approvals", f"/api/v1/items/{item}"):
        assert (await client.get(path, headers=bob)).status == 404, path
        assert (await client.get(path, headers=alice)).status == 200, path
        assert (await client.get(path, headers=ADMIN)).status == 200, path
    for path in (f"/api/v1/requests/{rid}/cancel", f"/api/v1/items/{item}/retry"):
        assert (await client.post(path, headers=bob)).status == 404, path
    assert (await client.delete(f"/api/v1/requests/{rid}", headers=bob)).status == 404
    assert _statuses(rid)[(1, 1)][0] == "PENDING"  # untouched by bob
    listed = await (await client.get("/api/v1/requests", headers=bob)).json()
    assert listed["total"] == 0 and listed["requests"] == []
    assert (await (await client.get("/api/v1/requests", headers=ADMIN)).json())["total"] == 1
    for path in ("/api/v1/status", "/api/v1/feeds", "/api/v1/notifications"):
        assert (await client.get(path, headers=bob)).status == 403, path
    me = await (await client.get("/api/v1/me", headers=bob)).json()
    assert me["name"] == "bob" and me["role"] == "requester" and me["has_key"]
    assert bob["X-Api-Key"] not in str(me) and "hash" not in str(me)
    assert (await client.post(f"/api/v1/requests/{rid}/cancel", headers=alice)).status == 200


async def test_quota_exceeded_is_429_with_the_reset_time_and_admins_are_exempt(db, aiohttp_client, clock):
    client = await _app(db, aiohttp_client, clock, season_limit=2, season_days=7, movie_limit=1, movie_days=30)
    alice = _user("alice", auto={"movie", "tv"})
    assert (await _post(client, "/api/v1/requests", SHOW, alice))[0] == 201  # two seasons
    first_at = clock.now
    clock.now += timedelta(days=1)
    status, body = await _post(client, "/api/v1/requests", {**SHOW, "title": "Another Show"}, alice)
    assert status == 429 and "season quota" in body["error"]
    assert datetime.fromisoformat(body["resets_at"].rstrip("Z")) == first_at + timedelta(days=7)
    resp = await client.post("/api/v1/requests", json={**SHOW, "title": "Another Show"}, headers=alice)
    assert int(resp.headers["Retry-After"]) == 6 * 86400 + 1
    status, body = await _post(client, "/api/v1/requests", {**SHOW, "title": "Too Big", "episodes": [
        {"season": s, "episode": 1} for s in (1, 2, 3)]}, alice)
    assert status == 422 and "allows 2" in body["details"]["quota"]
    assert (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Dune"}, alice))[0] == 201
    assert (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Arrival"}, alice))[0] == 429
    for n in range(3):  # the admin is exempt
        assert (await _post(client, "/api/v1/requests", {**SHOW, "title": f"Admin {n}"}, ADMIN))[0] == 201
    # A per-user quota replaces the configured one; the period moving on gives room back.
    queries.set_quota("alice", "movie", 0, None)
    assert (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Arrival"}, alice))[0] == 201
    clock.now = first_at + timedelta(days=7, seconds=1)
    assert (await _post(client, "/api/v1/requests", {**SHOW, "title": "Another Show"}, alice))[0] == 201


async def test_cancelled_requests_give_their_quota_back(db, aiohttp_client, clock):
    client = await _app(db, aiohttp_client, clock, movie_limit=1)
    alice = _user("alice", auto={"movie"})
    rid = (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Dune"}, alice))[1]["id"]
    assert (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Arrival"}, alice))[0] == 429
    await client.post(f"/api/v1/requests/{rid}/cancel", headers=alice)
    assert (await _post(client, "/api/v1/requests", {"type": "movie", "title": "Arrival"}, alice))[0] == 201


async def test_disabled_users_and_the_config_key(client):
    alice = _user("alice")
    assert (await client.get("/api/v1/requests", headers=alice)).status == 200
    queries.disable_user("alice")
    assert (await client.get("/api/v1/requests", headers=alice)).status == 401
    # Requests from before users existed keep their names; items record who asked for them.
    assert ProcessingItem.select().where(ProcessingItem.requested_by.is_null()).count() == 0


async def test_the_status_page_shows_a_requester_its_own_requests_only(client):
    alice, bob = _user("alice", auto={"movie"}), _user("bob", auto={"movie"})
    await _post(client, "/api/v1/requests", {"type": "movie", "title": "Alices Film"}, alice)
    await _post(client, "/api/v1/requests", {"type": "movie", "title": "Bobs Film"}, bob)
    ok = await client.post("/login", data={"key": alice["X-Api-Key"]}, allow_redirects=False)
    assert ok.status == 303
    html = await (await client.get("/")).text()
    assert "Alices Film" in html and "Bobs Film" not in html and "mailbox" not in html
    queries.disable_user("alice")  # the session ends with the user
    assert 'action="/login"' in await (await client.get("/")).text()
