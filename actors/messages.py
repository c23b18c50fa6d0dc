"""Every message between actors, in one place: immutable, holding only ids and values (never model instances).

The encoder hub's callbacks tell the EncodeDispatcher ``EncodeJob*`` messages; they are named apart from the
wire messages between the hub and its agents (``annexd.encoder.protocol``: ``JobProgress``, ``JobFailed``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from annexd.clients.delivery import DeliveryResult
from annexd.domain.pipeline import Event, ProcessingStatus


@dataclass(frozen=True)
class Tick:
    """Sent by a Ticker thread: time to poll."""

    at: float = 0.0


@dataclass(frozen=True)
class Wake:
    """Sent when work may be waiting now (an item entered a worker's input status): poll before the next tick."""

    reason: str = ""


@dataclass(frozen=True)
class ProgressUpdate:
    """The latest progress of one item, valid only while the item is still in ``status``."""

    item_id: int
    status: ProcessingStatus
    progress: float
    speed: int | None = None
    eta_seconds: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProgressBatch:
    """Many progress updates in one message (one poll of 10,000 torrents is one message)."""

    updates: tuple[ProgressUpdate, ...]


@dataclass(frozen=True)
class StatusChange:
    """A transition the writer applies in order, as a compare-and-set against ``expected``."""

    item_id: int
    expected: ProcessingStatus
    event: Event
    error: str | None = None
    retry_at: datetime | None = None
    fields: tuple[tuple[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class Flush:
    """Ask the writer to flush now (used by shutdown, tests and the bench); answers with its stats."""


@dataclass(frozen=True)
class ChildFailed:
    """Told to the supervisor by a child that died."""

    name: str
    error: str


@dataclass(frozen=True)
class RestartChild:
    """Told to the supervisor by a restart timer once a child's backoff has elapsed."""

    name: str


@dataclass(frozen=True)
class RemoveRequestTorrents:
    """Told to the DownloadWorker when a request is cancelled or deleted."""

    request_id: int
    download_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeliveryFinished:
    """Told to the DeliverWorker by a transfer thread: one target answered for the items of one file (several
    for a multi-episode file)."""

    item_ids: tuple[int, ...]
    target: str
    result: DeliveryResult | None
    error: str | None
    retriable: bool
    rescan: str | None = None


@dataclass(frozen=True)
class TempFilesRemoved:
    """Told to the DeliverWorker by a clean-up thread: these transfers' leftover temporary files are gone."""

    removed: tuple[tuple[int, str], ...]  # (delivery row, the temporary name removed)


# Told to the EncodeDispatcher by the EncoderHub's callbacks (on the HTTP loop thread).
@dataclass(frozen=True)
class EncodeJobAssigned:
    """A job went to an agent (``agent_id``), or is waiting for one (None)."""

    job_id: str
    agent_id: str | None


@dataclass(frozen=True)
class EncodeJobProgress:
    job_id: str
    percent: float
    fps: float | None
    eta_seconds: float | None


@dataclass(frozen=True)
class EncodeJobDone:
    job_id: str
    output_path: str
    agent_id: str


@dataclass(frozen=True)
class EncodeJobFailed:
    job_id: str
    error: str
    retriable: bool


@dataclass(frozen=True)
class EncodeJobRequeue:
    """An agent was lost with the job, or refused it for capacity: try again (a refusal uses no attempt)."""

    job_id: str
    reason: str
    counts_attempt: bool


@dataclass(frozen=True)
class SyncFeeds:
    """Poll every feed now, due or not (a person asked: ``POST /api/v1/feeds/sync``, Sonarr's "RSS Sync")."""

    reason: str = ""


@dataclass(frozen=True)
class AnnounceReceived:
    """Told to an AnnounceWorker by its IRC client's channel thread: a complete announce (all lines' vars after
    the definition's mappings)."""

    network: str
    channel: str
    vars: tuple[tuple[str, str], ...]
    received_at: float  # Unix time
