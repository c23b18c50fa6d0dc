"""Users, approvals, notifications (issue 19).

* ``users``: name, role, auto-approve per type, the SHA-256 of the API key (never the key), enabled, per-user
  quota overrides. Every distinct ``media_request.requested_by`` written before users existed ("api", "cli",
  imported names) becomes a disabled user without a key. ``admin`` is made here, without a key: the daemon
  gives it the configured ``http.api_key`` on its first start (or ``annexd user key admin`` gives it one).
* ``processing_item.requested_by``: who asked for this item (a later request of the same title by another user
  adds items of its own); filled from the request for existing items. Quotas and visibility read it.
* ``approval``: the history of approvals and declines (who, when, which items, reason). Whether a request
  waits for approval is derived from its items (PENDING_APPROVAL), so ``media_request.approval`` goes.
* ``notification_event`` (the outbox, written in the transaction of what caused the event) and
  ``notification`` (one row per event and destination: attempts, next try, the daemon sending it).

Rollback: requests with items still waiting for approval get ``approval = 'pending'`` back and those items
are cancelled with that reason (code before this migration knows no PENDING_APPROVAL and would search them).
"""

import datetime

import peewee as pw
from peewee_migrate import Migrator


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _users_from_requests(database: pw.Database) -> None:
    request = pw.Table("media_request", ("id", "requested_by")).bind(database)
    item = pw.Table("processing_item", ("id", "request_id", "requested_by")).bind(database)
    users = pw.Table("users", ("name", "role", "enabled", "auto_approve_movie", "auto_approve_tv",
                               "created_at")).bind(database)
    names = sorted({str(name)[:100] for (name,) in request.select(request.requested_by).distinct().tuples() if name})
    now = _now()
    # admin exists from here on (the CLI acts as admin by default); it gets a key on the daemon's next start.
    users.insert(name="admin", role="admin", enabled=True, auto_approve_movie=True, auto_approve_tv=True,
                 created_at=now).execute()
    for name in names:
        users.insert(name=name, role="requester", enabled=False, auto_approve_movie=True, auto_approve_tv=True,
                     created_at=now).on_conflict_ignore().execute()
    owner = request.select(request.requested_by).where(request.id == item.request_id)
    item.update(requested_by=owner).execute()


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=100, unique=True)
        role = pw.CharField(max_length=16, default="requester")
        auto_approve_movie = pw.BooleanField(default=False)
        auto_approve_tv = pw.BooleanField(default=False)
        key_hash = pw.CharField(max_length=64, null=True, unique=True)
        enabled = pw.BooleanField(default=True)
        movie_quota_limit = pw.IntegerField(null=True)
        movie_quota_days = pw.FloatField(null=True)
        season_quota_limit = pw.IntegerField(null=True)
        season_quota_days = pw.FloatField(null=True)
        created_at = pw.DateTimeField(default=_now)
        key_created_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "users"

    MediaRequest = migrator.orm["media_request"]

    @migrator.create_model
    class Approval(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(MediaRequest, on_delete="CASCADE")
        action = pw.CharField(max_length=16)
        by = pw.CharField(max_length=100)
        items = pw.TextField(default="[]")
        reason = pw.TextField(null=True)
        created_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "approval"

    @migrator.create_model
    class NotificationEvent(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=32)
        facts = pw.TextField(default="{}")
        fanned_out = pw.BooleanField(default=False, index=True)
        created_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "notification_event"

    @migrator.create_model
    class Notification(pw.Model):
        id = pw.AutoField()
        event = pw.ForeignKeyField(NotificationEvent, on_delete="CASCADE")
        destination = pw.CharField(max_length=100)
        status = pw.CharField(max_length=16, default="pending", index=True)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(null=True, index=True)
        claimed_by = pw.CharField(max_length=100, null=True)
        lease_until = pw.DateTimeField(null=True)
        last_error = pw.TextField(null=True)
        sent_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField(default=_now)

        class Meta:
            table_name = "notification"
            indexes = ((("event", "destination"), True),)

    migrator.add_fields("processing_item", requested_by=pw.CharField(max_length=100, null=True, index=True))
    migrator.run(_users_from_requests, database)
    migrator.remove_fields("media_request", "approval")


def _park_pending_approval(database: pw.Database) -> None:
    item = pw.Table("processing_item", ("id", "request_id", "status", "last_error")).bind(database)
    request = pw.Table("media_request", ("id", "approval")).bind(database)
    waiting = item.select(item.request_id).where(item.status == "PENDING_APPROVAL")
    request.update(approval="pending").where(request.id.in_(waiting)).execute()
    item.update(status="CANCELLED", last_error="awaiting approval when annexd was downgraded").where(
        item.status == "PENDING_APPROVAL").execute()


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("media_request", approval=pw.CharField(max_length=16, default="approved"))
    migrator.run(_park_pending_approval, database)
    migrator.drop_index("processing_item", "requested_by")
    migrator.remove_fields("processing_item", "requested_by")
    migrator.remove_model("notification")
    migrator.remove_model("notification_event")
    migrator.remove_model("approval")
    migrator.remove_model("users")
