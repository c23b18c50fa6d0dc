"""Feeds and show monitoring: media_request.monitor / monitor_seasons (what a TV request follows), and the
claim columns of task_state (a periodic task -- one feed's poll, the TMDB refresh -- is claimed by one daemon at a
time and scheduled by next_run_at, so several daemons on one PostgreSQL run it once)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields(
        "media_request",
        monitor=pw.CharField(max_length=8, default="none"),
        monitor_seasons=pw.TextField(null=True),
    )
    migrator.add_fields(
        "task_state",
        claimed_by=pw.CharField(max_length=100, null=True),
        lease_until=pw.DateTimeField(null=True),
        next_run_at=pw.DateTimeField(null=True),
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.remove_fields("task_state", "claimed_by", "lease_until", "next_run_at")
    migrator.remove_fields("media_request", "monitor", "monitor_seasons")
