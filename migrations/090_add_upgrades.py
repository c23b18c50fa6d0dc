"""Upgrades until cutoff (issue 16 part 4).

* ``processing_item.upgrading``: a COMPLETED item went back to FOUND for a better release; its delivered files
  stay on the targets until the new one replaces them, and it still counts as available.
* ``processing_item.upgrade_history``: JSON list, one entry per upgrade (from which release to which, when, the
  outcome, and per target the file replaced by the new one).
* ``delivery.replaces``: the file on that target the transfer in flight replaces (removed only after the new
  file is verified there).
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("processing_item", upgrading=pw.BooleanField(null=True, default=False),
                        upgrade_history=pw.TextField(null=True))
    migrator.add_fields("delivery", replaces=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_fields("delivery", "replaces")
    migrator.remove_fields("processing_item", "upgrading", "upgrade_history")
