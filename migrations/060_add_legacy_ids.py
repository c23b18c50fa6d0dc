"""Add the legacy Annex ids an import keeps (issue 15): ``media_request.legacy_id`` (the oldest merged legacy
request) and ``media_request.legacy_ids`` (every merged legacy request, JSON), ``processing_item.legacy_id``
(the ProcessingItem's id, else the TvEpisode's). Text, null for everything not imported. A re-run of the
import finds its requests again by any of their legacy ids, so existing rows need no filling."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("media_request", legacy_id=pw.TextField(null=True), legacy_ids=pw.TextField(null=True))
    migrator.add_fields("processing_item", legacy_id=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_fields("processing_item", "legacy_id")
    migrator.remove_fields("media_request", "legacy_id", "legacy_ids")
