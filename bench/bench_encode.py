"""Encode overhead: bare ffmpeg vs ``annexd.encoder.ffmpeg.encode`` (probe + verify + rename) vs a job through the hub
and a real agent subprocess over loopback WebSocket. Same clip, same ffmpeg arguments; medians of N runs.

    python -m bench.bench_encode [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from annexd.encoder.ffmpeg import encode, probe
from annexd.encoder.hub import EncodeJob, EncoderHub, HubServer, HubSettings
from annexd.encoder.profiles import EncodeProfile, build_ffmpeg_args
from tests.media import make_clip

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"


def _bare(profile: EncodeProfile, src: Path, out: Path) -> float:
    args = build_ffmpeg_args(profile, str(src), str(out), probe(src))
    t = time.monotonic()
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    return time.monotonic() - t


def _local(profile: EncodeProfile, src: Path, out: Path) -> float:
    t = time.monotonic()
    encode(profile, src, out, timeout=300)
    return time.monotonic() - t


class _Done:
    def __init__(self) -> None:
        self.events: dict[str, threading.Event] = {}
        self.failures: list[tuple] = []

    def expect(self, job_id: str) -> threading.Event:
        self.events[job_id] = threading.Event()
        return self.events[job_id]

    def complete(self, job_id: str, result: object) -> None:
        self.events[job_id].set()

    def failed(self, job_id: str, error: str, retriable: bool) -> None:
        self.failures.append((job_id, error))
        self.events[job_id].set()


def _agent_runs(profile: EncodeProfile, src: Path, workdir: Path, runs: int) -> list[float]:
    done = _Done()
    hub = EncoderHub(HubSettings(tokens=frozenset({TOKEN})), on_complete=done.complete, on_failed=done.failed)
    server = HubServer(hub).start()
    token = workdir / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    agent = subprocess.Popen([sys.executable, "-m", "annexd.encoder.agent", "--server", server.url,
                              "--token-file", str(token), "--id", "bench", "--log-level", "warning"],
                             cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not server.call(lambda: "bench" in hub.agents and hub.agents["bench"].max_jobs > 0):
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not register")
            time.sleep(0.05)
        times = []
        for i in range(runs):
            job = EncodeJob(f"bench-{i}", str(src), str(workdir / f"agent-{i}.mkv"), profile)
            ev = done.expect(job.job_id)
            t = time.monotonic()
            if hub.submit(job).result(10) is None:
                raise RuntimeError("no agent took the job")
            if not ev.wait(300) or done.failures:
                raise RuntimeError(f"agent job failed: {done.failures}")
            times.append(time.monotonic() - t)
        return times
    finally:
        agent.terminate()
        agent.wait(20)
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2 s 320x240 clip, 3 runs")
    ap.add_argument("--runs", type=int)
    args = ap.parse_args(argv)
    seconds, size = (2, "320x240") if args.quick else (5, "1280x720")
    runs = args.runs or (3 if args.quick else 5)
    profile = EncodeProfile("bench", "libx264", 23, "veryfast", audio="copy")
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        work = Path(tmp)
        src = make_clip(work / "src.mkv", seconds=seconds, size=size)
        bare = [_bare(profile, src, work / f"bare-{i}.mkv") for i in range(runs)]
        local = [_local(profile, src, work / f"local-{i}.mkv") for i in range(runs)]
        agent = _agent_runs(profile, src, work, runs)
    med = {k: statistics.median(v) for k, v in (("bare", bare), ("encode", local), ("agent", agent))}
    report = {
        "clip": f"{seconds}s {size} x264 veryfast", "runs": runs,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "ratio_encode_vs_bare": round(med["encode"] / med["bare"], 3),
        "ratio_agent_vs_bare": round(med["agent"] / med["bare"], 3),
        "overhead_agent_seconds": round(med["agent"] - med["bare"], 3),
    }
    print(f"clip {report['clip']}, {runs} runs, medians: bare ffmpeg {med['bare']:.3f} s, "
          f"encode() {med['encode']:.3f} s, via hub+agent {med['agent']:.3f} s")
    print(f"ratio agent/bare {report['ratio_agent_vs_bare']}, encode()/bare {report['ratio_encode_vs_bare']}, "
          f"agent overhead {report['overhead_agent_seconds']} s")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
