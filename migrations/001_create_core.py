"""Create the core tables: media_request, download, processing_item, download_file, task_state.

Frozen history: never import store.models here; tables are named as strings.
"""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    @migrator.create_model
    class MediaRequest(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=8)
        title = pw.CharField(max_length=500)
        year = pw.IntegerField(null=True)
        tmdb_id = pw.IntegerField(null=True, index=True)
        tvdb_id = pw.IntegerField(null=True)
        imdb_id = pw.CharField(max_length=20, null=True)
        requested_seasons = pw.TextField(null=True)
        targets = pw.TextField(default="[]")
        quality_profile = pw.CharField(max_length=100, default="default")
        requested_by = pw.CharField(max_length=200, default="api")
        approval = pw.CharField(max_length=16, default="approved")
        priority = pw.IntegerField(default=0)
        created_at = pw.DateTimeField(default=_now)
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "media_request"

    @migrator.create_model
    class Download(pw.Model):
        id = pw.AutoField()
        info_hash = pw.CharField(max_length=40, unique=True)
        client = pw.CharField(max_length=100)
        name = pw.CharField(max_length=1000, default="")
        state = pw.CharField(max_length=32, default="queued")
        progress = pw.FloatField(default=0.0)
        size = pw.BigIntegerField(default=0)
        save_path = pw.TextField(null=True)
        content_path = pw.TextField(null=True)
        release = pw.TextField(null=True)
        added_at = pw.DateTimeField(default=_now)
        completed_at = pw.DateTimeField(null=True)
        removed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "download"

    @migrator.create_model
    class ProcessingItem(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(MediaRequest, backref="items", on_delete="CASCADE")
        kind = pw.CharField(max_length=8)
        season = pw.IntegerField(default=0)
        episode = pw.IntegerField(default=0)
        title = pw.CharField(max_length=500, default="")
        air_date = pw.DateField(null=True)
        status = pw.CharField(max_length=24, default="PENDING", index=True)
        status_changed_at = pw.DateTimeField(default=_now)
        progress = pw.FloatField(default=0.0)
        speed = pw.BigIntegerField(null=True)
        eta_seconds = pw.IntegerField(null=True)
        detail = pw.CharField(max_length=500, null=True)
        attempts = pw.IntegerField(default=0)
        last_error = pw.TextField(null=True)
        next_retry_at = pw.DateTimeField(null=True, index=True)
        quality_met = pw.BooleanField(null=True)
        available_releases = pw.TextField(null=True)
        release = pw.TextField(null=True)
        download = pw.ForeignKeyField(Download, null=True, backref="items", on_delete="SET NULL")
        encode_job_id = pw.IntegerField(null=True)
        source_file_path = pw.TextField(null=True)
        downloaded_at = pw.DateTimeField(null=True)
        encoded_at = pw.DateTimeField(null=True)
        delivered_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(default=_now)
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "processing_item"
            indexes = ((("request", "season", "episode"), True),)

    @migrator.create_model
    class DownloadFile(pw.Model):
        id = pw.AutoField()
        download = pw.ForeignKeyField(Download, backref="files", on_delete="CASCADE")
        item = pw.ForeignKeyField(ProcessingItem, null=True, backref="files", on_delete="SET NULL")
        relative_path = pw.TextField()
        size = pw.BigIntegerField(default=0)
        role = pw.CharField(max_length=16, default="video")
        reason = pw.TextField(null=True)

        class Meta:
            table_name = "download_file"

    @migrator.create_model
    class TaskState(pw.Model):
        name = pw.CharField(max_length=100, primary_key=True)
        last_run_at = pw.DateTimeField(null=True)
        last_ok_at = pw.DateTimeField(null=True)
        last_error = pw.TextField(null=True)
        data = pw.TextField(null=True)

        class Meta:
            table_name = "task_state"


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    for table in ("download_file", "processing_item", "download", "media_request", "task_state"):
        migrator.remove_model(table)
