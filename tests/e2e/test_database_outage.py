"""PostgreSQL stopped for 10 s in the middle of a pipeline (real PostgreSQL, qbittorrent-nox, ffmpeg agent,
sshd): the daemon keeps running, /health answers 503 while the database is away and 200 again after, no
worker is given up on, and every item completes (tests/e2e/pipeline.py has the pipeline)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.e2e.pipeline import Trial
from tests.util import wait_until

OUTAGE_S = 10.0


@pytest.mark.timeout(600)
def test_postgresql_stopped_for_10_s_mid_pipeline(components, postgres_factory, tmp_path, daemon_factory):
    env = dataclasses.replace(components, pg=postgres_factory())
    trial = Trial(env, tmp_path, 900, seed=1, daemon_factory=daemon_factory)
    daemon = trial.start()
    trial.request()
    wait_until(lambda: {"DOWNLOADING", "DOWNLOADED", "ENCODING"} & set(trial.statuses().values()), timeout=90,
               what="the pipeline under way")
    env.pg.stop()
    stopped = time.monotonic()
    wait_until(lambda: daemon.get("/health")[0] == 503, timeout=15, what="/health 503 while the database is away")
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    env.pg.start()
    back = time.monotonic()
    wait_until(lambda: daemon.get("/health")[0] == 200, timeout=60, what="/health 200 once the database is back")
    healthy_after_s = time.monotonic() - back
    assert daemon.proc is not None and daemon.proc.poll() is None  # it kept running throughout
    result = trial.finish()
    assert not result.problems, result.problems
    assert result.stuck == result.lost == result.duplicated == 0
    gave_up = [e for e in daemon.logs() if e.get("event") in ("restart_budget_exhausted", "supervisor_gave_up")]
    assert gave_up == []
    print(f"database outage {OUTAGE_S:.0f} s: /health 200 again {healthy_after_s:.1f} s after PostgreSQL was back")
