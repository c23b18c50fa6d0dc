"""The HTTP read path at a million items: the daemon's API beside a bare aiohttp endpoint, in one run.

Run: ``python -m bench.bench_api [--quick] [--pg-items N] [--sqlite-items N] [--seconds S] [--only pg|sqlite]``.

For each database (a throwaway PostgreSQL with 1,000,000 items, then SQLite with 100,000) the bench loads
requests and items through the project's own bulk write path (``store.queries.import_requests``: one
transaction per batch, each request's status through the one status function), with one 500-episode request
among them, then starts the real daemon (``annexd run``, a subprocess, no stage configured, API key set) and a
bare aiohttp endpoint (another subprocess that answers a fixed JSON body), and drives both with ``wrk`` at 32
connections: ``/health``, ``/metrics``, ``/api/v1/status``, ``/api/v1/requests?page=1``, the same with a
status filter, and the 500-episode view. Then ``/health`` alone at one connection while four connections loop
the list. Every call sends ``X-Api-Key``. Reported: p50/p99 latency, req/s, non-2xx answers, and ratios to the
bare endpoint (its req/s over the endpoint's; the endpoint's p99 over its p99). Each endpoint is also measured
at one connection ("alone": the latency of a call that waits for nobody). Before each run the bench waits until
the daemon has drained the API work the previous run left queued, then makes one uncounted call to the endpoint
(a cold ``/metrics`` waits for a full count of the items, about 0.3 s at 1,000,000: the runs measure the steady
state).

Targets (issue 12, on the PostgreSQL run): list page p99 <= 50 ms; /metrics p99 <= 50 ms; /health p99 <= 20 ms
under list load; episodes >= 500 req/s. Exit status 0 if all pass, 1 if a target fails, 2 on an error.
Results go to ``bench/results/api.json``. The machine is shared: the load average before and after each run is
recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
API_KEY = "bench-api-key-0123456789"
CONNECTIONS = 32
BATCH_REQUESTS = 200
EPIC_EPISODES = 500
EXIT_OK, EXIT_TARGET_FAILED, EXIT_ERROR = 0, 1, 2
FILTER_STATUS = "FAILED"  # what needs a person; about as many requests as are downloading at a time

# (name, path) measured at CONNECTIONS connections; {epic} is the 500-episode request's id.
ENDPOINTS = (
    ("bare aiohttp", None),
    ("/health", "/health"),
    ("/metrics", "/metrics"),
    ("/api/v1/status", "/api/v1/status"),
    ("list page 1", "/api/v1/requests?page=1"),
    (f"list status={FILTER_STATUS}", f"/api/v1/requests?page=1&status={FILTER_STATUS}"),
    ("episodes (500)", "/api/v1/requests/{epic}/episodes"),
)

# Item statuses drawn for a request, by the phase it is in (weights). Most of a library is done. The library is
# at rest, as the pipeline's invariant has it (annexd.domain.stranded): otherwise the daemon under test spends
# the run repairing it and the bench measures that instead of the read path. So no claimed status (SEARCHING,
# ENCODING, DELIVERING: no daemon holds them), no DOWNLOADING (it needs a torrent row), no DOWNLOADED (the
# built-in encoder would claim some 16,000 files at once; the encode path at scale is bench_pipeline's), and
# AWAITING / QUALITY_UNAVAILABLE items carry their reason and due time.
_PHASES: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.62, ("COMPLETED",)),
    (0.08, ("COMPLETED", "FAILED")),
    (0.08, ("FOUND", "COMPLETED")),
    (0.06, ("AWAITING", "PENDING")),
    (0.05, ("ENCODED", "COMPLETED")),
    (0.04, ("QUALITY_UNAVAILABLE", "AWAITING")),
    (0.04, ("CANCELLED",)),
    (0.03, ("PENDING", "FOUND")),
)
_PAST_FOUND = {"FOUND", "DOWNLOADING", "DOWNLOADED", "ENCODING", "ENCODED", "DELIVERING", "COMPLETED", "FAILED"}


# --- the data (pure, seeded) ---------------------------------------------------------------------------------
def _item(rnd: random.Random, statuses: tuple[str, ...], kind: str, season: int, episode: int, title: str,
          now: datetime) -> dict[str, Any]:
    status = rnd.choice(statuses)
    release = ({"title": f"{title}.S{season:02d}E{episode:02d}.1080p.WEB-DL.x264-GRP", "size": rnd.randint(1, 9) << 30,
                "indexer": "bench", "quality": "WEBDL-1080p", "seeders": rnd.randint(1, 500)}
               if status in _PAST_FOUND else None)
    waits = status in ("AWAITING", "QUALITY_UNAVAILABLE")
    return {"kind": kind, "season": season, "episode": episode, "title": f"Episode {episode}" if episode else title,
            "status": status, "status_changed_at": now - timedelta(minutes=rnd.randint(0, 50_000)),
            "next_retry_at": now + timedelta(hours=rnd.randint(1, 1000)) if waits else None,
            "last_error": f"{status.lower()}: waiting until it is due" if waits else None,
            "progress": 100.0 if status == "COMPLETED" else round(rnd.uniform(0, 99), 2), "release": release,
            "created_at": now, "updated_at": now}


def _request(rnd: random.Random, n: int, size: int, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    weights = [w for w, _ in _PHASES]
    statuses = rnd.choices([s for _, s in _PHASES], weights)[0]
    title = f"Bench Title {n:06d}"
    if size == 1 and n % 3:
        columns = {"kind": "movie", "title": title, "year": 1950 + n % 75, "tmdb_id": n, "created_at": now,
                   "updated_at": now, "targets": ["library"]}
        return columns, [_item(rnd, statuses, "movie", 0, 0, title, now)]
    columns = {"kind": "tv", "title": title, "tvdb_id": n, "created_at": now, "updated_at": now,
               "targets": ["library"]}
    return columns, [_item(rnd, statuses, "episode", 1 + e // 50, 1 + e % 50, title, now) for e in range(size)]


def plan(n_items: int, seed: int, now: datetime) -> Iterator[list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """Batches of requests totalling ``n_items`` items; the first request is the 500-episode one."""
    rnd = random.Random(seed)
    left, n, batch = n_items, 0, []
    while left > 0:
        size = min(left, EPIC_EPISODES if n == 0 else (1 if rnd.random() < 0.45 else rnd.randint(8, 110)))
        batch.append(_request(rnd, n, size, now))
        left -= size
        n += 1
        if len(batch) == BATCH_REQUESTS:
            yield batch
            batch = []
    if batch:
        yield batch


def load(db_url: str, n_items: int, seed: int) -> dict[str, Any]:
    """Migrate and fill the database through the project's bulk write path; returns what was loaded."""
    from store import migrate, queries
    from store.db import is_postgres, open_database
    from store.models import utcnow

    started = time.perf_counter()
    db: Any = open_database(db_url, max_connections=2)
    requests, epic = 0, None
    try:
        with db.connection_context():
            migrate.apply_all(db)
            for batch in plan(n_items, seed, utcnow()):
                ids = queries.import_requests(batch)
                epic = ids[0] if epic is None else epic
                requests += len(ids)
        with db.connection_context():  # what autovacuum/autoanalyze reach on a running system
            db.execute_sql("VACUUM ANALYZE" if is_postgres(db) else "ANALYZE")
    finally:
        db.close_all()
    return {"items": n_items, "requests": requests, "epic_request_id": epic,
            "load_seconds": round(time.perf_counter() - started, 1)}


# --- the servers ------------------------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback only)
                answer.read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s")


def start_daemon(db_url: str, port: int, state_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ANNEX_DATABASE_URL": db_url, "ANNEX_HTTP_PORT": str(port), "ANNEX_API_KEY": API_KEY,
           "ANNEX_STATE_DIR": str(state_dir), "ANNEX_LOGGING_LEVEL": "warning", "ANNEX_LOGGING_FORMAT": "json"}
    log = (state_dir / "daemon.log").open("wb")
    code = "import sys; from annexd.cli import main; sys.exit(main(['run']))"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_http(f"http://127.0.0.1:{port}/api/v1/openapi.json", proc)
    return proc


def start_bare(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_api", "--bare-server", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_http(f"http://127.0.0.1:{port}/", proc)
    return proc


def run_bare_server(port: int) -> None:
    """The baseline: aiohttp answering a small fixed JSON body, nothing else."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- wrk ------------------------------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return round(float(match.group(1)) * _UNITS[match.group(2)], 3)


def parse_wrk(output: str) -> dict[str, Any]:
    """p50/p99 (ms), req/s, requests, non-2xx answers and socket errors from ``wrk --latency`` output."""
    def find(pattern: str) -> str | None:
        match = re.search(pattern, output)
        return match.group(1) if match else None

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    requests = int(find(r"(\d+) requests in") or 0)
    p50, p99 = find(r"\n\s+50%\s+(\S+)"), find(r"\n\s+99%\s+(\S+)")
    return {  # no answer within the run: no latency to report (wrk prints zeros)
        "p50_ms": _ms(p50) if p50 and requests else None, "p99_ms": _ms(p99) if p99 and requests else None,
        "rps": float(find(r"Requests/sec:\s+([\d.]+)") or 0.0),
        "requests": requests,
        "non_2xx": int(find(r"Non-2xx or 3xx responses: (\d+)") or 0),
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def _wrk_cmd(url: str, connections: int, seconds: float) -> list[str]:
    threads = max(1, min(2, connections))
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "60s",
            "-H", f"X-Api-Key: {API_KEY}", url]


def wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run(_wrk_cmd(url, connections, seconds), capture_output=True, text=True, check=True,
                         timeout=seconds + 120)
    return parse_wrk(out.stdout)


def settle(base: str, timeout: float = 300.0) -> float:
    """Wait until the API's queue has drained (work left by the previous endpoint's run): one cheap API call
    answered. Returns the seconds it took."""
    started = time.perf_counter()
    request = urllib.request.Request(base + "/api/v1/requests/1", headers={"X-Api-Key": API_KEY})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (loopback only)
            answer.read()
    except urllib.error.HTTPError:
        pass  # any answer means the queue reached it
    return round(time.perf_counter() - started, 2)


def warm(url: str) -> None:
    """One call before a run, not counted: a cold ``/metrics`` after a quiet spell waits for a full count of the
    items (about 0.3 s at 1,000,000), as a Prometheus scrape every 15 s does; the runs measure the steady state."""
    request = urllib.request.Request(url, headers={"X-Api-Key": API_KEY})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (loopback only)
            answer.read()
    except urllib.error.HTTPError:
        pass


def measure(base: str, bare: str, epic: int, seconds: float) -> dict[str, Any]:
    endpoints: dict[str, Any] = {}
    for name, path in ENDPOINTS:
        url = bare + "/" if path is None else base + path.format(epic=epic)
        waited = settle(base)
        warm(url)
        endpoints[name] = {**wrk(url, CONNECTIONS, seconds), "settled_before_s": waited}
        print(f"    {name:<28} {_fmt(endpoints[name])}" + (f"  (queue drained {waited} s first)" if waited > 1 else ""),
              flush=True)
    alone: dict[str, Any] = {}  # one connection: the latency of a call that waits for nobody
    for name, path in ENDPOINTS:
        url = bare + "/" if path is None else base + path.format(epic=epic)
        settle(base)
        warm(url)
        alone[name] = wrk(url, 1, max(1.0, seconds / 2))
        print(f"    {name + ' (1 connection)':<28} {_fmt(alone[name])}", flush=True)
    # /health at one connection while four connections loop the list.
    settle(base)
    looping = subprocess.Popen(_wrk_cmd(base + "/api/v1/requests?page=1", 4, seconds + 3),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        time.sleep(1.5)
        health = wrk(base + "/health", 1, seconds)
    finally:
        list_out, _ = looping.communicate(timeout=seconds + 120)
    under_load = {"health": health, "list_loop": parse_wrk(list_out)}
    print(f"    {'/health under list load':<28} {_fmt(health)}  (list: {_fmt(under_load['list_loop'])})", flush=True)
    return {"endpoints": endpoints, "alone": alone, "health_under_list_load": under_load}


def _fmt(r: dict[str, Any]) -> str:
    if not r["requests"]:
        return f"no answer within the run ({r['socket_errors']} socket errors)"
    return (f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  {r['rps']:,.1f} req/s  ({r['requests']} requests, "
            f"{r['non_2xx']} non-2xx, {r['socket_errors']} socket errors)")


def ratios(run: dict[str, Any]) -> dict[str, Any]:
    eps = run["endpoints"]
    bare = eps["bare aiohttp"]
    out = {}
    for name, r in eps.items():
        if name == "bare aiohttp":
            continue
        out[name] = {"bare_rps_over_rps": round(bare["rps"] / r["rps"], 1) if r["rps"] else None,
                     "p99_over_bare_p99": round(r["p99_ms"] / bare["p99_ms"], 1)
                     if r["p99_ms"] and bare["p99_ms"] else None}
    health = run["health_under_list_load"]["health"]
    out["/health under list load"] = {"p99_over_bare_p99": round(health["p99_ms"] / bare["p99_ms"], 1)
                                      if health["p99_ms"] and bare["p99_ms"] else None}
    return out


def evaluate(run: dict[str, Any]) -> list[dict[str, Any]]:
    eps = run["endpoints"]
    health = run["health_under_list_load"]["health"]
    checks = [
        ("list page p99 <= 50 ms", eps["list page 1"], "p99_ms", 50.0, "max"),
        (f"list status={FILTER_STATUS} p99 <= 50 ms", eps[f"list status={FILTER_STATUS}"], "p99_ms", 50.0, "max"),
        ("/metrics p99 <= 50 ms", eps["/metrics"], "p99_ms", 50.0, "max"),
        ("/health p99 <= 20 ms under list load", health, "p99_ms", 20.0, "max"),
        ("episodes (500) >= 500 req/s", eps["episodes (500)"], "rps", 500.0, "min"),
    ]
    # A fast refusal is not an answer: a run with any non-2xx answer or socket error fails its target.
    return [{"name": name, "value": r[field], "limit": limit, "non_2xx": r["non_2xx"],
             "socket_errors": r["socket_errors"],
             "pass": r[field] is not None and not r["non_2xx"] and not r["socket_errors"]
             and (r[field] <= limit if kind == "max" else r[field] >= limit)}
            for name, r, field, limit, kind in checks]


# --- one database -----------------------------------------------------------------------------------------------
def run_database(kind: str, db_url: str, n_items: int, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    print(f"  {kind}: loading {n_items:,} items ...", flush=True)
    loaded = load(db_url, n_items, seed)
    print(f"  {kind}: loaded {loaded['requests']:,} requests in {loaded['load_seconds']} s", flush=True)
    state = workdir / f"state-{kind}"
    state.mkdir()
    daemon_port, bare_port = _free_port(), _free_port()
    daemon = start_daemon(db_url, daemon_port, state)
    bare = None
    try:
        bare = start_bare(bare_port)
        load0 = os.getloadavg()[0]
        started = time.perf_counter()
        run = measure(f"http://127.0.0.1:{daemon_port}", f"http://127.0.0.1:{bare_port}", loaded["epic_request_id"],
                      seconds)
        run.update(load=loaded, loadavg_1m=(round(load0, 2), round(os.getloadavg()[0], 2)),
                   measure_seconds=round(time.perf_counter() - started, 1))
    finally:
        stop(daemon)
        if bare is not None:
            stop(bare)
    run["ratios"] = ratios(run)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_api", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3,000 / 1,000 items, 2 s per endpoint")
    parser.add_argument("--pg-items", type=int, default=None, help="items in PostgreSQL (default 1,000,000)")
    parser.add_argument("--sqlite-items", type=int, default=None, help="items in SQLite (default 100,000)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per endpoint (default 10)")
    parser.add_argument("--only", choices=("pg", "sqlite"), default=None)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server is not None:
        run_bare_server(args.bare_server)
        return EXIT_OK
    # A stopped bench still stops its daemon, its servers and its PostgreSQL (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_ERROR))
    if shutil.which("wrk") is None:
        print("bench_api: wrk is not installed (make system-deps)", file=sys.stderr)
        return EXIT_ERROR
    pg_items = args.pg_items or (3000 if args.quick else 1_000_000)
    sqlite_items = args.sqlite_items or (1000 if args.quick else 100_000)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    print(f"bench_api: PostgreSQL {pg_items:,} items, SQLite {sqlite_items:,} items, {seconds:g} s per endpoint, "
          f"{CONNECTIONS} connections, load average {os.getloadavg()[0]:.2f}", flush=True)
    runs: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        if args.only in (None, "pg"):
            from tests.servers.postgres import start_postgres

            server = start_postgres()
            try:
                runs["postgresql"] = run_database("postgresql", server.url(server.create_database()), pg_items,
                                                  args.seed, seconds, workdir)
            finally:
                server.destroy()
        if args.only in (None, "sqlite"):
            runs["sqlite"] = run_database("sqlite", f"sqlite:///{workdir / 'bench.db'}", sqlite_items, args.seed,
                                          seconds, workdir)
    except (Exception, KeyboardInterrupt):
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    judged = runs.get("postgresql") or runs["sqlite"]
    targets = evaluate(judged)
    print("\ntargets (on the PostgreSQL run):" if "postgresql" in runs else "\ntargets (SQLite run only):")
    for t in targets:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {t['value']}")
    passed = all(t["pass"] for t in targets)
    result = {"bench": "api", "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "config": {"pg_items": pg_items, "sqlite_items": sqlite_items, "seconds": seconds, "seed": args.seed,
                         "connections": CONNECTIONS, "quick": args.quick},
              "runs": runs, "targets": targets, "passed": passed}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.output}; {'all targets PASS' if passed else 'some targets FAIL'}")
    return EXIT_OK if passed else EXIT_TARGET_FAILED


if __name__ == "__main__":
    sys.exit(main())
