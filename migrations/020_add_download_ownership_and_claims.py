"""Add download.owned, download.claimed_by and download.vanished.

``owned``: annexd added this torrent itself (a torrent it found already in the client, or one the legacy
importer adopted without Annex having added it, is not owned: it is never deleted, paused or moved).
Existing rows become not owned: nothing records who added them, and leaving a torrent behind is the safe
mistake. ``claimed_by``: the daemon that polls, adds and maps this torrent (several daemons on one database).
``vanished``: how many times the client stopped listing the torrent while annexd tracked it.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields(
        "download",
        owned=pw.BooleanField(default=False),
        claimed_by=pw.CharField(max_length=100, null=True),
        vanished=pw.IntegerField(default=0),
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_fields("download", "owned", "claimed_by", "vanished")
