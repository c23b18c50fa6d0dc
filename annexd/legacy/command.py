"""`annexd import-annex`: read a legacy Annex database in one snapshot, plan the import, write it into annexd's
database and secret store (or, with ``--dry-run``, write nothing) and report it, as text or one JSON object.

Exit codes: 0, 9 (the legacy database is unreachable or not an Annex database), 10 (the key file is wrong:
nothing was written), 2 (usage), 3 (annexd's config), 4 (annexd's database needs `annexd migrate`), 5 (annexd's
database failed while writing: what was written stays, and a re-run adds the rest).
``annexd import-annex ...`` and ``python -m annexd.legacy.command ...`` are the same command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

import peewee

from annexd.config import Config, load_config
from annexd.errors import ConfigError, PendingMigrationsError, StoreError
from annexd.exitcodes import ExitCode
from annexd.legacy.config_plan import ConfigPlan, plan_config
from annexd.legacy.config_writer import render, write_config
from annexd.legacy.plan import PlannedItem, PlannedRequest, PlanSettings, plan_items, plan_requests
from annexd.legacy.reader import LegacyDatabaseError, LegacyReader
from annexd.legacy.report import Report
from annexd.legacy.secrets import LegacyKeyError, SecretOutcome, decrypt_all, load_key_file
from store.models import utcnow

DESCRIPTION = ("Move a legacy Annex installation into annexd: its requests, items, torrents in progress and (with "
               "--key-file) secrets; exit 9: the legacy database is unreachable or not Annex's, 10: the key file "
               "is wrong (nothing written). Safe to run again.")
Advance = Callable[[int], None]
Progress = Callable[[int], Advance]  # total -> advance(n)


@dataclass
class ImportPlan:
    """Everything the writer needs, read in one snapshot. ``items`` streams: iterate it once, while the
    reader is open. Written by :func:`write_plan` in this order: secrets, users and requests, items (with
    the Downloads they link to), the config file."""

    shape: str
    config: ConfigPlan  # already disabled where a secret was not carried
    secrets: SecretOutcome
    requests: dict[str, PlannedRequest]
    items: Iterator[PlannedItem]
    rows: int  # legacy work rows, for the progress bar
    reader: LegacyReader  # open while the plan is written (parallel writers read in its snapshot)
    settings: PlanSettings
    jobs: int | None = None  # processes planning and writing items; None: by the number of rows


def plan_import(reader: LegacyReader, key_file: str | None, cfg: Config) -> ImportPlan:
    """Read and plan; LegacyKeyError (before anything could be written) when the key file is wrong."""
    config = plan_config(reader.storage_servers(), reader.indexers(), reader.download_clients(), reader.settings())
    key = load_key_file(key_file) if key_file else None
    secrets = decrypt_all(config.secrets, key)
    config = config.with_secrets(secrets.carried_names)
    settings = PlanSettings(now=utcnow(), search_retry=timedelta(seconds=cfg.search.retry.base_seconds),
                            target_names=config.target_names, indexer_names=config.indexer_names)
    requests = plan_requests(reader.requests(), settings)
    return ImportPlan(reader.shape, config, secrets, requests, plan_items(reader.work_rows(), requests, settings),
                      reader.work_row_count(), reader, settings)


def dry_run(dsn: str, key_file: str | None, cfg: Config, progress: Progress | None = None) -> Report:
    with LegacyReader(dsn) as reader:
        plan = plan_import(reader, key_file, cfg)
        report = Report(dry_run=True, shape=plan.shape)
        report.add_requests(plan.requests)
        advance = progress(plan.rows) if progress else None
        for item in plan.items:
            report.add_item(item)
            if advance is not None:
                advance(max(len(item.merged_ids), 1))
    report.add_secrets(plan.secrets)
    report.add_config(plan.config)
    return report


def run_import(dsn: str, key_file: str | None, cfg: Config, config_path: str | None = None,
               progress: Progress | None = None, jobs: int | None = None) -> Report:
    """The import itself; ``progress(total)`` gives the callback advancing a progress bar."""
    from annexd.legacy.writer import write_plan  # the store's write side only when writing

    with LegacyReader(dsn) as reader:
        plan = plan_import(reader, key_file, cfg)
        plan.jobs = jobs
        report = write_plan(plan, dsn, cfg, progress(plan.rows) if progress else None)
    report.add_secrets(plan.secrets)
    report.add_config(plan.config)
    if config_path:
        write_config(config_path, render(plan.config, cfg))
    return report


# --- the command ---------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="dsn", required=True, help="the legacy database: libpq URL or string")
    parser.add_argument("--key-file", help="Annex's 32-byte key file, to carry its secrets")
    parser.add_argument("--write-config", metavar="PATH", help="write an annexd config file (not with --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="plan and report, writing nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--jobs", type=int, metavar="N", help="processes planning and writing items (default: "
                        "one on SQLite or below 20,000 legacy rows, else up to 4, by the CPUs)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """``annexd import-annex`` in the main command."""
    parser = sub.add_parser("import-annex", parents=[common], help="move a legacy Annex installation to annexd",
                            description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=lambda args: execute(args, sys.stdout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="annexd import-annex", description=DESCRIPTION)
    add_arguments(parser)
    parser.add_argument("-c", "--config", help="annexd's TOML config (default: $ANNEX_CONFIG)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    return execute(build_parser().parse_args(argv), out or sys.stdout)


def execute(args: argparse.Namespace, out: TextIO) -> int:
    if args.dry_run and args.write_config:
        print("import-annex: --write-config writes a file; leave it out of a --dry-run", file=sys.stderr)
        return ExitCode.USAGE
    try:
        cfg = load_config(getattr(args, "config", None) or os.environ.get("ANNEX_CONFIG") or None)
        with _progress_bar(enabled=not args.json and sys.stderr.isatty()) as progress:
            report = (dry_run(args.dsn, args.key_file, cfg, progress) if args.dry_run
                      else run_import(args.dsn, args.key_file, cfg, args.write_config, progress, args.jobs))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.CONFIG
    except LegacyDatabaseError as exc:
        print(f"import-annex: {exc}", file=sys.stderr)
        return ExitCode.LEGACY_DATABASE
    except LegacyKeyError as exc:
        print(f"import-annex: {exc}", file=sys.stderr)
        return ExitCode.LEGACY_KEY
    except PendingMigrationsError as exc:
        print(f"import-annex: {exc}", file=sys.stderr)
        return ExitCode.PENDING_MIGRATIONS
    except (StoreError, peewee.DatabaseError, peewee.InterfaceError) as exc:
        print(f"import-annex: annexd's database: {str(exc).strip()[:300]} (what was written stays; running the "
              "import again adds the rest)", file=sys.stderr)
        return ExitCode.DATABASE_UNAVAILABLE
    out.write(json.dumps(report.to_json(), indent=2, default=str) + "\n" if args.json else report.text())
    return ExitCode.OK


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    """``progress(total)`` -> ``advance(n)``: a rich progress bar on stderr when it is a terminal."""
    if not enabled:
        yield lambda total: lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        def start(total: int) -> Advance:
            task = bar.add_task("importing legacy rows", total=total or None)
            return lambda n: bar.advance(task, n)
        yield start


if __name__ == "__main__":
    sys.exit(main())
