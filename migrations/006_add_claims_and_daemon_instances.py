"""Add processing_item.claimed_by and daemon_instance: which daemon holds a claim, and whether it is alive,
so several daemons on one PostgreSQL never release each other's work and a crashed one's work is released."""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("processing_item", claimed_by=pw.CharField(max_length=100, null=True))

    @migrator.create_model
    class DaemonInstance(pw.Model):
        id = pw.CharField(max_length=100, primary_key=True)
        host = pw.CharField(max_length=255)
        pid = pw.IntegerField()
        started_at = pw.DateTimeField(default=_now)
        last_seen = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "daemon_instance"


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_model("daemon_instance")
    migrator.remove_fields("processing_item", "claimed_by")
