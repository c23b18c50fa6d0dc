"""The Radarr/Sonarr API's own rows: arr_quality_profile (a stable id per quality-profile name, so ids survive
config edits), arr_tag (tags, label unique) and arr_request_tag (which tags a request carries)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    MediaRequest = migrator.orm["media_request"]

    @migrator.create_model
    class ArrQualityProfile(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)

        class Meta:
            table_name = "arr_quality_profile"

    @migrator.create_model
    class ArrTag(pw.Model):
        id = pw.AutoField()
        label = pw.CharField(max_length=200, unique=True)

        class Meta:
            table_name = "arr_tag"

    @migrator.create_model
    class ArrRequestTag(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(MediaRequest, on_delete="CASCADE")
        tag = pw.ForeignKeyField(ArrTag, on_delete="CASCADE")

        class Meta:
            table_name = "arr_request_tag"
            indexes = ((("request", "tag"), True),)


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_model("arr_request_tag")
    migrator.remove_model("arr_tag")
    migrator.remove_model("arr_quality_profile")
