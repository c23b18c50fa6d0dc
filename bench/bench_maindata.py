"""Download progress polling: annexd's sync/maindata pattern vs the legacy per-item pattern.

Run: ``python -m bench.bench_maindata`` (``--quick`` for a smoke run, ``--sizes`` to change N).

A fake qBittorrent (stdlib ``http.server``, in a child process so that ``time.process_time`` here measures only
the polling side) serves N torrents. Between two polls the torrents advance by one 500 ms step: most
downloading torrents gain 0.1-0.8 percentage points, a few change state, the rest sit idle (completed, stalled,
paused). The step is driven by the bench (``POST /bench/advance``), not by a wall clock, so both patterns see
exactly the same sequence of changes and the result does not depend on machine speed.

- annexd: ONE ``sync/maindata?rid=N`` request per poll through ``annexd.clients.qbittorrent.QbtClient``, merged into
  ``MaindataCache``; changed torrents go through the DB writer's ``Coalescer`` (changes below 1 percentage
  point are not written).
- legacy (Annex): ONE ``torrents/info`` request per item per poll and one row write per item per poll. Annex
  fetched the whole list per item; this bench is kinder and filters by hash (``?hashes=<h>``). For large N the
  legacy poll is measured on a sample of items and scaled to N (marked "scaled").

Reported per N: qBittorrent HTTP calls per poll, rows that would be written per 1,000 observed changes,
CPU seconds per poll, and legacy/annexd ratios.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import qbittorrentapi

from annexd.clients.qbittorrent import QbtClient
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.domain.coalesce import Coalescer

STEP_MS = 500
HTTP_TIMEOUT = 60.0


# --- the fake qBittorrent ------------------------------------------------------------------------------


def make_torrents(n: int, rnd: random.Random) -> dict[str, dict[str, Any]]:
    torrents = {}
    for i in range(n):
        h = f"{i:040x}"
        kind = rnd.random()
        state, progress = ("downloading", rnd.random() * 0.9) if kind < 0.6 else (
            ("stalledUP", 1.0) if kind < 0.85 else ("stalledDL", rnd.random() * 0.5) if kind < 0.95 else ("pausedDL", 0.3)
        )
        size = rnd.randint(200, 8000) * 1_000_000
        torrents[h] = {
            "hash": h, "name": f"Show.S01E{i % 99:02d}.1080p.WEB-DL-GRP.{i}", "state": state, "progress": progress,
            "size": size, "total_size": size, "downloaded": int(size * progress), "dlspeed": 0, "upspeed": 0,
            "eta": 8_640_000, "num_seeds": 1, "num_leechs": 0, "category": "annexd", "tags": "annexd",
            "save_path": "/data/downloads", "content_path": f"/data/downloads/torrent-{i}", "ratio": 0.0,
            "added_on": 1_700_000_000 + i, "completion_on": 0, "priority": 0, "seq_dl": False, "f_l_piece_prio": False,
        }
    return torrents


def advance(torrents: dict[str, dict[str, Any]], rnd: random.Random) -> int:
    """One 500 ms step; returns how many torrents changed (the 'observed changes')."""
    changed = 0
    for t in torrents.values():
        if t["state"] == "downloading":
            step = rnd.uniform(0.001, 0.008)
            t["progress"] = min(1.0, t["progress"] + step)
            t["downloaded"] = int(t["size"] * t["progress"])
            t["dlspeed"] = int(t["size"] * step * 1000 / STEP_MS)
            if t["progress"] >= 1.0:
                t["state"], t["dlspeed"] = "stalledUP", 0
            changed += 1
        elif t["state"] == "stalledDL" and rnd.random() < 0.02:
            t["state"] = "downloading"
            changed += 1
    return changed


class FakeQbt:
    def __init__(self, n: int, seed: int):
        self.rnd = random.Random(seed)
        self.torrents = make_torrents(n, self.rnd)
        self.rid = 0
        self.last_sent: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = {}

    def maindata(self, rid: int) -> dict[str, Any]:
        if rid == 0 or rid != self.rid:
            out: dict[str, Any] = {"full_update": True, "torrents": self.torrents, "categories": {}, "tags": []}
        else:
            delta = {}
            for h, t in self.torrents.items():
                old = self.last_sent.get(h, {})
                diff = {k: v for k, v in t.items() if old.get(k) != v}
                if diff:
                    delta[h] = diff
            out = {"torrents": delta} if delta else {}
        self.rid += 1
        self.last_sent = {h: dict(t) for h, t in self.torrents.items()}
        out["rid"] = self.rid
        out["server_state"] = {"refresh_interval": 1500}
        return out

    def info(self, hashes: str | None) -> list[dict[str, Any]]:
        if not hashes or hashes == "all":
            return list(self.torrents.values())
        return [self.torrents[h] for h in hashes.split("|") if h in self.torrents]


def _handler(fake: FakeQbt) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one segment per response: no 40 ms delayed-ACK stalls
        wbufsize = 1 << 16

        def log_message(self, *args: object) -> None:
            pass

        def _params(self) -> dict[str, str]:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                params.update({k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
            return params

        def _send(self, body: object) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path, params = urlsplit(self.path).path, self._params()
            if path.startswith("/api/v2/"):
                fake.calls[path] = fake.calls.get(path, 0) + 1
            if path == "/api/v2/sync/maindata":
                self._send(fake.maindata(int(params.get("rid", 0))))
            elif path == "/api/v2/torrents/info":
                self._send(fake.info(params.get("hashes")))
            elif path == "/api/v2/app/webapiVersion":
                self._send("2.8.19")
            elif path == "/api/v2/app/version":
                self._send("v4.5.2")
            elif path == "/bench/advance":
                self._send({"changed": advance(fake.torrents, fake.rnd)})
            elif path == "/bench/calls":
                self._send(fake.calls)
            else:
                self.send_error(404)

        do_POST = do_GET  # noqa: N815

    return Handler


def _serve(n: int, seed: int, port_queue: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(FakeQbt(n, seed)))
    port_queue.put(server.server_address[1])
    server.serve_forever()


class FakeServer:
    def __init__(self, n: int, seed: int = 7):
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(n, seed, queue), daemon=True)
        self.proc.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=30)}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=HTTP_TIMEOUT) as resp:
            return json.loads(resp.read())

    def advance(self) -> int:
        return int(self.get("/bench/advance")["changed"])

    def calls(self) -> int:
        return sum(self.get("/bench/calls").values())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=10)


# --- the two polling patterns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    item_id: int
    status: str
    progress: float  # 0..100, as the DB writer sees it


@dataclass
class Result:
    pattern: str
    n: int
    polls: int
    calls_per_poll: float
    rows_per_1000_changes: float
    cpu_per_poll: float
    scaled: bool = False


def run_annexd(n: int, polls: int) -> Result:
    server = FakeServer(n)
    try:
        client = QbtClient(QbtClientSettings(name="bench", url=server.url, username="", timeout_seconds=HTTP_TIMEOUT))
        client.maindata()  # the first full update is a one-off at start, not steady state
        coalescer: Coalescer[Update] = Coalescer(threshold=1.0)
        ids = {h: i for i, h in enumerate(client.cache.torrents)}
        for h, snap in client.cache.snapshots().items():
            coalescer.forget(ids[h], snap.state.value, snap.percent)
        calls0, changes, rows, cpu = server.calls(), 0, 0, 0.0
        for _ in range(polls):
            changes += server.advance()
            started = time.process_time()
            view = client.maindata()
            for h in view.changed:
                snap = view.torrents[h]
                coalescer.offer(Update(ids[h], snap.state.value, snap.percent))
            batch = coalescer.drain()
            coalescer.mark_written(batch)
            rows += len(batch)
            cpu += time.process_time() - started
        calls = server.calls() - calls0  # /bench/* requests are not counted
        return Result("annexd", n, polls, calls / polls, 1000 * rows / max(1, changes), cpu / polls)
    finally:
        server.stop()


def run_legacy(n: int, polls: int, sample: int) -> Result:
    server = FakeServer(n)
    try:
        api = qbittorrentapi.Client(host=server.url, REQUESTS_ARGS={"timeout": HTTP_TIMEOUT}, DISABLE_LOGGING_DEBUG_OUTPUT=True)
        api.app_web_api_version()
        hashes = [f"{i:040x}" for i in range(n)]
        measured = hashes[: min(n, sample)]
        calls0, changes, rows, cpu = server.calls(), 0, 0, 0.0
        for _ in range(polls):
            changes += server.advance()
            started = time.process_time()
            for h in measured:
                found = api.torrents_info(torrent_hashes=h)
                if found:
                    rows += 1  # Annex wrote progress for every item on every poll
            cpu += time.process_time() - started
        calls = server.calls() - calls0
        scale = n / len(measured)
        return Result(
            "legacy", n, polls, scale * calls / polls, 1000 * scale * rows / max(1, changes), scale * cpu / polls,
            scaled=scale != 1,
        )
    finally:
        server.stop()


def report(pairs: list[tuple[Result, Result]]) -> None:
    print(f"progress step every {STEP_MS} ms of simulated time; one poll per step; CPU = time.process_time()")
    header = f"{'N':>7} {'pattern':<8} {'HTTP calls/poll':>16} {'rows/1000 changes':>18} {'CPU s/poll':>11}"
    print(header)
    print("-" * len(header))
    for ours, legacy in pairs:
        for r in (ours, legacy):
            mark = " (scaled)" if r.scaled else ""
            print(f"{r.n:>7} {r.pattern:<8} {r.calls_per_poll:>16,.1f} {r.rows_per_1000_changes:>18,.1f} "
                  f"{r.cpu_per_poll:>11.4f}{mark}")
        print(f"{ours.n:>7} {'ratio':<8} {legacy.calls_per_poll / max(ours.calls_per_poll, 1e-9):>15,.0f}x "
              f"{legacy.rows_per_1000_changes / max(ours.rows_per_1000_changes, 1e-9):>17,.1f}x "
              f"{legacy.cpu_per_poll / max(ours.cpu_per_poll, 1e-9):>10,.1f}x   (legacy / annexd)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, few polls")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--polls", type=int, default=None)
    parser.add_argument("--legacy-sample", type=int, default=None, help="items actually polled per legacy poll")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([200, 1000] if args.quick else [1000, 10_000])
    polls = args.polls or (3 if args.quick else 10)
    sample = args.legacy_sample or (200 if args.quick else 1000)
    pairs = [(run_annexd(n, polls), run_legacy(n, max(2, polls // 3 if not args.quick else polls), sample)) for n in sizes]
    report(pairs)


if __name__ == "__main__":
    main()
