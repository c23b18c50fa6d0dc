"""``import-annex`` at a million items: the whole import (read, plan, write) beside a plain bulk INSERT ... SELECT
of the same rows, in one run on one throwaway PostgreSQL.

Run: ``python -m bench.bench_import [--quick] [--shows N] [--episodes N] [--shape later|dual]``.

A generated legacy database (tests/legacy/library.fill_bulk: ``shows`` TV requests of ``episodes`` episodes,
varied statuses, a season pack per show, a release with an API key per item) is imported into a migrated
annexd database on the same server by the real command path (``annexd.legacy.command.run_import``: one
snapshot read, the pure plan, the writer thread fed by a bounded queue, COPY per batch). The baseline copies
the same legacy rows into a table of annexd's item columns with one ``INSERT ... SELECT`` inside the legacy
database: what the server alone needs to write that many rows. Reported: items/s of both, their ratio, and
the load average before and after (the machine is shared). Target (issue 15): >= 10,000 items/s for the import.
Exit status 0 if it is met, 1 if not, 2 on an error. Results go to ``bench/results/import.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

RESULTS = Path(__file__).resolve().parent / "results" / "import.json"
TARGET_ITEMS_PER_SECOND = 10_000
EXIT_OK, EXIT_TARGET_FAILED, EXIT_ERROR = 0, 1, 2

BASELINE_DDL = """
CREATE TABLE baseline_item (
    id serial PRIMARY KEY, request_id text NOT NULL, kind varchar(8) NOT NULL, season integer NOT NULL,
    episode integer NOT NULL, title varchar(500) NOT NULL, status varchar(24) NOT NULL, last_error text,
    source_file_path text, available_releases text, legacy_id text, created_at timestamp NOT NULL,
    updated_at timestamp NOT NULL, UNIQUE (request_id, season, episode))"""
BASELINE_INSERT = """
INSERT INTO baseline_item (request_id, kind, season, episode, title, status, last_error, source_file_path,
                           available_releases, legacy_id, created_at, updated_at)
SELECT "requestId", 'episode', season, episode, title, status::text, "lastError", "sourceFilePath",
       "availableReleases"::text, id, "createdAt", "updatedAt"
FROM "ProcessingItem" ON CONFLICT DO NOTHING"""


def fill_legacy(url: str, shape: str, shows: int, episodes: int) -> int:
    from tests.legacy.library import fill_bulk

    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            return fill_bulk(cur, shape, shows, episodes)  # type: ignore[arg-type]
    finally:
        conn.close()


def migrate(url: str) -> None:
    from store import migrate as migrations
    from store.db import open_database

    db = open_database(url, max_connections=2)
    with db.connection_context():
        migrations.apply_all(db)
    getattr(db, "close_all", db.close)()


def timed_import(legacy_url: str, annexd_url: str, state_dir: Path, jobs: int | None
                 ) -> tuple[float, dict[str, Any]]:
    from annexd.config import load_config
    from annexd.legacy.command import run_import

    wanted = {"ANNEX_DATABASE_URL": annexd_url, "ANNEX_STATE_DIR": str(state_dir)}
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)  # the import's worker processes read them too
    try:
        started = time.perf_counter()
        report = run_import(legacy_url, None, load_config(None), jobs=jobs)
        return time.perf_counter() - started, report.to_json()
    finally:  # run in-process by the smoke test: later tests' daemons must not inherit a stopped database
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed_baseline(legacy_url: str) -> float:
    conn = psycopg2.connect(legacy_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(BASELINE_DDL)
        started = time.perf_counter()
        with conn, conn.cursor() as cur:
            cur.execute(BASELINE_INSERT)
        return time.perf_counter() - started
    finally:
        conn.close()


def run(shape: str, shows: int, episodes: int, jobs: int | None) -> dict[str, Any]:
    from tests.servers.postgres import start_postgres

    server = start_postgres()
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        legacy_url, annexd_url = (server.url(server.create_database()) for _ in range(2))
        items = fill_legacy(legacy_url, shape, shows, episodes)
        migrate(annexd_url)
        load_before = os.getloadavg()[0]
        seconds, report = timed_import(legacy_url, annexd_url, workdir / "state", jobs)
        baseline = timed_baseline(legacy_url)
        load_after = os.getloadavg()[0]
    finally:
        server.destroy()
    written = report["written"]["items_added"]
    return {
        "shape": shape, "legacy_items": items, "items_written": written, "import_seconds": round(seconds, 2),
        "import_items_per_second": round(written / seconds), "baseline_seconds": round(baseline, 2),
        "baseline_items_per_second": round(items / baseline), "ratio_to_baseline": round(
            (written / seconds) / (items / baseline), 3), "load_before": load_before, "load_after": load_after,
        "items_by_status": report["items"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_import", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 items")
    parser.add_argument("--shows", type=int, default=None, help="legacy TV requests (default 10,000)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes per request (default 100)")
    parser.add_argument("--shape", choices=("later", "dual"), default="later")
    parser.add_argument("--jobs", type=int, default=None, help="import-annex --jobs (default: its own choice)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    shows = args.shows or (100 if args.quick else 10_000)
    episodes = args.episodes or (20 if args.quick else 100)
    print(f"bench_import: {shows:,} shows x {episodes:,} episodes ({args.shape} shape), load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    try:
        result = run(args.shape, shows, episodes, args.jobs)
    except Exception:  # noqa: BLE001 - a bench reports what broke and exits 2
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    result["jobs"], result["cpus"] = args.jobs, os.cpu_count()
    result["target_items_per_second"] = TARGET_ITEMS_PER_SECOND
    result["passed"] = result["import_items_per_second"] >= TARGET_ITEMS_PER_SECOND
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"import   {result['items_written']:>10,} items in {result['import_seconds']:>7.2f} s = "
          f"{result['import_items_per_second']:>8,} items/s (target {TARGET_ITEMS_PER_SECOND:,})")
    print(f"baseline {result['legacy_items']:>10,} items in {result['baseline_seconds']:>7.2f} s = "
          f"{result['baseline_items_per_second']:>8,} items/s (plain INSERT ... SELECT)")
    print(f"ratio    {result['ratio_to_baseline']:.3f}; load average {result['load_before']:.2f} -> "
          f"{result['load_after']:.2f}")
    return EXIT_OK if result["passed"] else EXIT_TARGET_FAILED


if __name__ == "__main__":
    sys.exit(main())
