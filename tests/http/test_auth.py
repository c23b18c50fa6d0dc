"""Every route needs the key (GETs too), what is open and why, the status page's session, and /metrics as
configured (in-process aiohttp app over SQLite and PostgreSQL)."""

import asyncio
import re
from dataclasses import replace

import pytest

from actors.context import ActorContext
from annexd.config import Config, HttpConfig
from annexd.domain.users import Caller, Role, key_hash
from annexd.encoder.hub import EncoderHub, HubSettings
from annexd.http.app import HttpDeps, make_app
from annexd.http.auth import SESSION_COOKIE, is_loopback, metrics_public, presented_key
from annexd.http.executors import Recent
from store import queries
from store.models import User, utcnow

KEY = "k3y-for-auth-tests-0123"
AUTH = {"X-Api-Key": KEY}
OPEN = {"/health", "/api/v1/openapi.json", "/api/v1/encoders/ws"}


def _ctx(db, **http):
    return ActorContext(db=db, config=replace(Config(), http=replace(HttpConfig(), api_key=KEY, **http)))


@pytest.fixture
async def client(db, aiohttp_client):
    hub = EncoderHub(HubSettings(tokens=frozenset({"agent-token-0123456789"})))
    return await aiohttp_client(make_app(HttpDeps(ctx=_ctx(db, host="0.0.0.0")), [hub.add_routes]))


def _get_paths(app) -> set[str]:
    paths = set()
    for route in app.router.routes():
        if route.method == "GET":
            paths.add(re.sub(r"\{id[^}]*\}", "1", route.resource.canonical))
    return paths


async def test_every_api_get_without_the_key_is_401(client):
    paths = _get_paths(client.app)
    assert {"/api/v1/status", "/api/v1/requests", "/api/v1/items/1", "/api/v1/encoders"} <= paths
    for path in sorted(paths - OPEN - {"/"}):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert "API key" in (await resp.json())["error"] and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get(path, headers=AUTH)).status != 401, path
        assert (await client.get(path, headers={"Authorization": f"Bearer {KEY}"})).status != 401, path
    for path in ("/api/v1/requests?page=1", "/api/v1/nothing-here"):  # unknown routes do not say they are unknown
        assert (await client.get(path)).status == 401


async def test_open_routes_need_no_key(client):
    assert (await client.get("/health")).status in (200, 503)
    assert (await client.get("/api/v1/openapi.json")).status == 200
    ws = await client.get("/api/v1/encoders/ws")  # the agents' own token is asked, not the API key
    assert ws.status == 401 and (await ws.json())["error"] == "encoder token missing or invalid"


@pytest.mark.parametrize("headers", [
    {"X-Api-Key": "wrong"}, {"X-Api-Key": KEY + "x"}, {"X-Api-Key": KEY[:-1]},
    {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer"}, {"X-Api-Key": "clé-non-ascii-é"},
    {"Authorization": "Bearer ключ"},
])
async def test_wrong_keys_are_401(client, headers):
    resp = await client.get("/api/v1/status", headers=headers)
    assert resp.status == 401


async def test_the_page_asks_for_the_key_once_and_keeps_a_session(client):
    form = await client.get("/")
    html = await form.text()
    assert form.status == 200 and 'action="/login"' in html and "<h2>Requests" not in html
    wrong = await client.post("/login", data={"key": "nope"}, allow_redirects=False)
    assert wrong.status == 401 and "not an API key" in await wrong.text()
    assert SESSION_COOKIE not in wrong.cookies
    ok = await client.post("/login", data={"key": KEY}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and KEY not in cookie
    page = await client.get("/")  # the cookie jar sends the session back
    assert page.status == 200 and "<h2>Requests" in await page.text()
    assert (await client.get("/api/v1/status")).status == 401  # the session opens the page, not the API
    await client.post("/logout", allow_redirects=False)
    assert "<h2>Requests" not in await (await client.get("/")).text()


async def test_a_forged_session_cookie_gets_the_form(client):
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: "forged-session-id"})
    assert 'action="/login"' in await (await client.get("/")).text()


@pytest.mark.parametrize(("setting", "host", "public"), [
    (None, "127.0.0.1", True), (None, "::1", True), (None, "localhost", True), (None, "0.0.0.0", False),
    (None, "192.168.1.5", False), (None, "nas.lan", False), (True, "0.0.0.0", True), (False, "127.0.0.1", False),
])
async def test_metrics_open_as_configured(db, aiohttp_client, setting, host, public):
    assert metrics_public(setting, host) is public
    client = await aiohttp_client(make_app(HttpDeps(ctx=_ctx(db, host=host, metrics_public=setting))))
    assert ((await client.get("/metrics")).status == 200) is public
    assert (await client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"})).status == 200


def test_the_one_key_check(db) -> None:
    assert not queries.any_key()
    assert queries.adopt_config_key(KEY, utcnow()) == "adopted"
    alice = queries.add_user("alice", Role.REQUESTER, frozenset(), utcnow())
    assert queries.caller_by_key(KEY).name == "admin" and queries.caller_by_key(KEY).is_admin
    assert queries.caller_by_key(alice).name == "alice" and not queries.caller_by_key(alice).is_admin
    assert queries.caller_by_key(None) is None and queries.caller_by_key("") is None
    assert queries.caller_by_key("ké") is None and queries.caller_by_key(alice + "x") is None
    # Only hashes are stored; a disabled user's key stops working; a rotated key replaces the old one.
    stored = {u.key_hash for u in User.select()}
    assert KEY not in str(stored) and alice not in str(stored) and key_hash(alice) in stored
    queries.disable_user("alice")
    assert queries.caller_by_key(alice) is None
    rotated = queries.rotate_key("alice", utcnow())
    assert queries.caller_by_key(alice) is None and queries.caller_by_key(rotated).name == "alice"
    # The configured key counts only until admin has one: afterwards it is ignored.
    assert queries.adopt_config_key("another-key-0123456", utcnow()) == "ignored"
    assert queries.caller_by_key("another-key-0123456") is None
    assert presented_key({"X-Api-Key": "a"}) == "a" and presented_key({"Authorization": "bearer b"}) == "b"
    assert presented_key({"Authorization": "Basic c"}) is None and presented_key({}) is None
    assert is_loopback("127.0.0.2") and not is_loopback("")


def test_recent_answers_expire_and_are_not_used_after_a_change():
    now = [100.0]
    known: Recent[str, Caller] = Recent(2.0, max_entries=2, clock=lambda: now[0])
    admin = Caller("admin", Role.ADMIN)
    known.put("hash-a", 7, admin)
    assert known.get("hash-a", 7) == admin and known.get("hash-b", 7) is None
    assert known.get("hash-a", 8) is None  # this process changed something since the lookup
    now[0] += 2.0
    assert known.get("hash-a", 7) is None  # a change made by another process counts within the ttl
    known.put("hash-a", 7, admin), known.put("hash-b", 7, admin), known.put("hash-c", 7, admin)
    assert known.get("hash-a", 7) is None and known.get("hash-c", 7) == admin  # bounded


async def test_a_key_disabled_by_another_process_stops_working_within_the_ttl(db, aiohttp_client):
    deps = HttpDeps(ctx=_ctx(db), keys=Recent(0.3))
    client = await aiohttp_client(make_app(deps))
    assert (await client.get("/api/v1/requests", headers=AUTH)).status == 200
    User.update(enabled=False).where(User.name == "admin").execute()  # as the CLI would, from its own process
    assert (await client.get("/api/v1/requests", headers=AUTH)).status == 200  # still known for a moment
    await asyncio.sleep(0.35)
    assert (await client.get("/api/v1/requests", headers=AUTH)).status == 401
