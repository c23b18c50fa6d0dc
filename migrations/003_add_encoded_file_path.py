"""Add processing_item.encoded_file_path: the verified encode waiting for delivery."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("processing_item", encoded_file_path=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_fields("processing_item", "encoded_file_path")
