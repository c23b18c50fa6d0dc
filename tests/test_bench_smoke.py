"""The benchmarks run end to end on small inputs (a real throwaway PostgreSQL; wrk against the real daemon) and
write their JSON.

Speed targets are the bench's business (DESIGN §8: ratios in ``make bench``, not wall-clock asserts in tests):
here ``main`` must finish with 0 (all targets met) or 1 (it ran and a target was missed), never 2 (error).
On a run this short (a 1 s warm-up, far less than the writer's 30 s per-item checkpoint interval) the window is
not the steady state, so the rows target may land either way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_writer

RUN_KEYS = {
    "reports_due", "reports_done", "updates_due", "updates_sent", "rows_db", "rows_writer", "transactions_db",
    "transactions_writer", "transactions_per_interval", "max_transactions_in_one_interval", "peak_backends",
    "peak_pool_in_use", "pool_max", "cpu_s", "wall_s", "lag_at_end_s",
}


# bench_writer starts its own throwaway PostgreSQL.
@pytest.mark.integration
def test_writer_bench_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "writer.json"
    rc = bench_writer.main(["--items", "300", "--seconds", "3", "--warmup", "1", "--output", str(out)])
    assert rc in (bench_writer.EXIT_OK, bench_writer.EXIT_TARGET_FAILED)

    result = json.loads(out.read_text())
    assert {"config", "runs", "ratios", "targets", "passed"} <= result.keys()
    assert set(result["runs"]) == {"legacy", "writer_report_rate", "writer_default"}
    for run in result["runs"].values():
        assert RUN_KEYS <= run.keys()
        assert run["conn_samples"] > 0
        assert 0 < run["peak_backends"] <= bench_writer.MAX_CONNECTIONS
        assert run["pool_max"] == bench_writer.MAX_CONNECTIONS
    runs = result["runs"]
    a, b, c = runs["legacy"], runs["writer_report_rate"], runs["writer_default"]
    assert a["rows_db"] == a["updates_sent"] > 0  # one row per legacy UPDATE, counted by PostgreSQL
    assert b["rows_db"] < a["rows_db"]
    assert c["rows_db"] < a["rows_db"]
    assert b["rows_db"] == b["rows_writer"] and c["rows_db"] == c["rows_writer"]
    assert b["messages_sent"] == b["reports_done"] == b["reports_due"]  # one ProgressBatch per report tick
    window = result["window"]  # the same simulated window of the same stream for every pattern
    assert window["start_s"] == a["window_start_s"] == b["window_start_s"] == c["window_start_s"] > 0
    assert window["rows"]["legacy"] == {"due": a["legacy_rows_due"], "written": a["rows_window"]}
    assert 0 < a["rows_window"] <= a["legacy_rows_due"] == b["legacy_rows_due"]
    assert window["rows"]["writer_default"]["written"] == c["rows_window"] < a["rows_window"]
    assert result["passed"] == (rc == bench_writer.EXIT_OK)
    assert {t["name"] for t in result["targets"] if not t["pass"]} <= {
        t["name"] for t in result["targets"] if t["name"].startswith("rows(a)/rows(c)")
    }, "only the rows target may miss on a run this short"


# bench_api starts its own throwaway PostgreSQL and runs wrk against the real daemon.
@pytest.mark.integration
def test_api_bench_runs_and_reports(tmp_path: Path) -> None:
    from bench import bench_api

    out = tmp_path / "api.json"
    rc = bench_api.main(["--quick", "--seconds", "1", "--output", str(out)])
    assert rc in (bench_api.EXIT_OK, bench_api.EXIT_TARGET_FAILED)

    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"postgresql", "sqlite"}
    for run in result["runs"].values():
        assert run["load"]["items"] > 0 and run["load"]["requests"] > 0
        assert run["load"]["epic_request_id"] == 1
        for section in ("endpoints", "alone"):
            assert set(run[section]) == {name for name, _ in bench_api.ENDPOINTS}
            for name, r in run[section].items():
                assert r["requests"] > 0 and r["non_2xx"] == 0, (section, name, r)
                assert r["p50_ms"] is not None and r["p99_ms"] >= r["p50_ms"]
        assert run["health_under_list_load"]["health"]["requests"] > 0
        assert run["health_under_list_load"]["list_loop"]["requests"] > 0
        assert run["ratios"]["list page 1"]["bare_rps_over_rps"] > 0
    assert {t["name"] for t in result["targets"]} >= {"list page p99 <= 50 ms", "episodes (500) >= 500 req/s"}
    assert result["passed"] == (rc == bench_api.EXIT_OK)


def test_wrk_output_is_read_in_milliseconds() -> None:
    from bench.bench_api import parse_wrk

    sample = """Running 1s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.50s
  1234 requests in 1.00s, 1.00MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   1234.50
"""
    assert parse_wrk(sample) == {"p50_ms": 0.812, "p99_ms": 1500.0, "rps": 1234.5, "requests": 1234, "non_2xx": 3,
                                 "socket_errors": 3}
    assert parse_wrk("  0 requests in 1.00s, 0B read\nRequests/sec: 0.00\n")["p99_ms"] is None


# bench_import starts its own throwaway PostgreSQL; two worker processes, as a big import would use.
@pytest.mark.integration
def test_import_bench_runs_and_reports(tmp_path: Path) -> None:
    from bench import bench_import

    out = tmp_path / "import.json"
    rc = bench_import.main(["--quick", "--jobs", "2", "--output", str(out)])
    assert rc in (bench_import.EXIT_OK, bench_import.EXIT_TARGET_FAILED)
    result = json.loads(out.read_text())
    assert result["legacy_items"] == result["items_written"] == 2000
    assert result["import_items_per_second"] > 0 and result["baseline_items_per_second"] > 0
    assert sum(result["items_by_status"].values()) == 2000
    assert result["passed"] == (rc == bench_import.EXIT_OK)


# bench_pipeline starts the demo's components (PostgreSQL, two qbittorrent-nox, sshd, ffmpeg) and the daemon.
@pytest.mark.integration
def test_pipeline_bench_runs_and_reports(tmp_path: Path) -> None:
    from bench import bench_pipeline

    out = tmp_path / "pipeline.json"
    rc = bench_pipeline.main(["--quick", "--output", str(out)])
    assert rc in (bench_pipeline.EXIT_OK, bench_pipeline.EXIT_TARGET_FAILED)

    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"current"}  # no baseline asked for
    run = result["runs"]["current"]
    assert run["items"] == run["completed"] == 5 and run["total_s"] > 0
    assert (run["agent_slots"], run["target_slots"]) == (1, 2)  # the defaults
    for stage in (run["encode"], run["deliver"]):
        assert stage["jobs"] == 5 == len(stage["detail"])
        assert len(stage["slot_waits_s"]) + len(stage["handoffs_s"]) == 5
        assert all(d["ready"] <= d["start"] + d["wait"] + 1e-3 and d["start"] <= d["end"] for d in stage["detail"])
    assert result["passed"] == (rc == bench_pipeline.EXIT_OK)


def test_pipeline_bench_tells_slot_waits_from_hand_offs() -> None:
    from bench.bench_pipeline import Job, slot_waits

    jobs = [Job("a", ready=0.0, start=0.5, end=2.0),  # slot free at once: a 0.5 s hand-off
            Job("b", ready=1.0, start=2.03, end=3.0),  # ready while a ran: waited 30 ms after the slot freed
            Job("c", ready=1.0, start=8.0, end=9.0)]  # the slot idled 5 s (a poll-paced dispatch)
    waits = slot_waits(jobs, slots=1)
    assert waits["a"] == ("handoff", 0.5) and waits["c"] == ("slot", 5.0)
    assert waits["b"][0] == "slot" and abs(waits["b"][1] - 0.03) < 1e-9
    two = slot_waits(jobs, slots=2)  # with a second slot b found one free
    assert two["b"] == ("handoff", pytest.approx(1.03)) and two["c"] == ("slot", 6.0)
