"""EncodeDispatcher: DOWNLOADED -> ENCODING -> ENCODED through the encoder hub (local or remote agents).

The hub runs on the HTTP thread's event loop and reports back through plain callbacks that only tell this
actor immutable messages; the dispatcher never waits on the hub. One item's failure touches only that item.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from actors.context import ActorContext
from actors.messages import (
    EncodeJobAssigned,
    EncodeJobDone,
    EncodeJobFailed,
    EncodeJobProgress,
    EncodeJobRequeue,
    ProgressUpdate,
)
from actors.worker import Worker
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.encoder.hub import EncodeJob, EncoderHub
from store import queries
from store.models import MediaRequest, ProcessingItem

WAITING_FOR_ENCODER = "waiting for an encoder"


def hub_callbacks(tell: Any) -> dict[str, Any]:
    """The EncoderHub callbacks, each turning an event into a message for the dispatcher."""

    def lost(agent_id: str, job_ids: list[str]) -> None:
        for job_id in job_ids:
            tell(EncodeJobRequeue(job_id, f"encoder {agent_id} disconnected", True))

    return {
        "on_assigned": lambda job_id, agent_id: tell(EncodeJobAssigned(job_id, agent_id)),
        "on_progress": lambda job_id, p: tell(EncodeJobProgress(job_id, float(p.percent or 0.0), p.fps, p.eta_s)),
        "on_complete": lambda job_id, r: tell(EncodeJobDone(job_id, r.output_path, r.agent_id)),
        "on_failed": lambda job_id, error, retriable: tell(EncodeJobFailed(job_id, error, retriable)),
        "on_agent_lost": lost,
        "on_refused": lambda job_id, agent_id, reason: tell(EncodeJobRequeue(job_id, f"{agent_id}: {reason}", False)),
    }


class EncodeDispatcher(Worker):
    """Encodes each item once per distinct profile its targets ask for; the item is ENCODED when all are."""

    name = "encode"

    def __init__(self, ctx: ActorContext, interval_ms: int, hub: EncoderHub):
        super().__init__(ctx, interval_ms)
        self.hub = hub
        self.jobs: dict[str, EncodeJob] = {}
        self.items: dict[str, int] = {}
        self.open_jobs: dict[int, dict[str, float]] = {}  # item -> {job id: percent}
        self.unassigned: set[str] = set()

    def poll(self) -> int:
        if self.hub.loop is None:
            return 0  # the HTTP server (and so the hub) is not up yet
        for job_id in sorted(self.unassigned):
            self.hub.submit(self.jobs[job_id])
        now = self.ctx.clock()
        claimed = queries.claim_items(S.DOWNLOADED, Event.START_ENCODE, now, self.ctx.config.worker.claim_batch,
                                      owner=self.ctx.instance_id)
        for item in queries.items_by_ids(claimed):
            jobs = self.make_jobs(item)
            if not jobs:  # every profile already encoded by an earlier attempt
                self.complete(item.id)
            for job in jobs:
                self.jobs[job.job_id] = job
                self.items[job.job_id] = item.id
                self.open_jobs.setdefault(item.id, {})[job.job_id] = 0.0
                self.hub.submit(job)
        return len(claimed)

    def profiles_for(self, request: MediaRequest) -> list[str]:
        """Distinct encode profiles of the request's targets (all targets when it names none)."""
        targets = {t.name: t for t in self.ctx.config.targets}
        chosen = [targets[n] for n in (request.targets or list(targets)) if n in targets]
        names = [t.encode_profile or self.ctx.config.encode_profile().name for t in chosen]
        return list(dict.fromkeys(names)) or [self.ctx.config.encode_profile().name]

    def make_jobs(self, item: ProcessingItem) -> list[EncodeJob]:
        request = queries.get_request(item.request_id)
        done = {p: path for p, path in (item.encoded_files or {}).items() if Path(path).is_file()}
        source = Path(item.source_file_path or "")
        jobs = []
        for name in self.profiles_for(request):
            if name in done:
                continue
            profile = self.ctx.config.encode_profile(name)
            out_dir = self.ctx.config.encode_dir / str(item.id) / profile.name
            out_dir.mkdir(parents=True, exist_ok=True)
            output = out_dir / f"{source.stem}.{profile.container}"
            jobs.append(EncodeJob(f"item{item.id}-{profile.name}-try{item.attempts}", str(source), str(output),
                                  profile))
        return jobs

    # --- hub events --------------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        item_id = self.items.get(getattr(message, "job_id", ""))
        if item_id is None:
            return None  # a job of an earlier run or already finished
        with self.ctx.db.connection_context():
            if isinstance(message, EncodeJobAssigned):
                self.assigned(message, item_id)
            elif isinstance(message, EncodeJobProgress):
                self.progress(message, item_id)
            elif isinstance(message, EncodeJobDone):
                self.done(message, item_id)
            elif isinstance(message, EncodeJobFailed):
                self.failed(item_id, message.job_id, message.error, message.retriable)
            elif isinstance(message, EncodeJobRequeue):
                self.requeue(message, item_id)
            else:
                return super().handle(message)
        return None

    def assigned(self, message: EncodeJobAssigned, item_id: int) -> None:
        if message.agent_id is None:
            self.unassigned.add(message.job_id)
            detail = WAITING_FOR_ENCODER
        else:
            self.unassigned.discard(message.job_id)
            detail = f"encoding on {message.agent_id}"
        queries.set_detail(item_id, S.ENCODING, detail)

    def progress(self, message: EncodeJobProgress, item_id: int) -> None:
        jobs = self.open_jobs.get(item_id, {})
        jobs[message.job_id] = message.percent
        if self.ctx.writer is not None and jobs:
            eta = int(message.eta_seconds) if message.eta_seconds is not None else None
            detail = f"encoding, {message.fps:.1f} fps" if message.fps else "encoding"
            percent = sum(jobs.values()) / len(jobs)
            self.ctx.writer.tell(ProgressUpdate(item_id, S.ENCODING, percent, eta_seconds=eta, detail=detail))

    def done(self, message: EncodeJobDone, item_id: int) -> None:
        job = self.jobs.get(message.job_id)
        self.forget(message.job_id)
        queries.record_encoded_file(item_id, job.profile.name if job is not None else None, message.output_path,
                                    message.agent_id)
        if not self.open_jobs.get(item_id):
            self.complete(item_id)

    def complete(self, item_id: int) -> None:
        self.open_jobs.pop(item_id, None)
        if queries.apply_transition(item_id, S.ENCODING, Event.ENCODE_COMPLETE, self.ctx.clock()):
            self.log.info("encoded", item_id=item_id)
            self.ctx.wake("deliver", f"item {item_id} encoded")

    def failed(self, item_id: int, job_id: str, error: str, retriable: bool) -> None:
        """One profile's encode failed: cancel the item's other jobs and requeue it (done profiles are kept)."""
        for other in list(self.open_jobs.get(item_id, {})):
            if other != job_id:
                self.hub.cancel_threadsafe(other)
                self.forget(other)
        self.forget(job_id)
        self.open_jobs.pop(item_id, None)
        now = self.ctx.clock()
        item = queries.get_item(item_id)
        tail = error[-2000:]
        if retriable and item.attempts + 1 < self.ctx.config.encoders.max_attempts:
            retry = now + timedelta(seconds=min(300, 5 * 2 ** item.attempts))
            queries.apply_transition(item_id, S.ENCODING, Event.ENCODE_REQUEUE, now, error=tail, retry_at=retry,
                                     attempts=item.attempts)
        else:
            queries.apply_transition(item_id, S.ENCODING, Event.FAIL, now, attempts=item.attempts,
                                     error=f"encode failed after {item.attempts + 1} attempt(s): {tail}")
        self.log.warning("encode_failed", item_id=item_id, retriable=retriable, error=tail[-300:])

    def requeue(self, message: EncodeJobRequeue, item_id: int) -> None:
        if message.counts_attempt:
            self.failed(item_id, message.job_id, message.reason, retriable=True)
        else:
            self.unassigned.add(message.job_id)  # resubmitted at the next poll, no attempt used

    def forget(self, job_id: str) -> None:
        item_id = self.items.pop(job_id, None)
        self.jobs.pop(job_id, None)
        self.unassigned.discard(job_id)
        if item_id is not None:
            self.open_jobs.get(item_id, {}).pop(job_id, None)
