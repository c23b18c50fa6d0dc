"""The HTTP API in-process (aiohttp test client) over SQLite and PostgreSQL."""

from dataclasses import replace
from datetime import date, timedelta

import pykka
import pytest

from actors.context import ActorContext
from actors.writer import DbWriter
from annexd.config import Config, HttpConfig
from annexd.http import openapi
from annexd.http.app import HttpDeps, make_app

KEY = "k3y-for-tests-0123"
AUTH = {"X-Api-Key": KEY}


@pytest.fixture
def ctx(db):
    return ActorContext(db=db, config=replace(Config(), http=replace(HttpConfig(), api_key=KEY)))


@pytest.fixture
async def client(ctx, aiohttp_client):
    app = make_app(HttpDeps(ctx=ctx))
    return await aiohttp_client(app)


async def _create(client, body, headers=AUTH):
    resp = await client.post("/api/v1/requests", json=body, headers=headers)
    return resp.status, await resp.json()


async def test_mutating_calls_need_the_api_key(client):
    body = {"type": "movie", "title": "Dune", "year": 2021}
    assert (await _create(client, body, headers={}))[0] == 401
    assert (await _create(client, body, headers={"X-Api-Key": "wrong"}))[0] == 401
    status, data = await _create(client, body, headers={"Authorization": f"Bearer {KEY}"})
    assert status == 201 and data["id"] >= 1
    resp = await client.post(f"/api/v1/requests/{data['id']}/cancel")
    assert resp.status == 401


async def test_without_a_configured_key_the_api_is_closed(db, aiohttp_client):
    client = await aiohttp_client(make_app(HttpDeps(ctx=ActorContext(db=db, config=Config()))))
    status, data = await _create(client, {"type": "movie", "title": "Dune"}, headers={"X-Api-Key": ""})
    assert status == 401 and "no API key is configured" in data["error"]
    resp = await client.get("/api/v1/requests", headers={"X-Api-Key": "anything"})
    assert resp.status == 401 and "no API key is configured" in (await resp.json())["error"]


async def test_movie_request_round_trip(client):
    status, data = await _create(client, {"type": "movie", "title": "Dune", "year": 2021, "tmdb_id": 438631})
    assert status == 201
    resp = await client.get(f"/api/v1/requests/{data['id']}", headers=AUTH)
    body = await resp.json()
    assert resp.status == 200
    assert (body["title"], body["status"], body["items"], body["progress"]) == ("Dune", "PENDING", 1, 0.0)


async def test_tv_request_episodes_grouped_by_season_and_future_ones_await(client):
    future = (date.today() + timedelta(days=30)).isoformat()
    body = {"type": "tv", "title": "The Show", "year": 2020, "tmdb_id": 1, "episodes": [
        {"season": 1, "episode": 1, "title": "Pilot", "air_date": "2020-01-01"},
        {"season": 1, "episode": 2, "title": "Two", "air_date": future},
        {"season": 2, "episode": 1, "title": "Back"},
    ]}
    status, data = await _create(client, body)
    assert status == 201
    resp = await client.get(f"/api/v1/requests/{data['id']}/episodes", headers=AUTH)
    seasons = (await resp.json())["seasons"]
    assert [s["season"] for s in seasons] == [1, 2]
    s1 = {e["episode"]: e for e in seasons[0]["episodes"]}
    assert s1[1]["status"] == "PENDING" and s1[1]["title"] == "Pilot"
    assert s1[2]["status"] == "AWAITING" and s1[2]["air_date"] == future and "not aired" in s1[2]["error"]
    for key in ("id", "progress", "downloaded_at", "encoded_at", "delivered_at", "release", "speed"):
        assert key in s1[1]


@pytest.mark.parametrize("body, field", [
    ({"type": "film", "title": "X"}, "type"),
    ({"type": "movie"}, "title"),
    ({"type": "movie", "title": "X", "year": "1999"}, "year"),
    ({"type": "movie", "title": "X", "year": 99999}, "year"),
    ({"type": "movie", "title": "X\u0000"}, "title"),
    ({"type": "movie", "title": "X", "imdb_id": "123"}, "imdb_id"),
    ({"type": "tv", "title": "X", "episodes": []}, "episodes"),
    ({"type": "tv", "title": "X", "episodes": [{"season": 1}]}, "episodes[0].episode"),
    ({"type": "tv", "title": "X", "episodes": [{"season": 1, "episode": 1, "air_date": "soon"}]},
     "episodes[0].air_date"),
    ({"type": "tv", "title": "X", "episodes": [{"season": 1, "episode": 1}, {"season": 1, "episode": 1}]},
     "episodes[1]"),
    ({"type": "tv", "title": "X", "seasons": [1]}, "episodes"),  # no TMDB configured to expand
])
async def test_invalid_bodies_get_422_with_the_field(client, body, field):
    status, data = await _create(client, body)
    assert status == 422
    assert field in data["details"], data


async def test_every_problem_is_reported_at_once(client):
    status, data = await _create(client, {"type": "x", "year": "y", "tmdb_id": -1})
    assert status == 422 and {"type", "title", "year", "tmdb_id"} <= set(data["details"])


async def test_malformed_json_is_400(client):
    resp = await client.post("/api/v1/requests", data=b"{not json", headers=AUTH)
    assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]


async def test_unknown_ids_are_404(client):
    for path in ("/api/v1/requests/999", "/api/v1/requests/999/episodes", "/api/v1/items/999",
                 "/api/v1/requests/99999999999", "/api/v1/nothing"):
        resp = await client.get(path, headers=AUTH)
        assert resp.status == 404, path
    resp = await client.post("/api/v1/requests/999/cancel", headers=AUTH)
    assert resp.status == 404


async def test_list_pages_and_filters_by_computed_status(client):
    ids = [(await _create(client, {"type": "movie", "title": f"M{i}"}))[1]["id"] for i in range(3)]
    await client.post(f"/api/v1/requests/{ids[0]}/cancel", headers=AUTH)
    page = await (await client.get("/api/v1/requests?per_page=2&page=1", headers=AUTH)).json()
    assert page["total"] == 3 and [r["id"] for r in page["requests"]] == [ids[2], ids[1]]
    cancelled = await (await client.get("/api/v1/requests?status=cancelled", headers=AUTH)).json()
    assert [r["id"] for r in cancelled["requests"]] == [ids[0]]
    bad = await client.get("/api/v1/requests?per_page=0&status=nope", headers=AUTH)
    assert bad.status == 400 and {"per_page", "status"} <= set((await bad.json())["details"])


async def test_cancel_then_delete(client):
    _, data = await _create(client, {"type": "movie", "title": "Gone"})
    resp = await client.post(f"/api/v1/requests/{data['id']}/cancel", headers=AUTH)
    assert (await resp.json())["cancelled_items"] == 1
    assert (await (await client.get(f"/api/v1/requests/{data['id']}", headers=AUTH)).json())["status"] == "CANCELLED"
    assert (await client.delete(f"/api/v1/requests/{data['id']}", headers=AUTH)).status == 204
    assert (await client.get(f"/api/v1/requests/{data['id']}", headers=AUTH)).status == 404


async def test_retry_only_failed_items(client):
    _, data = await _create(client, {"type": "movie", "title": "Again"})
    item_id = (await (await client.get(f"/api/v1/requests/{data['id']}", headers=AUTH)).json())["id"]
    resp = await client.post(f"/api/v1/items/{item_id}/retry", headers=AUTH)
    assert resp.status == 409 and "only FAILED items" in (await resp.json())["error"]


async def _failed_item(ctx, client, tmp_path, stage, source=True, encoded=True):
    from store.models import ProcessingItem

    _, data = await _create(client, {"type": "movie", "title": "Broke"})
    src, enc = tmp_path / "src.mkv", tmp_path / "enc.mkv"
    for path, exists in ((src, source), (enc, encoded)):
        if exists:
            path.write_bytes(b"x")
    with ctx.db.connection_context():
        [item] = ProcessingItem.select().where(ProcessingItem.request == data["id"])
        ProcessingItem.update(status="FAILED", failed_stage=stage, source_file_path=str(src),
                              encoded_files={"default": str(enc)}, last_error="boom").where(
            ProcessingItem.id == item.id).execute()
    return item.id


@pytest.mark.parametrize("stage, source, encoded, body, status, resumed_at", [
    ("encode", True, False, None, "DOWNLOADED", "encode"),
    ("deliver", True, True, b"", "ENCODED", "deliver"),
    ("deliver", True, False, {}, "DOWNLOADED", "encode"),
    ("encode", False, False, None, "PENDING", "search"),
    ("encode", True, True, {"from": "search"}, "PENDING", "search"),
    ("download", True, True, None, "PENDING", "search"),
])
async def test_retry_resumes_where_the_item_failed(ctx, client, tmp_path, stage, source, encoded, body, status,
                                                   resumed_at):
    item_id = await _failed_item(ctx, client, tmp_path, stage, source, encoded)
    kwargs = {"data": body} if isinstance(body, bytes) else {} if body is None else {"json": body}
    resp = await client.post(f"/api/v1/items/{item_id}/retry", headers=AUTH, **kwargs)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"id": item_id, "status": status, "resumed_at": resumed_at}
    item = await (await client.get(f"/api/v1/items/{item_id}", headers=AUTH)).json()
    assert item["status"] == status and item["attempts"] == 0


@pytest.mark.parametrize("body, code", [({"from": "encode"}, 422), ({"from": 3}, 422), ([1], 422),
                                        (b"{not json", 400)])
async def test_a_retry_from_anything_but_the_search_is_refused(ctx, client, tmp_path, body, code):
    item_id = await _failed_item(ctx, client, tmp_path, "encode")
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    resp = await client.post(f"/api/v1/items/{item_id}/retry", headers=AUTH, **kwargs)
    assert resp.status == code
    assert (await (await client.get(f"/api/v1/items/{item_id}", headers=AUTH)).json())["status"] == "FAILED"


async def test_health_reports_its_checks_last_results_to_key_holders_only(ctx, aiohttp_client):
    from annexd import health_checks
    from annexd.health import Check, HealthMonitor

    calls = []

    def qbt():
        calls.append(1)
        return False, "qbittorrent: unreachable"

    monitor = HealthMonitor([*health_checks.core(ctx, ctx.config.health), Check("download_clients.q", "degraded", qbt)])
    client = await aiohttp_client(make_app(HttpDeps(ctx=ctx, health=monitor)))
    resp = await client.get("/health", headers=AUTH)
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "down" and body["checks"]["database"]["ok"] is None
    monitor.run_once(wait=10)  # no actors running
    body = await (await client.get("/health", headers=AUTH)).json()
    assert body["status"] == "down" and body["checks"]["actors"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True and body["checks"]["database"]["age_seconds"] >= 0
    ctx.writer = DbWriter.start(ctx)
    try:
        monitor.run_once(wait=10)
        resp = await client.get("/health", headers=AUTH)
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "degraded", body
        assert body["checks"]["download_clients.q"] == {**body["checks"]["download_clients.q"], "ok": False,
                                                        "severity": "degraded", "detail": "qbittorrent: unreachable"}
        anonymous = await client.get("/health")
        assert anonymous.status == 200 and await anonymous.json() == {"status": "degraded"}
        wrong = await client.get("/health", headers={"X-Api-Key": "wrong"})
        assert await wrong.json() == {"status": "degraded"}
        before = len(calls)
        for _ in range(3):
            await client.get("/health", headers=AUTH)
        assert len(calls) == before  # never checked in the request
    finally:
        pykka.ActorRegistry.stop_all()


async def test_progress_is_live_between_database_checkpoints(ctx, client):
    from actors.messages import Flush, ProgressBatch, ProgressUpdate
    from annexd.domain.pipeline import ProcessingStatus as S
    from store.models import ProcessingItem

    body = {"type": "tv", "title": "Live", "episodes": [{"season": 1, "episode": 1}, {"season": 1, "episode": 2}]}
    _, data = await _create(client, body)
    rid = data["id"]
    ids = [i.id for i in ProcessingItem.select().where(ProcessingItem.request == rid).order_by(ProcessingItem.episode)]
    ProcessingItem.update(status=S.DOWNLOADING.value, progress=10.0).where(ProcessingItem.id.in_(ids)).execute()
    writer = DbWriter.start(ctx)  # default 30 s checkpoint interval per item
    try:
        writer.tell(ProgressUpdate(ids[0], S.DOWNLOADING, 20.0))
        writer.ask(Flush(), timeout=10)  # checkpoint: 20 %
        writer.ask(ProgressBatch((ProgressUpdate(ids[0], S.DOWNLOADING, 37.5, speed=1000, eta_seconds=60),)))
        assert ProcessingItem.get_by_id(ids[0]).progress == 20.0  # held back: written 0 s ago
        item = await (await client.get(f"/api/v1/items/{ids[0]}", headers=AUTH)).json()
        assert (item["progress"], item["speed"], item["eta_seconds"]) == (37.5, 1000, 60)
        eps = await (await client.get(f"/api/v1/requests/{rid}/episodes", headers=AUTH)).json()
        assert [e["progress"] for e in eps["seasons"][0]["episodes"]] == [37.5, 10.0]
        req = await (await client.get(f"/api/v1/requests/{rid}", headers=AUTH)).json()
        listed = await (await client.get("/api/v1/requests", headers=AUTH)).json()
        assert req["progress"] == 23.75 and listed["requests"][0]["progress"] == 23.75

        # Once the item has moved on, the live entry no longer counts: the database copy stands; nor when it
        # comes back to DOWNLOADING later (a retried download starts from its own reports).
        ProcessingItem.update(status=S.DOWNLOADED.value, progress=100.0).where(ProcessingItem.id == ids[0]).execute()
        item = await (await client.get(f"/api/v1/items/{ids[0]}", headers=AUTH)).json()
        assert (item["status"], item["progress"]) == ("DOWNLOADED", 100.0)
        ProcessingItem.update(status=S.DOWNLOADING.value, progress=0.0, status_changed_at=ctx.clock()).where(
            ProcessingItem.id == ids[0]).execute()
        item = await (await client.get(f"/api/v1/items/{ids[0]}", headers=AUTH)).json()
        assert (item["status"], item["progress"]) == ("DOWNLOADING", 0.0)
    finally:
        writer.stop()


async def test_metrics_expose_the_core_families(client):
    await _create(client, {"type": "movie", "title": "Counted"})
    text = await (await client.get("/metrics", headers=AUTH)).text()
    for name in ("annexd_items{status=\"PENDING\"}", "annexd_db_pool_connections{state=\"in_use\"}",
                 "annexd_db_pool_max_connections", "annexd_writer_flush_seconds_bucket",
                 "annexd_http_requests_total{code=\"201\",route=\"/api/v1/requests\"}"):
        assert name in text, name


async def test_status_page_is_html(client):
    await _create(client, {"type": "movie", "title": "<script>x</script>"})
    resp = await client.get("/", headers=AUTH)
    html = await resp.text()
    assert resp.status == 200 and "annexd" in html and "&lt;script&gt;" in html and "<script>x" not in html


async def test_openapi_describes_every_route(client):
    app_routes = {(r.method, r.resource.canonical) for r in client.app.router.routes() if r.method != "HEAD"}
    doc = openapi.document()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    missing = {(m, p) for m, p in app_routes if p.startswith("/api/") and p != "/api/v1/openapi.json"} - documented
    assert not missing
    served = await (await client.get("/api/v1/openapi.json", headers=AUTH)).json()
    assert served["openapi"].startswith("3.") and "/api/v1/requests" in served["paths"]


async def test_the_served_openapi_document_is_valid_3_1(client):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    served = await (await client.get("/api/v1/openapi.json")).json()
    assert served["openapi"] == "3.1.0"
    validate(served)  # raises on any error; the check below shows it can fail
    broken = {**served, "paths": {"/x": {"get": {"responses": {"200": {"content": {}}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)
    operations = [op for path in served["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(operations)
    tags = {t["name"] for t in served["tags"]}
    assert all(op["tags"] and set(op["tags"]) <= tags for op in operations)
    assert {"Request", "Item", "Error", "Health"} <= set(served["components"]["schemas"])


async def test_accept_release_takes_a_kept_alternative(client, db):
    from store.models import ProcessingItem

    _, data = await _create(client, {"type": "movie", "title": "Old Film", "year": 1999})
    alt = {"guid": "a" * 40, "info_hash": "a" * 40, "title": "Old.Film.1999.DVDRip.XviD-OLD", "size": 700}
    with db.connection_context():
        item = ProcessingItem.get(ProcessingItem.request == data["id"])
        ProcessingItem.update(status="QUALITY_UNAVAILABLE", available_releases=[alt], quality_met=False).where(
            ProcessingItem.id == item.id).execute()
    bad = await client.post(f"/api/v1/items/{item.id}/accept-release", json={"release_id": "nope"}, headers=AUTH)
    assert bad.status == 422
    shown = (await (await client.get(f"/api/v1/items/{item.id}", headers=AUTH)).json())["available_releases"]
    assert shown == [{"id": "a" * 40, "title": alt["title"], "size": 700, "indexer": None, "seeders": None,
                      "published": None}]
    ok = await client.post(f"/api/v1/items/{item.id}/accept-release", json={"release_id": shown[0]["id"]},
                           headers=AUTH)
    assert ok.status == 200 and (await ok.json())["status"] == "FOUND"
    view = await (await client.get(f"/api/v1/items/{item.id}", headers=AUTH)).json()
    assert view["status"] == "FOUND" and view["release"] == alt["title"] and view["quality_met"] is False
    again = await client.post(f"/api/v1/items/{item.id}/accept-release", json={"release_id": "a" * 40}, headers=AUTH)
    assert again.status == 409


async def test_one_request_per_title_201_then_200_with_what_was_added_then_409(client):
    show = {"type": "tv", "title": "The Show", "tmdb_id": 99, "episodes": [{"season": 1, "episode": 1}]}
    status, first = await _create(client, show)
    assert status == 201
    more = {**show, "title": "the show", "episodes": [{"season": 1, "episode": 1}, {"season": 1, "episode": 2}],
            "targets": ["nas"]}
    status, added = await _create(client, more)
    assert status == 200 and added == {"id": first["id"], "pending_approval": False, "added": {
        "episodes": [{"season": 1, "episode": 2}], "seasons": [], "targets": ["nas"], "monitor": None}}
    status, conflict = await _create(client, more)
    assert status == 409 and conflict["id"] == first["id"] and "already holds" in conflict["error"]
    eps = (await (await client.get(f"/api/v1/requests/{first['id']}/episodes", headers=AUTH)).json())["seasons"][0]["episodes"]
    assert [e["episode"] for e in eps] == [1, 2]
    listed = (await (await client.get("/api/v1/requests", headers=AUTH)).json())["requests"]
    assert [r["id"] for r in listed] == [first["id"]]
    movie = {"type": "movie", "title": "Dune", "year": 2021}
    assert (await _create(client, movie))[0] == 201 and (await _create(client, movie))[0] == 409


async def test_tv_request_by_seasons_is_expanded_from_tmdb(ctx, aiohttp_client):
    from annexd.clients.tmdb import TmdbClient, TmdbSettings
    from annexd.daemon import expand_request
    from tests.fakes.tmdb import SEASONS, FakeTmdb

    fake = FakeTmdb(api_key="tmdb-key-for-tests").start()
    try:
        tmdb = TmdbClient(TmdbSettings(api_key="tmdb-key-for-tests", base_url=fake.base_url, timeout=5))
        client = await aiohttp_client(make_app(HttpDeps(ctx=ctx, expand_seasons=lambda s: expand_request(tmdb, s))))
        status, data = await _create(client, {"type": "tv", "title": "Game of Thrones", "tmdb_id": 1399,
                                              "seasons": [1, 2]})
        assert status == 201, data
        seasons = (await (await client.get(f"/api/v1/requests/{data['id']}/episodes", headers=AUTH)).json())["seasons"]
        got = {(s["season"], e["episode"], e["title"]) for s in seasons for e in s["episodes"]}
        want = {(s, ep["episode_number"], ep["name"]) for (show, s), eps in SEASONS.items() if show == 1399
                and s in (1, 2) for ep in eps}
        assert got == want
        status, data = await _create(client, {"type": "tv", "title": "Game of Thrones", "tmdb_id": 1399,
                                              "seasons": [9]})
        assert status == 422 and "seasons" in data["details"]
    finally:
        fake.stop()
