"""EncodeDispatcher: DOWNLOADED -> ENCODING -> ENCODED through the encoder hub (local or remote agents).

The hub runs on the HTTP thread's event loop and reports back through plain callbacks that only tell this
actor immutable messages; the dispatcher never waits on the hub. One item's failure touches only that item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from actors.context import ActorContext
from actors.messages import ProgressUpdate
from actors.worker import Worker
from annexd.encoder_hub import EncodeJob, EncoderHub
from annexd.pipeline import Event, ProcessingStatus as S
from store import queries
from store.models import MediaRequest, ProcessingItem

WAITING_FOR_ENCODER = "waiting for an encoder"


# Messages told by the hub's callbacks (on the HTTP loop thread).
@dataclass(frozen=True)
class JobAssigned:
    job_id: str
    agent_id: str | None


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    percent: float
    fps: float | None
    eta_seconds: float | None


@dataclass(frozen=True)
class JobDone:
    job_id: str
    output_path: str
    agent_id: str


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    error: str
    retriable: bool


@dataclass(frozen=True)
class JobRequeue:
    """An agent was lost with the job, or refused it for capacity: try again (a refusal uses no attempt)."""

    job_id: str
    reason: str
    counts_attempt: bool


def hub_callbacks(tell: Any) -> dict[str, Any]:
    """The EncoderHub callbacks, each turning an event into a message for the dispatcher."""

    def lost(agent_id: str, job_ids: list[str]) -> None:
        for job_id in job_ids:
            tell(JobRequeue(job_id, f"encoder {agent_id} disconnected", True))

    return {
        "on_assigned": lambda job_id, agent_id: tell(JobAssigned(job_id, agent_id)),
        "on_progress": lambda job_id, p: tell(JobProgress(job_id, float(p.percent or 0.0), p.fps, p.eta_s)),
        "on_complete": lambda job_id, r: tell(JobDone(job_id, r.output_path, r.agent_id)),
        "on_failed": lambda job_id, error, retriable: tell(JobFailed(job_id, error, retriable)),
        "on_agent_lost": lost,
        "on_refused": lambda job_id, agent_id, reason: tell(JobRequeue(job_id, f"{agent_id}: {reason}", False)),
    }


class EncodeDispatcher(Worker):
    name = "encode"

    def __init__(self, ctx: ActorContext, interval_ms: int, hub: EncoderHub):
        super().__init__(ctx, interval_ms)
        self.hub = hub
        self.jobs: dict[str, EncodeJob] = {}
        self.items: dict[str, int] = {}
        self.unassigned: set[str] = set()

    def on_start(self) -> None:
        # A job left ENCODING by a previous run has no agent any more: queue it again.
        with self.ctx.db.connection_context():
            now = self.ctx.clock()
            for item in ProcessingItem.select().where(ProcessingItem.status == S.ENCODING):
                queries.apply_transition(item.id, S.ENCODING, Event.RELEASE_CLAIM, now, attempts=item.attempts)
        super().on_start()

    def poll(self) -> int:
        if self.hub.loop is None:
            return 0  # the HTTP server (and so the hub) is not up yet
        for job_id in sorted(self.unassigned):
            self.hub.submit(self.jobs[job_id])
        now = self.ctx.clock()
        claimed = queries.claim_items(S.DOWNLOADED, Event.START_ENCODE, now, self.ctx.config.worker.claim_batch)
        for item in ProcessingItem.select().where(ProcessingItem.id.in_(claimed)).order_by(ProcessingItem.id):
            job = self.make_job(item)
            self.jobs[job.job_id] = job
            self.items[job.job_id] = item.id
            self.hub.submit(job)
        return len(claimed)

    def make_job(self, item: ProcessingItem) -> EncodeJob:
        request = MediaRequest.get_by_id(item.request_id)
        profile = self.ctx.config.encode_profile(self.profile_name(request))
        source = Path(item.source_file_path or "")
        out_dir = self.ctx.config.encode_dir / str(item.id)
        out_dir.mkdir(parents=True, exist_ok=True)
        output = out_dir / f"{source.stem}.{profile.container}"
        return EncodeJob(f"item{item.id}-try{item.attempts}", str(source), str(output), profile)

    def profile_name(self, request: MediaRequest) -> str | None:
        targets = {t.name: t for t in getattr(self.ctx.config, "targets", ())}
        for name in request.targets or []:
            target = targets.get(name)
            if target is not None and getattr(target, "encode_profile", None):
                return str(target.encode_profile)
        return None

    # --- hub events --------------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        item_id = self.items.get(getattr(message, "job_id", ""))
        if item_id is None:
            return None  # a job of an earlier run or already finished
        with self.ctx.db.connection_context():
            if isinstance(message, JobAssigned):
                self.assigned(message, item_id)
            elif isinstance(message, JobProgress):
                self.progress(message, item_id)
            elif isinstance(message, JobDone):
                self.done(message, item_id)
            elif isinstance(message, JobFailed):
                self.failed(item_id, message.job_id, message.error, message.retriable)
            elif isinstance(message, JobRequeue):
                self.requeue(message, item_id)
            else:
                return super().handle(message)
        return None

    def assigned(self, message: JobAssigned, item_id: int) -> None:
        if message.agent_id is None:
            self.unassigned.add(message.job_id)
            detail = WAITING_FOR_ENCODER
        else:
            self.unassigned.discard(message.job_id)
            detail = f"encoding on {message.agent_id}"
        ProcessingItem.update(detail=detail).where(
            (ProcessingItem.id == item_id) & (ProcessingItem.status == S.ENCODING)).execute()

    def progress(self, message: JobProgress, item_id: int) -> None:
        if self.ctx.writer is not None:
            eta = int(message.eta_seconds) if message.eta_seconds is not None else None
            detail = f"encoding, {message.fps:.1f} fps" if message.fps else "encoding"
            self.ctx.writer.tell(ProgressUpdate(item_id, S.ENCODING, message.percent, eta_seconds=eta, detail=detail))

    def done(self, message: JobDone, item_id: int) -> None:
        self.forget(message.job_id)
        now = self.ctx.clock()
        fields = {"encoded_file_path": message.output_path, "detail": f"encoded on {message.agent_id}"}
        if queries.apply_transition(item_id, S.ENCODING, Event.ENCODE_COMPLETE, now, fields=fields):
            self.log.info("encoded", item_id=item_id, output=message.output_path)
            self.ctx.wake("deliver", f"item {item_id} encoded")

    def failed(self, item_id: int, job_id: str, error: str, retriable: bool) -> None:
        self.forget(job_id)
        now = self.ctx.clock()
        item = ProcessingItem.get_by_id(item_id)
        tail = error[-2000:]
        if retriable and item.attempts + 1 < self.ctx.config.encoders.max_attempts:
            retry = now + timedelta(seconds=min(300, 5 * 2 ** item.attempts))
            queries.apply_transition(item_id, S.ENCODING, Event.ENCODE_REQUEUE, now, error=tail, retry_at=retry,
                                     attempts=item.attempts)
        else:
            queries.apply_transition(item_id, S.ENCODING, Event.FAIL, now, attempts=item.attempts,
                                     error=f"encode failed after {item.attempts + 1} attempt(s): {tail}")
        self.log.warning("encode_failed", item_id=item_id, retriable=retriable, error=tail[-300:])

    def requeue(self, message: JobRequeue, item_id: int) -> None:
        if message.counts_attempt:
            self.failed(item_id, message.job_id, message.reason, retriable=True)
        else:
            self.unassigned.add(message.job_id)  # resubmitted at the next poll, no attempt used

    def forget(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self.items.pop(job_id, None)
        self.unassigned.discard(job_id)

