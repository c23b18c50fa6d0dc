"""Remove credentials from the releases stored before links were cleaned (processing_item.release,
processing_item.available_releases, download.release): an indexer's ``apikey`` (and any other credential
parameter) leaves the download link, and passkey trackers leave magnets; ``credentials_removed`` names what
went, so the DownloadWorker can put the configured indexer key back when it fetches the link.

Rollback leaves the rows as they are: the credentials are gone on purpose and cannot come back.
"""

import functools
import json
import operator
from typing import Any

import peewee as pw
from peewee_migrate import Migrator

from annexd.domain.release_links import scrub_release

COLUMNS = {"processing_item": ("release", "available_releases"), "download": ("release",)}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return scrub_release(value)
    if isinstance(value, list):
        return [scrub_release(v) if isinstance(v, dict) else v for v in value]
    return value


def _scrub_table(database: pw.Database, name: str, columns: tuple[str, ...]) -> None:
    table = pw.Table(name, ("id", *columns)).bind(database)
    holds_link = functools.reduce(operator.or_, [getattr(table, c).contains("://")
                                                 | getattr(table, c).contains("magnet:") for c in columns])
    rows = list(table.select(table.id, *(getattr(table, c) for c in columns)).where(holds_link).tuples())
    for row_id, *texts in rows:
        changes = {}
        for column, text in zip(columns, texts, strict=True):
            if text is None:
                continue
            cleaned = json.dumps(_scrub(json.loads(text)), sort_keys=True, default=str)
            if cleaned != text:
                changes[getattr(table, column)] = cleaned
        if changes:
            table.update(changes).where(table.id == row_id).execute()


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    for name, columns in COLUMNS.items():
        migrator.run(_scrub_table, database, name, columns)


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    pass
