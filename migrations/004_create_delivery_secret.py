"""Create delivery (item x target, with its result) and secret (encrypted credentials)."""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    ProcessingItem = migrator.orm["processing_item"]

    @migrator.create_model
    class Delivery(pw.Model):
        id = pw.AutoField()
        item = pw.ForeignKeyField(ProcessingItem, backref="deliveries", on_delete="CASCADE")
        target = pw.CharField(max_length=100)
        status = pw.CharField(max_length=16, default="pending")
        remote_path = pw.TextField(null=True)
        size = pw.BigIntegerField(default=0)
        checksum = pw.CharField(max_length=64, null=True)
        attempts = pw.IntegerField(default=0)
        last_error = pw.TextField(null=True)
        rescan = pw.TextField(null=True)
        delivered_at = pw.DateTimeField(null=True)
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "delivery"
            indexes = ((("item", "target"), True),)

    @migrator.create_model
    class Secret(pw.Model):
        name = pw.CharField(max_length=64, primary_key=True)
        ciphertext = pw.BlobField()
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "secret"


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_model("secret")
    migrator.remove_model("delivery")
