"""Create encode_job and add the bookkeeping of claims and transfers (issue 10: nothing in memory only).

- processing_item.heartbeat_at: the last sign of progress of the worker holding the claim (SEARCHING, ENCODING,
  DELIVERING); a claim older than its stage's stall limit is released.
- processing_item.failed_stage: the stage an item failed in, so a retry resumes there.
- encode_job: one encode of one source file with one profile (shared by the items of a multi-episode file),
  with its owner, agent, attempt and progress checkpoint.
- delivery.owner / heartbeat_at / progress / temp_path / retriable: a transfer in flight is a row too; its
  temporary name is recorded before the upload, so a crash leftover is removed by name on every target kind.
"""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("processing_item", heartbeat_at=pw.DateTimeField(null=True),
                        failed_stage=pw.CharField(max_length=16, null=True))
    migrator.add_fields("delivery", owner=pw.CharField(max_length=100, null=True),
                        heartbeat_at=pw.DateTimeField(null=True), progress=pw.FloatField(default=0.0),
                        temp_path=pw.TextField(null=True), retriable=pw.BooleanField(default=True))

    @migrator.create_model
    class EncodeJob(pw.Model):
        id = pw.AutoField()
        job_key = pw.CharField(max_length=128, unique=True)
        items = pw.TextField()
        profile = pw.CharField(max_length=100)
        input_path = pw.TextField()
        output_path = pw.TextField()
        owner = pw.CharField(max_length=100, null=True)
        agent = pw.CharField(max_length=128, null=True)
        attempt = pw.IntegerField(default=0)
        state = pw.CharField(max_length=16, default="queued", index=True)
        percent = pw.FloatField(default=0.0)
        heartbeat_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(default=_now)
        updated_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "encode_job"


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_model("encode_job")
    migrator.remove_fields("delivery", "owner", "heartbeat_at", "progress", "temp_path", "retriable")
    migrator.remove_fields("processing_item", "heartbeat_at", "failed_stage")
