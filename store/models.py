"""peewee models: the single source of truth (DESIGN.md section 3).

There is one work-item table (ProcessingItem). A request's status is computed from its items; the request row
keeps a copy (``MediaRequest.status``) that is a cache, not a second truth: it is written only by
store.queries.request_status, in the same transaction as the item changes, so listing and filtering by status
never read the items. Schema changes go through a new file in migrations/; tests check models and migrations agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee as pw

from annexd.domain.download_states import DownloadPhase
from store.db import database_proxy


def utcnow() -> datetime:
    """Naive UTC: both SQLite and PostgreSQL (timestamp without time zone) store it as it is."""
    return datetime.now(UTC).replace(tzinfo=None)


class JSONField(pw.TextField):
    """JSON kept in a TEXT column, so SQLite and PostgreSQL share one schema."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, default=str)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class MediaRequest(BaseModel):
    id = pw.AutoField()
    kind = pw.CharField(max_length=8)  # "movie" | "tv"
    title = pw.CharField(max_length=500)
    year = pw.IntegerField(null=True)
    tmdb_id = pw.IntegerField(null=True, index=True)
    tvdb_id = pw.IntegerField(null=True)
    imdb_id = pw.CharField(max_length=20, null=True)
    requested_seasons = JSONField(null=True)
    targets = JSONField(default=list)
    quality_profile = pw.CharField(max_length=100, default="default")
    requested_by = pw.CharField(max_length=200, default="api")  # the user's name (approval: from the items)
    priority = pw.IntegerField(default=0)
    # Show monitoring (TV): "none" | "future" | "all"; monitor_seasons limits it (None = every season).
    monitor = pw.CharField(max_length=8, default="none")
    monitor_seasons = JSONField(null=True)
    # Derived from the items by store.queries.request_status (a RequestStatus); written nowhere else.
    status = pw.CharField(max_length=24, default="EMPTY")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    # annexd.domain.request_specs.title_key: at most one request per title is not wholly CANCELLED.
    title_key = pw.CharField(max_length=600, null=True, index=True)
    # Imported from legacy Annex (null otherwise): the oldest merged legacy request, and all of them.
    legacy_id = pw.TextField(null=True)
    legacy_ids = JSONField(null=True)

    class Meta:
        indexes = ((("status", "id"), False),)


class Download(BaseModel):
    """One torrent. ``state`` holds its :class:`DownloadPhase` (adding, downloading, completed, mapped, removed,
    failed); what the client says the torrent is doing is not stored.

    ``owned``: annexd added the torrent itself. A torrent it does not own (found already in the client, under
    any category) is only read: never deleted, paused, moved or re-categorised. ``claimed_by``: the daemon
    that adds, polls and maps it. ``vanished``: how many times the client stopped listing it."""

    id = pw.AutoField()
    info_hash = pw.CharField(max_length=40, unique=True)
    client = pw.CharField(max_length=100)
    name = pw.CharField(max_length=1000, default="")
    state = pw.CharField(max_length=32, default=DownloadPhase.ADDING.value)
    progress = pw.FloatField(default=0.0)
    size = pw.BigIntegerField(default=0)
    save_path = pw.TextField(null=True)
    content_path = pw.TextField(null=True)
    release = JSONField(null=True)
    added_at = pw.DateTimeField(default=utcnow)
    completed_at = pw.DateTimeField(null=True)
    removed_at = pw.DateTimeField(null=True)
    owned = pw.BooleanField(default=False)
    claimed_by = pw.CharField(max_length=100, null=True)
    vanished = pw.IntegerField(default=0)


class ProcessingItem(BaseModel):
    id = pw.AutoField()
    request_id: int
    download_id: int | None
    request = pw.ForeignKeyField(MediaRequest, backref="items", on_delete="CASCADE")
    kind = pw.CharField(max_length=8)  # "movie" | "episode"
    # Movies use season 0 / episode 0 so the unique key also holds for them (NULLs never collide in SQL).
    season = pw.IntegerField(default=0)
    episode = pw.IntegerField(default=0)
    title = pw.CharField(max_length=500, default="")
    air_date = pw.DateField(null=True)
    status = pw.CharField(max_length=24, default="PENDING", index=True)
    status_changed_at = pw.DateTimeField(default=utcnow)
    progress = pw.FloatField(default=0.0)
    speed = pw.BigIntegerField(null=True)
    eta_seconds = pw.IntegerField(null=True)
    detail = pw.CharField(max_length=500, null=True)
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)
    next_retry_at = pw.DateTimeField(null=True, index=True)
    quality_met = pw.BooleanField(null=True)
    available_releases = JSONField(null=True)
    release = JSONField(null=True)
    download = pw.ForeignKeyField(Download, null=True, backref="items", on_delete="SET NULL")
    encode_job_id = pw.IntegerField(null=True)
    # The claim's owner, "<daemon instance>:<worker>:<start counter>" (SEARCHING, ENCODING, DELIVERING), and its
    # last sign of progress: a claim silent for longer than its stage's stall limit is released.
    claimed_by = pw.CharField(max_length=100, null=True)
    heartbeat_at = pw.DateTimeField(null=True)
    failed_stage = pw.CharField(max_length=16, null=True)  # where a FAILED item failed: its retry resumes there
    source_file_path = pw.TextField(null=True)
    encoded_file_path = pw.TextField(null=True)
    encoded_files = JSONField(null=True)  # encode profile name -> path, one per distinct profile of its targets
    downloaded_at = pw.DateTimeField(null=True)
    encoded_at = pw.DateTimeField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    # Who asked for this item (a later request of the title by another user adds items of its own): quotas
    # and what a requester sees read it.
    requested_by = pw.CharField(max_length=100, null=True, index=True)
    legacy_id = pw.TextField(null=True)  # imported from legacy Annex: its ProcessingItem's (or TvEpisode's) id
    # Upgrades until cutoff: a COMPLETED item back at FOUND for a better release keeps its delivered files (and
    # counts as available) while ``upgrading``; ``upgrade_history`` lists every upgrade (store.queries.upgrades).
    upgrading = pw.BooleanField(null=True, default=False)  # nullable: bulk inserts naming no value (the import)
    upgrade_history = JSONField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("request", "season", "episode"), True),)


class DownloadFile(BaseModel):
    id = pw.AutoField()
    download_id: int
    item_id: int | None
    download = pw.ForeignKeyField(Download, backref="files", on_delete="CASCADE")
    item = pw.ForeignKeyField(ProcessingItem, null=True, backref="files", on_delete="SET NULL")
    relative_path = pw.TextField()
    size = pw.BigIntegerField(default=0)
    role = pw.CharField(max_length=16, default="video")
    reason = pw.TextField(null=True)


class TaskState(BaseModel):
    """A periodic task (a feed's poll, the TMDB refresh): its last run, its data (a feed's cursor) and the claim
    that lets exactly one daemon run it at a time (``claimed_by`` until ``lease_until``; due at ``next_run_at``)."""

    name = pw.CharField(max_length=100, primary_key=True)
    last_run_at = pw.DateTimeField(null=True)
    last_ok_at = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    data = JSONField(null=True)
    claimed_by = pw.CharField(max_length=100, null=True)
    lease_until = pw.DateTimeField(null=True)
    next_run_at = pw.DateTimeField(null=True)


class ProviderHealth(BaseModel):
    """Backoff state of one external provider (indexer, download client, encoder, media server, target)."""

    id = pw.AutoField()
    kind = pw.CharField(max_length=32)
    name = pw.CharField(max_length=100)
    state = JSONField(null=True)
    last_error = pw.TextField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "name"), True),)


class Blocklist(BaseModel):
    """Releases that failed: never grabbed again automatically."""

    id = pw.AutoField()
    release_key = pw.CharField(max_length=100, unique=True)
    title = pw.CharField(max_length=1000, default="")
    reason = pw.TextField(default="")
    request = pw.ForeignKeyField(MediaRequest, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


class Delivery(BaseModel):
    """One item delivered to one target; a multi-target delivery is retried for the failed targets only."""

    id = pw.AutoField()
    item_id: int
    item = pw.ForeignKeyField(ProcessingItem, backref="deliveries", on_delete="CASCADE")
    target = pw.CharField(max_length=100)
    status = pw.CharField(max_length=16, default="pending")  # pending | done | failed
    remote_path = pw.TextField(null=True)
    size = pw.BigIntegerField(default=0)
    checksum = pw.CharField(max_length=64, null=True)
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)
    rescan = pw.TextField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)
    # The transfer in flight: who runs it, its last sign of life and progress, and the temporary name it writes
    # (recorded before the upload, so a crash leftover is removed by name). retriable: False when retrying
    # cannot help (a conflict at the destination, an unsafe path).
    owner = pw.CharField(max_length=100, null=True)
    heartbeat_at = pw.DateTimeField(null=True)
    progress = pw.FloatField(default=0.0)
    temp_path = pw.TextField(null=True)
    retriable = pw.BooleanField(default=True)
    # During an upgrade: the file already delivered there, removed once the new one is verified (never before).
    replaces = pw.TextField(null=True)

    class Meta:
        indexes = ((("item", "target"), True),)


class EncodeJob(BaseModel):
    """One encode of one source file with one profile, shared by every item the file covers (a multi-episode
    file is encoded once). ``job_key`` is the id on the wire; ``state`` is queued, running, done, failed or
    abandoned (its claim was released: an agent still running it is told to cancel)."""

    id = pw.AutoField()
    job_key = pw.CharField(max_length=128, unique=True)
    items = JSONField()
    profile = pw.CharField(max_length=100)
    input_path = pw.TextField()
    output_path = pw.TextField()
    owner = pw.CharField(max_length=100, null=True)
    agent = pw.CharField(max_length=128, null=True)
    attempt = pw.IntegerField(default=0)
    state = pw.CharField(max_length=16, default="queued", index=True)
    percent = pw.FloatField(default=0.0)
    heartbeat_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class DaemonInstance(BaseModel):
    """A running daemon and its heartbeat; a claim whose daemon stopped beating is released."""

    id = pw.CharField(max_length=100, primary_key=True)
    host = pw.CharField(max_length=255)
    pid = pw.IntegerField()
    started_at = pw.DateTimeField(default=utcnow)
    last_seen = pw.DateTimeField(default=utcnow)


class Secret(BaseModel):
    """Credentials encrypted with the master key (Fernet); the plain value is never stored."""

    name = pw.CharField(max_length=64, primary_key=True)
    ciphertext = pw.BlobField()
    updated_at = pw.DateTimeField(default=utcnow)


class User(BaseModel):
    """A person (or program) with an API key: only the key's SHA-256 is stored. Quota columns override the
    configured defaults when set (0: unlimited)."""

    id = pw.AutoField()
    name = pw.CharField(max_length=100, unique=True)
    role = pw.CharField(max_length=16, default="requester")  # admin | requester
    auto_approve_movie = pw.BooleanField(default=False)
    auto_approve_tv = pw.BooleanField(default=False)
    key_hash = pw.CharField(max_length=64, null=True, unique=True)
    enabled = pw.BooleanField(default=True)
    movie_quota_limit = pw.IntegerField(null=True)
    movie_quota_days = pw.FloatField(null=True)
    season_quota_limit = pw.IntegerField(null=True)
    season_quota_days = pw.FloatField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    key_created_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "users"


class Approval(BaseModel):
    """History of approvals and declines: who (a user, or ``timeout``), when, which items, why."""

    id = pw.AutoField()
    request_id: int
    request = pw.ForeignKeyField(MediaRequest, backref="approvals", on_delete="CASCADE")
    action = pw.CharField(max_length=16)  # approve | decline
    by = pw.CharField(max_length=100)
    items = JSONField(default=list)
    reason = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class NotificationEvent(BaseModel):
    """The outbox: an event and its facts, written in the transaction of what caused it; fanned out to one
    Notification per destination by the NotifyWorker."""

    id = pw.AutoField()
    kind = pw.CharField(max_length=32)
    facts = JSONField(default=dict)
    fanned_out = pw.BooleanField(default=False, index=True)
    created_at = pw.DateTimeField(default=utcnow)


class Notification(BaseModel):
    """One event for one destination: pending until sent (or failed for good), claimed by one daemon at a time."""

    id = pw.AutoField()
    event_id: int
    event = pw.ForeignKeyField(NotificationEvent, on_delete="CASCADE")
    destination = pw.CharField(max_length=100)
    status = pw.CharField(max_length=16, default="pending", index=True)  # pending | sent | failed
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(null=True, index=True)
    claimed_by = pw.CharField(max_length=100, null=True)
    lease_until = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    sent_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("event", "destination"), True),)


class ArrQualityProfile(BaseModel):
    """The Radarr/Sonarr API's id of a quality profile, by name: stable when the config is edited."""

    id = pw.AutoField()
    name = pw.CharField(max_length=100, unique=True)


class ArrTag(BaseModel):
    """A Radarr/Sonarr tag (Overseerr tags requests with its user)."""

    id = pw.AutoField()
    label = pw.CharField(max_length=200, unique=True)


class ArrRequestTag(BaseModel):
    """Which tags a request carries (the *arr API's ``tags``)."""

    id = pw.AutoField()
    request = pw.ForeignKeyField(MediaRequest, on_delete="CASCADE")
    tag = pw.ForeignKeyField(ArrTag, on_delete="CASCADE")

    class Meta:
        indexes = ((("request", "tag"), True),)


MODELS: list[type[BaseModel]] = [
    MediaRequest, Download, ProcessingItem, DownloadFile, TaskState, ProviderHealth, Blocklist, Delivery, Secret,
    DaemonInstance, EncodeJob, User, Approval, NotificationEvent, Notification, ArrQualityProfile, ArrTag,
    ArrRequestTag,
]
