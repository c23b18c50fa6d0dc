"""Chaos: the daemon SIGKILLed at a random point of every stage (search, download, encode, deliver) and started
again, on real PostgreSQL, qbittorrent-nox, the ffmpeg agent and sshd. Every trial ends with every item
COMPLETED exactly once, no file delivered twice, no temporary file left, no torrent added twice, no ffmpeg left
running, and the invariant holding (tests/e2e/pipeline.py has the trial and its checks).

`make test` runs a few trials; `make chaos` runs CHAOS_TRIALS (default 30) and prints the figures.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from annexd.domain.stranded import Liveness, stranded
from store import queries
from store.db import open_database
from tests.e2e.pipeline import Components, TrialResult, dump, run_trial, summary

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _invariant_holds(pg_url: str) -> list[str]:
    """The pure invariant over the final database (no daemon runs: nothing may be claimed)."""
    db = open_database(pg_url)
    try:
        with db.connection_context():
            now = datetime.now() + timedelta(hours=1)
            live = Liveness(this_instance="checker", live_instances=frozenset())
            return [f"{s.id} {s.status}: {v.reason}" for s in queries.claim_states() if (v := stranded(s, now, live))]
    finally:
        db.close_all()


def _trials(components: Components, tmp_path_factory: pytest.TempPathFactory, daemon_factory, count: int,
            first: int, capsys: pytest.CaptureFixture[str], name: str) -> list[TrialResult]:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    results = []
    for n in range(first, first + count):
        root = tmp_path_factory.mktemp(f"chaos-{n}")
        result = run_trial(components, root, n, seed + n, daemon_factory)
        result.problems += _invariant_holds(components.pg.url(result.dbname))
        results.append(result)
    dump(results, RESULTS / f"{name}.json")
    with capsys.disabled():
        print(f"\n{summary(results)}\n  (seed {seed}; details in {RESULTS / (name + '.json')})")
    return results


def _assert_clean(results: list[TrialResult]) -> None:
    problems = {r.n: r.problems for r in results if r.problems}
    assert not problems, problems
    assert all(r.lost == r.duplicated == r.stuck == 0 for r in results)
    stages = {k.stage for r in results for k in r.kills if k.hit}
    assert stages == {"search", "download", "encode", "deliver"}, stages


@pytest.mark.timeout(900)  # each trial's own deadlines bound a hang; two trials take about 3 minutes here
def test_a_few_chaos_trials(components, tmp_path_factory, daemon_factory, capsys):
    _assert_clean(_trials(components, tmp_path_factory, daemon_factory, int(os.environ.get("CHAOS_FAST_TRIALS", 2)),
                          0, capsys, "chaos-fast"))


@pytest.mark.slow
@pytest.mark.timeout(0)  # 30 trials take most of an hour on two loaded cores; each trial bounds its own waits
def test_chaos_trials(components, tmp_path_factory, daemon_factory, capsys):
    _assert_clean(_trials(components, tmp_path_factory, daemon_factory, int(os.environ.get("CHAOS_TRIALS", 30)),
                          100, capsys, "chaos"))
