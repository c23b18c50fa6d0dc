"""`import-annex --dry-run`: read a legacy Annex database, plan the import and report it, writing nothing.

The write side (annexd's database, the secret store, ``--write-config``) is not built yet; the plan, the secret
outcome and the config plan computed here are what it will take (see :func:`plan_import`). Exit codes: 0, 9 (the
legacy database is unreachable or not an Annex database), 10 (the key file is wrong), 2 (usage).
Run as ``python -m annexd.legacy.command --from DSN --dry-run [--key-file PATH] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

from annexd.config import Config, load_config
from annexd.errors import ConfigError
from annexd.exitcodes import ExitCode
from annexd.legacy.config_plan import ConfigPlan, plan_config
from annexd.legacy.plan import PlannedItem, PlannedRequest, PlanSettings, plan_items, plan_requests
from annexd.legacy.reader import LegacyDatabaseError, LegacyReader
from annexd.legacy.report import Report
from annexd.legacy.secrets import LegacyKeyError, SecretOutcome, decrypt_all, load_key_file
from store.models import utcnow


@dataclass
class ImportPlan:
    """Everything the writer needs, read in one snapshot. ``items`` streams: iterate it once, while the
    reader is open.

    The seam for the write side (not built yet), in the order it should run:
    1. ``secrets.carried`` into ``SecretStore(DbSecretBackend(), master key)`` (the key was already tried on
       every legacy secret; LegacyKeyError came before anything could be written).
    2. Each :class:`PlannedRequest`: an existing annexd request whose ``legacy_ids`` share an id, else the one
       request for (kind, tmdb_id) (issue 13), else a new one; store ``legacy_id`` and ``legacy_ids``.
       ``requested_by`` is a user's name: ``store.queries.ensure_users(set(usernames))`` first makes disabled
       users without keys for names annexd does not know (issue 19); items carry ``requested_by`` too.
       Items of a request still pending in Annex's ApprovalQueue are already PENDING_APPROVAL in the plan.
    3. Items in batches: INSERT ... ON CONFLICT (request, season, episode) DO NOTHING, so a re-run adds what is
       new and never sets back an item annexd has moved; ``legacy_id``, attempts 0, ``status_changed_at`` now.
    4. Each item's ``download``: upsert by ``info_hash`` (never overwrite), state from ``phase`` (active ->
       downloading, finished -> completed so FileMapWorker maps it, gone -> removed), owned by annexd when
       an item ``adopted`` it (issue 11); then the request's derived status (issue 12).
    5. ``--write-config``: :func:`annexd.legacy.config_writer.render` of ``config``.
    """

    shape: str
    config: ConfigPlan  # already disabled where a secret was not carried
    secrets: SecretOutcome
    requests: dict[str, PlannedRequest]
    items: Iterator[PlannedItem]


def plan_import(reader: LegacyReader, key_file: str | None, cfg: Config) -> ImportPlan:
    """Read and plan; LegacyKeyError (before anything could be written) when the key file is wrong."""
    config = plan_config(reader.storage_servers(), reader.indexers(), reader.download_clients(), reader.settings())
    key = load_key_file(key_file) if key_file else None
    secrets = decrypt_all(config.secrets, key)
    config = config.with_secrets(secrets.carried_names)
    settings = PlanSettings(now=utcnow(), search_retry=timedelta(seconds=cfg.search.retry.base_seconds),
                            target_names=config.target_names, indexer_names=config.indexer_names)
    requests = plan_requests(reader.requests(), settings)
    return ImportPlan(reader.shape, config, secrets, requests, plan_items(reader.work_rows(), requests, settings))


def dry_run(dsn: str, key_file: str | None, cfg: Config) -> Report:
    with LegacyReader(dsn) as reader:
        plan = plan_import(reader, key_file, cfg)
        report = Report(dry_run=True, shape=plan.shape)
        report.add_requests(plan.requests)
        report.add_items(plan.items)
    report.add_secrets(plan.secrets)
    report.add_config(plan.config)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="annexd import-annex", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="dsn", required=True, help="the legacy database: libpq URL or string")
    parser.add_argument("--key-file", help="Annex's 32-byte key file, to carry its secrets")
    parser.add_argument("--write-config", metavar="PATH", help="write an annexd config file (not with --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="plan and report, writing nothing")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("-c", "--config", help="annexd's TOML config (default: $ANNEX_CONFIG)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if not args.dry_run:
        print("import-annex: only --dry-run is available so far", file=sys.stderr)
        return ExitCode.USAGE
    try:
        cfg = load_config(args.config or os.environ.get("ANNEX_CONFIG") or None)
        report = dry_run(args.dsn, args.key_file, cfg)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.CONFIG
    except LegacyDatabaseError as exc:
        print(f"import-annex: {exc}", file=sys.stderr)
        return ExitCode.LEGACY_DATABASE
    except LegacyKeyError as exc:
        print(f"import-annex: {exc}", file=sys.stderr)
        return ExitCode.LEGACY_KEY
    out.write(json.dumps(report.to_json(), indent=2, default=str) + "\n" if args.json else report.text())
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
