"""Malformed input gets a 4xx with a reason, never a 5xx (table-driven, in-process over SQLite and PostgreSQL).
Each row was an HTTP 500 before: RecursionError, int() past 4300 digits, a lone surrogate reaching the database
driver, a non-ASCII key in hmac, an unknown charset, 405 without its Allow header."""

from dataclasses import replace

import pytest

from actors.context import ActorContext
from annexd.config import Config, HttpConfig
from annexd.http.app import HttpDeps, make_app

KEY = "k3y-for-malformed-tests-0123"
AUTH = {"X-Api-Key": KEY}
JSON = {**AUTH, "Content-Type": "application/json"}
BIG = 5000 * "9"


@pytest.fixture
async def client(db, aiohttp_client):
    ctx = ActorContext(db=db, config=replace(Config(), http=replace(HttpConfig(), api_key=KEY)))
    return await aiohttp_client(make_app(HttpDeps(ctx=ctx)))


async def _item_id(client) -> int:
    resp = await client.post("/api/v1/requests", json={"type": "movie", "title": "Target"}, headers=AUTH)
    return (await resp.json())["id"]  # the first item of the first request has the request's id here


def _chunks(data: bytes):
    async def gen():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]
    return gen()


# (name, method, path, body bytes or callable, headers, expected status, words in the reason)
CASES = [
    ("deeply nested arrays", "POST", "/api/v1/requests", b"[" * 100_000 + b"]" * 100_000, JSON, 400, "nested"),
    ("deeply nested objects", "POST", "/api/v1/requests", b'{"a":' * 5000 + b"1" + b"}" * 5000, JSON, 400,
     "nested"),
    ("5000-digit integer in a field", "POST", "/api/v1/requests",
     b'{"type":"movie","title":"X","year":' + BIG.encode() + b"}", JSON, 400, "digits"),
    ("5000-digit integer as the body", "POST", "/api/v1/requests", BIG.encode(), JSON, 400, "digits"),
    ("5000-digit negative float", "POST", "/api/v1/requests", b'{"x":-' + BIG.encode() + b'.5}', JSON, 400,
     "number"),
    ("number out of range", "POST", "/api/v1/requests", b'{"type":"movie","title":"X","year":1e999}', JSON, 400,
     "number"),
    ("NaN", "POST", "/api/v1/requests", b'{"type":"movie","title":"X","year":NaN}', JSON, 400, "NaN"),
    ("lone surrogate in a title", "POST", "/api/v1/requests", b'{"type":"movie","title":"Bad \\ud800 title"}', JSON,
     400, "Unicode"),
    ("lone surrogate in an episode title", "POST", "/api/v1/requests",
     b'{"type":"tv","title":"S","episodes":[{"season":1,"episode":1,"title":"\\udfff"}]}', JSON, 400, "Unicode"),
    ("lone surrogate as a key", "POST", "/api/v1/requests", b'{"\\ud800":1}', JSON, 400, "Unicode"),
    ("lone surrogate in a release id", "POST", "/api/v1/items/{item}/accept-release",
     b'{"release_id":"\\ud83d"}', JSON, 400, "Unicode"),
    ("bytes that are not UTF-8", "POST", "/api/v1/requests", b'{"type":"movie","title":"\xff\xfe"}', JSON, 400,
     "UTF-8"),
    ("an unknown charset", "POST", "/api/v1/requests", b'{"type":"movie","title":"\xe9"}',
     {**AUTH, "Content-Type": "application/json; charset=klingon"}, 400, "UTF-8"),
    ("not JSON", "POST", "/api/v1/requests", b"{not json", JSON, 400, "not valid JSON"),
    ("a body over 2 MB", "POST", "/api/v1/requests", b" " * 3_000_000, JSON, 413, "too large"),
    ("a chunked body over 2 MB", "POST", "/api/v1/requests", lambda: _chunks(b" " * 3_000_000), JSON, 413,
     "too large"),
    ("a 5000-digit page", "GET", "/api/v1/requests?page=" + BIG, None, AUTH, 400, "page"),
    ("a 5000-digit per_page", "GET", "/api/v1/requests?per_page=" + BIG, None, AUTH, 400, "per_page"),
    ("non-ASCII digits as a page", "GET", "/api/v1/requests?page=\u0663", None, AUTH, 400, "page"),
    ("a lone surrogate in a query", "GET", "/api/v1/requests?status=%ED%A0%80", None, AUTH, 400, "status"),
    ("a 13-digit id", "GET", "/api/v1/items/9999999999999", None, AUTH, 404, "not found"),
    ("a non-ASCII X-Api-Key", "GET", "/api/v1/status", None, {"X-Api-Key": "clé"}, 401, "API key"),
    ("a non-ASCII bearer key", "POST", "/api/v1/requests", b"{}", {"Authorization": "Bearer ключ"}, 401, "API key"),
    ("a wrong method", "PUT", "/api/v1/requests", b"{}", JSON, 405, "not allowed"),
    ("a wrong method on an item", "DELETE", "/api/v1/items/1", None, AUTH, 405, "not allowed"),
    ("a login form over 2 MB", "POST", "/login", b"key=" + b"x" * 3_000_000,
     {"Content-Type": "application/x-www-form-urlencoded"}, 413, "body size"),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "headers", "status", "words"), CASES,
                         ids=[c[0] for c in CASES])
async def test_malformed_input_gets_its_4xx_with_a_reason(client, name, method, path, body, headers, status, words):
    if "{item}" in path:
        path = path.replace("{item}", str(await _item_id(client)))
    data = body() if callable(body) else body
    resp = await client.request(method, path, data=data, headers=headers)
    assert resp.status == status, (name, resp.status, await resp.text())
    text = await resp.text()
    assert words in text, (name, text)
    if status == 405:
        assert resp.headers["Allow"] and resp.headers["Content-Type"].startswith("application/json")
    assert (await client.get("/api/v1/status", headers=AUTH)).status == 200  # the server is still fine
