"""/health and /metrics never queue behind API work: the API's executor is bounded (503 + Retry-After past it),
health and the item counts have their own threads, and at shutdown queued API work is cancelled."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from actors.context import ActorContext
from annexd import health_checks
from annexd.config import Config, HttpConfig
from annexd.domain.request_specs import RequestSpec
from annexd.health import HealthMonitor
from annexd.http import app as http_app
from annexd.http.app import HttpDeps, make_app
from annexd.http.executors import BoundedExecutor, Cached, Overloaded, Recent
from annexd.http.server import HttpServer
from store import queries
from store.models import utcnow

KEY = "k3y-for-tests-0123"
AUTH = {"X-Api-Key": KEY}


def test_bounded_executor_refuses_past_its_queue_and_frees_slots():
    gate = threading.Event()
    ex = BoundedExecutor(1, 2, "t", retry_after_s=3)
    running = [ex.submit(gate.wait), ex.submit(gate.wait)]
    with pytest.raises(Overloaded) as refused:
        ex.submit(lambda: None)
    assert refused.value.retry_after_s == 3
    gate.set()
    assert all(f.result(timeout=5) for f in running)
    time.sleep(0.05)  # slots are released by the futures' done callbacks
    assert ex.submit(lambda: 7).result(timeout=5) == 7
    ex.shutdown()


async def test_cache_runs_one_load_at_most_every_max_age_and_waits_only_past_max_stale():
    now = [0.0]
    calls: list[int] = []
    gate = threading.Event()

    def load() -> dict[str, int]:
        calls.append(1)
        if len(calls) > 1:
            gate.wait(5)
        return {"PENDING": len(calls)}

    cache = Cached(load, max_age_s=5.0, max_stale_s=10.0, clock=lambda: now[0])
    assert await cache.get() == {"PENDING": 1}  # the first caller waits for the first count
    now[0] = 4.0
    assert await cache.get() == {"PENDING": 1} and len(calls) == 1  # fresh: no query
    now[0] = 6.0
    answers = await asyncio.gather(*(cache.get() for _ in range(20)))  # stale: one refresh, nobody waits
    assert answers == [{"PENDING": 1}] * 20
    gate.set()
    await asyncio.sleep(0.1)
    assert len(calls) == 2 and await cache.get() == {"PENDING": 2}
    # After a quiet spell (a scrape every 15 s) the value is past max_stale: the caller waits for a fresh one
    # instead of getting what the previous caller saw.
    now[0] = 6.0 + 10.5
    assert await cache.get() == {"PENDING": 3} and len(calls) == 3
    cache.shutdown()


@pytest.fixture
def ctx(db):
    return ActorContext(db=db, config=replace(Config(), http=replace(HttpConfig(), api_key=KEY)))


@pytest.fixture
def slow_list(monkeypatch):
    """API list calls block until the gate opens; returns (gate, how many started)."""
    gate = threading.Event()
    started: list[int] = []

    def blocked(*args, **kwargs):
        started.append(1)
        gate.wait(10)
        return [], 0

    monkeypatch.setattr(http_app.queries, "list_requests", blocked)
    yield gate, started
    gate.set()


async def test_past_the_api_queue_the_answer_is_503_with_retry_after_and_health_and_metrics_still_answer(
        ctx, aiohttp_client, slow_list):
    gate, started = slow_list
    monitor = HealthMonitor(health_checks.core(ctx, ctx.config.health))
    monitor.run_once(wait=10)  # the checks run on their own timer, never in the request
    deps = HttpDeps(ctx=ctx, executor=BoundedExecutor(1, 2, "http-db"), health=monitor)
    client = await aiohttp_client(make_app(deps))
    # Different pages: identical calls would share one run (test_identical_reads_in_flight_share_one_run).
    busy = [asyncio.ensure_future(client.get(f"/api/v1/requests?page={n}", headers=AUTH)) for n in (1, 2)]
    while not started:
        await asyncio.sleep(0.01)
    refused = await client.get("/api/v1/requests?page=3", headers=AUTH)
    assert refused.status == 503 and refused.headers["Retry-After"] == "1"
    assert "busy" in (await refused.json())["error"]
    t0 = time.perf_counter()
    health = await client.get("/health", headers=AUTH)  # 503 only for the missing actors of this bare context
    assert (await health.json())["checks"]["database"]["ok"] is True
    for path in ("/metrics", "/api/v1/status"):
        answer = await client.get(path, headers=AUTH)
        assert answer.status == 200, path
    assert time.perf_counter() - t0 < 2.0
    assert 'annexd_items{status="PENDING"}' in await (await client.get("/metrics")).text()
    gate.set()
    assert [r.status for r in await asyncio.gather(*busy)] == [200, 200]


async def test_identical_reads_in_flight_share_one_run_and_a_write_starts_afresh(ctx, aiohttp_client, slow_list):
    gate, started = slow_list
    client = await aiohttp_client(make_app(HttpDeps(ctx=ctx, executor=BoundedExecutor(2, 8, "http-db"))))
    same = [asyncio.ensure_future(client.get("/api/v1/requests?page=1", headers=AUTH)) for _ in range(20)]
    while not started:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # all twenty are in; one list call runs for them
    assert len(started) == 1
    # A write (even a refused one) goes through: the next identical read does not join the run from before it.
    assert (await client.post("/api/v1/requests/999/cancel", headers=AUTH)).status == 404
    after = asyncio.ensure_future(client.get("/api/v1/requests?page=1", headers=AUTH))
    deadline = time.monotonic() + 5
    while len(started) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(started) == 2
    gate.set()
    assert {r.status for r in await asyncio.gather(*same, after)} == {200}
    # Nothing is kept once a run ends: the next call runs the query again.
    assert (await client.get("/api/v1/requests?page=1", headers=AUTH)).status == 200 and len(started) == 3


def test_shutdown_cancels_queued_api_work_and_takes_at_most_two_seconds(ctx, slow_list):
    gate, started = slow_list
    deps = HttpDeps(ctx=ctx, executor=BoundedExecutor(1, 16, "http-db"))
    server = HttpServer(make_app(deps), "127.0.0.1", 0).start()

    def call(n: int) -> None:
        request = urllib.request.Request(server.url + f"/api/v1/requests?page={n}", headers=AUTH)
        try:
            urllib.request.urlopen(request, timeout=15).read()  # noqa: S310 (loopback)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # dropped at shutdown: expected

    clients = [threading.Thread(target=call, args=(n,), daemon=True) for n in range(1, 11)]
    for t in clients:
        t.start()
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the other nine are queued behind the one running
    t0 = time.perf_counter()
    server.stop()
    elapsed = time.perf_counter() - t0
    gate.set()  # the running call finishes now; the queued ones must never run
    time.sleep(0.3)
    assert elapsed <= 2.0 + 0.1, elapsed
    assert len(started) == 1


async def test_a_lists_total_is_kept_a_moment_but_never_across_a_write_through_the_api(ctx, aiohttp_client):
    client = await aiohttp_client(make_app(HttpDeps(ctx=ctx, totals=Recent(60.0))))

    async def total() -> int:
        answer = await client.get("/api/v1/requests", headers=AUTH)
        return int((await answer.json())["total"])

    assert await total() == 0
    queries.submit_request(RequestSpec(kind="movie", title="Made Elsewhere"), utcnow())  # another process, say
    assert await total() == 0  # the total counted a moment ago (its rows are fresh: only the count is kept)
    created = await client.post("/api/v1/requests", json={"type": "movie", "title": "Dune"}, headers=AUTH)
    assert created.status == 201
    assert await total() == 2  # a write through the API: counted again
