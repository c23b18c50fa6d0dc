"""EncodeDispatcher: DOWNLOADED -> ENCODING -> ENCODED through the encoder hub (local or remote agents).

Its bookkeeping is rows, not memory (store.queries.encode_jobs): claiming items creates their encode jobs in
the same transaction, one per distinct profile their targets ask for and per source file (the items of a
multi-episode file share one encode). A restarted dispatcher takes over its predecessor's claims and jobs and
submits them again (the hub keeps a job that is still assigned); a job of a released claim is abandoned, and
an agent still running it is told to cancel.

Claims go one source file at a time (claim, plan, submit, next), so the first encode of a 40-episode pack
starts as soon as its own job is planned, not after the whole pack's. Dispatch is event-driven: a job no agent can take waits in the hub, which hands it to the first agent whose
slot frees (see annexd.encoder.hub); an agent that connects wakes the dispatcher, so jobs claimed before it
came are submitted at once. The poll interval only paces heartbeats and the catch-up of missed events.

The hub runs on the HTTP thread's event loop and reports back through plain callbacks that only tell the
current dispatcher immutable messages; the dispatcher never waits on the hub. One item's failure touches only
that item (and the items sharing its file). Retries follow ``[encoders.retry]``.
"""

from __future__ import annotations

import time
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
    Wake,
)
from actors.worker import Worker
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.encoder.hub import EncodeJob, EncoderHub
from store import queries
from store.models import EncodeJob as EncodeJobRow, MediaRequest, ProcessingItem

WAITING_FOR_ENCODER = "waiting for an encoder"
CHECKPOINT_S = 10.0  # a job's progress is written to its row at most this often
CLAIM_STEP = 1  # items claimed per transaction (with the other items of their source file), then submitted


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
        # jobs claimed while no agent was there have not reached the hub yet: submit them now, not at the next poll
        "on_agent_ready": lambda agent_id: tell(Wake(f"encoder {agent_id} ready")),
    }


def wire_job(row: EncodeJobRow, ctx: ActorContext) -> EncodeJob:
    return EncodeJob(row.job_key, row.input_path, row.output_path, ctx.config.encode_profile(row.profile))


class EncodeDispatcher(Worker):
    """Encodes each source once per distinct profile its items' targets ask for; an item is ENCODED when all
    its jobs are done."""

    name = "encode"

    def __init__(self, ctx: ActorContext, interval_ms: int, hub: EncoderHub):
        super().__init__(ctx, interval_ms)
        self.hub = hub
        self.assigned: set[str] = set()  # jobs the hub confirmed on an agent (cache; the rows are the truth)
        self.items: dict[str, list[int]] = {}  # job key -> its items (cache of the row)
        self.percent: dict[str, float] = {}
        self.checkpointed: dict[str, float] = {}

    def prepare(self) -> None:
        """Take over the claims and jobs of this dispatcher's earlier incarnations: they are submitted again."""
        adopted = queries.adopt_claims(self.ctx.instance_id, self.name, self.owner, self.ctx.clock())
        if adopted:
            self.log.info("encodes_taken_over", items=adopted)

    def poll(self) -> int:
        if self.hub.loop is None:
            return 0  # the HTTP server (and so the hub) is not up yet
        now = self.ctx.clock()
        queries.beat_encodes(self.owner, now)
        for row in queries.open_jobs(self.owner):
            if row.job_key not in self.assigned:
                self.submit(row)
        handled = 0
        while handled < self.ctx.config.worker.claim_batch:  # one source file at a time: each job goes out at once
            jobs, nothing_to_do = queries.claim_encodes(self.owner, now, CLAIM_STEP, self.plan)
            if not jobs and not nothing_to_do:
                break
            for row in jobs:
                self.submit(row)
            for item_id in queries.complete_without_jobs(nothing_to_do, self.owner, now):
                self.encoded(item_id)
            handled += len({i for row in jobs for i in row.items} | set(nothing_to_do))
        return handled

    def submit(self, row: EncodeJobRow) -> None:
        self.items[row.job_key] = [int(i) for i in row.items]
        self.hub.submit(wire_job(row, self.ctx))

    def profiles_for(self, request: MediaRequest) -> list[str]:
        """Distinct encode profiles of the request's targets (all targets when it names none)."""
        targets = {t.name: t for t in self.ctx.config.targets}
        chosen = [targets[n] for n in (request.targets or list(targets)) if n in targets]
        names = [t.encode_profile or self.ctx.config.encode_profile().name for t in chosen]
        return list(dict.fromkeys(names)) or [self.ctx.config.encode_profile().name]

    def plan(self, group: list[ProcessingItem]) -> list[queries.PlannedJob]:
        """The encodes a group of items sharing one source still needs (profiles already encoded are kept)."""
        lead = group[0]
        request = queries.get_request(lead.request_id)
        done = {p for p, path in (lead.encoded_files or {}).items() if Path(path).is_file()}
        source = Path(lead.source_file_path or "")
        planned = []
        for name in self.profiles_for(request):
            if name in done:
                continue
            profile = self.ctx.config.encode_profile(name)
            out_dir = self.ctx.config.encode_dir / str(lead.id) / profile.name
            out_dir.mkdir(parents=True, exist_ok=True)
            output = out_dir / f"{source.stem}.{profile.container}"
            planned.append(queries.PlannedJob(profile.name, str(source), str(output)))
        return planned

    # --- hub events --------------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if not isinstance(message, EncodeJobAssigned | EncodeJobProgress | EncodeJobDone | EncodeJobFailed
                          | EncodeJobRequeue):
            return super().handle(message)
        with self.ctx.db.connection_context():
            if not self.is_mine(message.job_id):
                return None
            if isinstance(message, EncodeJobAssigned):
                self.on_assigned(message)
            elif isinstance(message, EncodeJobProgress):
                self.on_progress(message)
            elif isinstance(message, EncodeJobDone):
                self.on_done(message)
            elif isinstance(message, EncodeJobFailed):
                self.on_failed(message.job_id, message.error, message.retriable)
            else:
                self.on_requeue(message)
        return None

    def is_mine(self, key: str) -> bool:
        """An open job of this incarnation; any other (abandoned, of an earlier run) is cancelled at the hub."""
        row = queries.owned_open_job(key, self.owner)
        if row is not None:
            self.items.setdefault(key, [int(i) for i in row.items])
            return True
        self.forget(key)
        self.hub.cancel_threadsafe(key)
        return False

    def on_assigned(self, message: EncodeJobAssigned) -> None:
        if message.agent_id is None:
            self.assigned.discard(message.job_id)
            detail = WAITING_FOR_ENCODER
        else:
            self.assigned.add(message.job_id)
            detail = f"encoding on {message.agent_id}"
        queries.job_assigned(message.job_id, message.agent_id, detail)

    def on_progress(self, message: EncodeJobProgress) -> None:
        self.percent[message.job_id] = message.percent
        now = time.monotonic()
        if now - self.checkpointed.get(message.job_id, 0.0) >= CHECKPOINT_S:
            self.checkpointed[message.job_id] = now
            queries.job_progress(message.job_id, message.percent, self.ctx.clock())
        if self.ctx.writer is None:
            return
        eta = int(message.eta_seconds) if message.eta_seconds is not None else None
        detail = f"encoding, {message.fps:.1f} fps" if message.fps else "encoding"
        for item_id in self.items.get(message.job_id, []):
            mine = [k for k, items in self.items.items() if item_id in items]
            percent = sum(self.percent.get(k, 0.0) for k in mine) / max(1, len(mine))
            self.ctx.writer.tell(ProgressUpdate(item_id, S.ENCODING, percent, eta_seconds=eta, detail=detail))

    def on_done(self, message: EncodeJobDone) -> None:
        moved = queries.job_done(message.job_id, message.output_path, message.agent_id, self.owner, self.ctx.clock())
        self.forget(message.job_id)
        for item_id in moved:
            self.encoded(item_id)

    def encoded(self, item_id: int) -> None:
        self.log.info("encoded", item_id=item_id)
        self.ctx.wake("deliver", f"item {item_id} encoded")

    def on_failed(self, key: str, error: str, retriable: bool) -> None:
        """One profile's encode failed: the items' other jobs are cancelled and the items requeued (profiles
        already done are kept) or FAILED, per [encoders.retry]."""
        cancel, outcomes = queries.job_failed(key, error, retriable, self.owner, self.ctx.clock(),
                                              self.ctx.config.encoders.retry)
        for other in cancel:
            self.hub.cancel_threadsafe(other)
            self.forget(other)
        self.forget(key)
        self.log.warning("encode_failed", job_id=key, retriable=retriable, outcomes=outcomes, error=error[-300:])

    def on_requeue(self, message: EncodeJobRequeue) -> None:
        if message.counts_attempt:
            self.on_failed(message.job_id, message.reason, retriable=True)
        else:
            self.assigned.discard(message.job_id)  # submitted again at the next poll, no attempt used

    def forget(self, key: str) -> None:
        self.assigned.discard(key)
        self.items.pop(key, None)
        self.percent.pop(key, None)
        self.checkpointed.pop(key, None)
