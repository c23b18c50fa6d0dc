"""The whole pipeline at default poll intervals: a 40-episode season pack plus a movie, before and after.

Run: ``python -m bench.bench_pipeline [--quick] [--episodes N] [--baseline PATH] [--output FILE]``.

The demo scenario (tests/scenario.py: a throwaway PostgreSQL, qbittorrent-nox seeder and downloader, the
built-in ffmpeg agent, an rsync target over a loopback sshd, a fake Torznab indexer) with every poll interval
and every concurrency setting at its default, one rsync target and one encode profile. ``--baseline PATH`` is a
checkout of the code to compare with (``git worktree add /tmp/base <sha>``): its daemon and agent run from that
checkout (its directory first on the path), in the same run, with the same components and inputs; then this
checkout's daemon.

Measured per run, from the daemon's own log and the API: the total (request to the last item COMPLETED), and
every idle gap of an agent or target slot while a job was ready, told apart: a job ready before a slot freed
waited for the slot (``start - slot freed``: the target's "waits for a free slot"); a job that found a slot
free waited for the hand-off to its stage (``start - ready``: claim, plan, ffprobe, reported apart). Slots are
as the code under test configures them (``encoders.local_max_jobs``, the target's ``max_concurrent``); a
transfer starts when the delivery client starts (its logged seconds before its ``delivered`` event). Targets (issue 12): no job
waits more than 100 ms for a free slot; total <= 0.5x the baseline's. Exit 0 if all pass, 1 if a target fails,
2 on an error. ``--quick`` (4 episodes, no baseline unless given) is what tests/test_bench_smoke.py runs.
Results go to ``bench/results/pipeline.json``; the load average is recorded (the machine is shared).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "pipeline.json"
EXIT_OK, EXIT_TARGET_FAILED, EXIT_ERROR = 0, 1, 2
MAX_WAIT_S = 0.1
TOTAL_RATIO = 0.5


# --- pure: idle gaps from start/end/ready times ---------------------------------------------------------

@dataclass(frozen=True)
class Job:
    name: str
    ready: float  # seconds: when its input was there
    start: float
    end: float


def slot_waits(jobs: list[Job], slots: int) -> dict[str, tuple[str, float]]:
    """Why and how long each job's slot sat idle while the job was ready. Jobs take ``slots`` slots in start
    order. A job that was ready before a slot freed waited for the slot: ("slot", start - slot free). A job
    that found a slot free waited for the hand-off to its stage: ("handoff", start - ready). Never below 0."""
    free = [float("-inf")] * max(1, slots)
    waits = {}
    for job in sorted(jobs, key=lambda j: j.start):
        slot_free = heapq.heappop(free)
        kind = "slot" if slot_free > job.ready else "handoff"
        waits[job.name] = (kind, max(0.0, job.start - max(job.ready, slot_free)))
        heapq.heappush(free, job.end)
    return waits


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.rstrip("Z")).timestamp()


def encode_jobs(logs: list[dict[str, Any]], job_items: dict[str, list[int]], downloaded: dict[int, float]
                ) -> list[Job]:
    """Encode jobs from the hub's log events (the last assignment of each job that completed)."""
    assigned: dict[str, float] = {}
    jobs = []
    for e in logs:
        t = _ts(e.get("timestamp"))
        if e.get("event") == "encode_job_assigned" and t is not None:
            assigned[e["job_id"]] = t
        elif e.get("event") == "encode_job_complete" and t is not None and e.get("job_id") in assigned:
            key = e["job_id"]
            ready = max(downloaded.get(i, 0.0) for i in job_items.get(key, [])) if job_items.get(key) else 0.0
            jobs.append(Job(key, ready, assigned[key], t))
    return jobs


def transfers(logs: list[dict[str, Any]], encoded_by_path: dict[str, float]) -> list[Job]:
    """Transfers from the delivery client's ``delivered`` events (start = logged time - its seconds)."""
    jobs = []
    for e in logs:
        t = _ts(e.get("timestamp"))
        if e.get("event") != "delivered" or "seconds" not in e or t is None:
            continue
        path = e.get("remote_path", "")
        jobs.append(Job(path, encoded_by_path.get(path, 0.0), t - float(e["seconds"]), t))
    return jobs


def summary(jobs: list[Job], slots: int, t0: float) -> dict[str, Any]:
    """The idle gaps (waits for a freed slot; hand-offs to a free one), and each job's ready/start/end in
    seconds after the requests were made."""
    waits = slot_waits(jobs, slots)
    slot = sorted(w for kind, w in waits.values() if kind == "slot")
    handoff = sorted(w for kind, w in waits.values() if kind == "handoff")
    detail = [{"job": j.name[-60:], "ready": round(j.ready - t0, 3), "start": round(j.start - t0, 3),
               "end": round(j.end - t0, 3), "waited_for": waits[j.name][0], "wait": round(waits[j.name][1], 3)}
              for j in sorted(jobs, key=lambda j: j.start)]
    return {"jobs": len(jobs),
            "max_slot_wait_s": round(slot[-1], 3) if slot else None, "sum_slot_wait_s": round(sum(slot), 3),
            "slot_waits_s": [round(v, 3) for v in slot],
            "max_handoff_s": round(handoff[-1], 3) if handoff else None, "handoffs_s": [round(v, 3) for v in handoff],
            "detail": detail}


# --- the scenario, at default settings ------------------------------------------------------------------

def _config_text(s: Any) -> str:
    return f"""
[[indexers]]
name = "bench-indexer"
url = "{s.indexer.base_url}"
api_key = "env:DEMO_INDEXER_KEY"

[[quality_profiles]]
name = "bench"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"
min_seeders = 1
tv_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 5000}}, "720p webdl" = {{min_mb = 0, max_mb = 5000}}}}
movie_sizes = {{"1080p webdl" = {{min_mb = 0, max_mb = 50000}}, "720p webdl" = {{min_mb = 0, max_mb = 50000}}}}

[[download_clients]]
name = "qbittorrent"
url = "{s.downloader.url}"
category = "annexd"

[[encode_profiles]]
name = "bench-x264"
codec = "libx264"
crf = 30
preset = "ultrafast"
max_height = 240
audio = "aac"

[[targets]]
name = "nas"
protocol = "rsync"
host = "127.0.0.1"
port = {s.sshd.port}
user = "root"
key_file = "{s.sshd.key_file}"
encode_profile = "bench-x264"
movie_root = "{s.sshd.root}/movies"
tv_root = "{s.sshd.root}/tv"
"""


def _scenario_class() -> Any:
    from tests import scenario
    from tests.fakes.torznab import FakeItem
    from tests.media import make_clip
    from tests.servers.qbittorrent import make_torrent

    class PipelineScenario(scenario.Scenario):
        episodes = 40

        def make_releases(self) -> None:
            content = self.root / "content"
            movie_dir, pack = content / scenario.MOVIE, content / scenario.PACK
            movie_dir.mkdir(parents=True)
            pack.mkdir(parents=True)
            make_clip(movie_dir / f"{scenario.MOVIE}.mkv", seconds=1, size="320x240")
            first = make_clip(pack / "Demo.Show.S01E01.1080p.WEB-DL.AAC.x264-DEMO.mkv", seconds=1, size="320x240")
            for ep in range(2, self.episodes + 1):  # distinct files with the same content: encodes cost alike
                shutil.copyfile(first, pack / f"Demo.Show.S01E{ep:02}.1080p.WEB-DL.AAC.x264-DEMO.mkv")
            self.indexer = scenario.TorrentIndexer(api_key=scenario.INDEXER_KEY)
            self.indexer.torrents = {}
            items = []
            for idx, (path, category) in enumerate(((movie_dir, 2000), (pack, 5000))):
                data, info_hash = make_torrent(path)
                self.seeder.api().torrents_add(torrent_files={"t.torrent": data}, save_path=str(path.parent),
                                               is_paused=False, is_skip_checking=True)
                self.indexer.torrents[idx] = data
                size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                items.append(FakeItem(path.name, size, seeders=1, info_hash=info_hash, category=category,
                                      magnet=False))
            self.indexer.items = items
            self.indexer.start()
            self.stack.append(self.indexer.stop)

        def config(self) -> Path:
            path = self.root / "annexd.toml"
            path.write_text(_config_text(self))
            for sub in ("movies", "tv"):
                (self.sshd.root / sub).mkdir(parents=True, exist_ok=True)
            return path

        def request(self) -> tuple[int, int]:
            code, movie = self.daemon.call("POST", "/api/v1/requests", {
                "type": "movie", "title": "Big Buck Demo", "year": 2024, "targets": ["nas"]})
            assert code == 201, movie
            episodes = [{"season": 1, "episode": e, "title": f"Episode {e}",
                         "air_date": f"2024-{1 + (e - 1) // 28:02}-{1 + (e - 1) % 28:02}"}
                        for e in range(1, self.episodes + 1)]
            code, show = self.daemon.call("POST", "/api/v1/requests", {
                "type": "tv", "title": "Demo Show", "year": 2024, "targets": ["nas"], "episodes": episodes})
            assert code == 201, show
            return movie["id"], show["id"]

        def start_daemon(self) -> Any:
            # no secrets needed: no media server in this scenario
            config = self.config()
            from tests.servers.annexd import DaemonProcess

            daemon = DaemonProcess(self.root / "state", database_url=self.pg.url(self.pg.create_database()),
                                   env={"ANNEX_CONFIG": str(config), "DEMO_INDEXER_KEY": scenario.INDEXER_KEY})
            daemon.start()
            self.stack.append(lambda: None if daemon.stop() is None else None)
            self.daemon = daemon
            return daemon

    return PipelineScenario


@contextmanager
def code_from(checkout: Path | None) -> Iterator[None]:
    """Run the daemon (and the agent it starts) from ``checkout``: its directory first on their path."""
    if checkout is None:
        yield
        return
    cwd, old = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(checkout)
    os.environ["PYTHONPATH"] = str(checkout)
    try:
        yield
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def slots_of(config: Path, checkout: Path | None) -> tuple[int, int]:
    """(agent slots, target slots) as the code under test reads this config."""
    code = ("import sys; from annexd.config import load_config; c = load_config(sys.argv[1], env={}); "
            "print(c.encoders.local_max_jobs, c.targets[0].max_concurrent)")
    out = subprocess.run([sys.executable, "-c", code, str(config)], cwd=checkout or REPO, capture_output=True,
                         text=True, timeout=60, check=True,
                         env={**os.environ, "PYTHONPATH": str(checkout or REPO)}).stdout.split()
    return int(out[0]), int(out[1])


def run_once(root: Path, checkout: Path | None, episodes: int, say: Callable[[str], None]) -> dict[str, Any]:
    from tests.servers.qbittorrent import PeerIntroducer

    s = _scenario_class()(root, lambda _msg: None)
    s.episodes = episodes
    try:
        s.start_components()
        s.make_releases()
        with code_from(checkout):
            s.start_daemon()
        peers = PeerIntroducer(s.downloader, s.seeder, interval=0.5).start()
        s.stack.append(peers.stop)
        load_before = os.getloadavg()
        started = time.monotonic()
        ids = s.request()
        items = s.watch(ids, timeout=1800)
        total = time.monotonic() - started
        return measure(s, items, total, slots_of(root / "annexd.toml", checkout), load_before, say)
    finally:
        s.close()


def measure(s: Any, items: list[dict[str, Any]], total: float, slots: tuple[int, int],
            load_before: tuple[float, ...], say: Callable[[str], None]) -> dict[str, Any]:
    import psycopg2

    logs = s.daemon.logs()
    with psycopg2.connect(s.daemon.env["ANNEX_DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT job_key, items FROM encode_job")
        job_items = {key: [int(i) for i in (json.loads(v) if isinstance(v, str) else v)] for key, v in cur}
    downloaded = {i["id"]: _ts(i["downloaded_at"]) or 0.0 for i in items}
    encoded_by_path = {d["remote_path"]: _ts(i["encoded_at"]) or 0.0 for i in items for d in i["deliveries"]
                       if d.get("remote_path")}
    agent_slots, target_slots = slots
    created = min(_ts(i["created_at"]) or 0.0 for i in items)
    enc = summary(encode_jobs(logs, job_items, downloaded), agent_slots, created)
    dlv = summary(transfers(logs, encoded_by_path), target_slots, created)
    stage_end = {k: round(max(_ts(i[k]) or 0.0 for i in items) - created, 1)
                 for k in ("downloaded_at", "encoded_at", "delivered_at")}
    result = {"total_s": round(total, 2), "items": len(items),
              "completed": sum(1 for i in items if i["status"] == "COMPLETED"),
              "agent_slots": agent_slots, "target_slots": target_slots, "encode": enc, "deliver": dlv,
              "last_at_s": stage_end, "load_before": load_before, "load_after": os.getloadavg()}
    say(f"  total {result['total_s']} s for {len(items)} items ({result['completed']} completed); last download "
        f"+{stage_end['downloaded_at']} s, encode +{stage_end['encoded_at']} s, delivery +{stage_end['delivered_at']} s")
    for name, stage, slots_n in (("encodes", enc, agent_slots), ("transfers", dlv, target_slots)):
        say(f"  {name}: {stage['jobs']} on {slots_n} slot(s); waits for a freed slot: max {stage['max_slot_wait_s']} s, "
            f"sum {stage['sum_slot_wait_s']} s ({len(stage['slot_waits_s'])} jobs); hand-offs to a free slot: "
            f"max {stage['max_handoff_s']} s ({len(stage['handoffs_s'])} jobs)")
    return result


def targets(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    new = runs["current"]
    waits = [w for w in (new["encode"]["max_slot_wait_s"], new["deliver"]["max_slot_wait_s"]) if w is not None]
    out = [{"name": "no job waits more than 100 ms for a free slot", "value": max(waits, default=None),
            "pass": max(waits, default=0.0) <= MAX_WAIT_S},
           {"name": "every item completed", "value": new["completed"], "pass": new["completed"] == new["items"]}]
    if "baseline" in runs:
        ratio = new["total_s"] / runs["baseline"]["total_s"]
        out.append({"name": "total <= 0.5x baseline", "value": round(ratio, 3), "pass": ratio <= TOTAL_RATIO})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 episodes")
    parser.add_argument("--episodes", type=int)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    episodes = args.episodes or (4 if args.quick else 40)
    order = ([("baseline", args.baseline.resolve())] if args.baseline else []) + [("current", None)]
    runs: dict[str, dict[str, Any]] = {}
    try:
        for name, checkout in order:
            print(f"{name}: {checkout or REPO}, {episodes} episodes + a movie", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"bench-pipeline-{name}-") as tmp:
                runs[name] = run_once(Path(tmp), checkout, episodes, lambda m: print(m, flush=True))
    except Exception as exc:  # a bench that could not run reports it and exits 2
        print(f"bench_pipeline failed: {exc!r}", file=sys.stderr)
        return EXIT_ERROR
    checks = targets(runs)
    passed = all(t["pass"] for t in checks)
    for t in checks:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {t['value']}")
    result = {"config": {"episodes": episodes, "baseline": str(args.baseline) if args.baseline else None},
              "runs": runs, "targets": checks, "passed": passed}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return EXIT_OK if passed else EXIT_TARGET_FAILED


if __name__ == "__main__":
    sys.exit(main())
