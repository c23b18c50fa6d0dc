"""Create provider_health (backoff state per provider) and blocklist (releases never grabbed again)."""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    @migrator.create_model
    class ProviderHealth(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=32)
        name = pw.CharField(max_length=100)
        state = pw.TextField(null=True)
        last_error = pw.TextField(null=True)
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "provider_health"
            indexes = ((("kind", "name"), True),)

    MediaRequest = migrator.orm["media_request"]

    @migrator.create_model
    class Blocklist(pw.Model):
        id = pw.AutoField()
        release_key = pw.CharField(max_length=100, unique=True)
        title = pw.CharField(max_length=1000, default="")
        reason = pw.TextField(default="")
        request = pw.ForeignKeyField(MediaRequest, null=True, on_delete="SET NULL")
        created_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "blocklist"


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_model("blocklist")
    migrator.remove_model("provider_health")
