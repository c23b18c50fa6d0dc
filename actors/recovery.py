"""RecoveryWorker: keeps this daemon's heartbeat and releases the claims of daemons that stopped beating.

SEARCHING, ENCODING and DELIVERING are claims held by one daemon. When that daemon dies (a crash, a
SIGKILL, a lost machine) its items go back to where they were claimed from, so another daemon (or this one
after a restart) takes them again. A daemon on the same host whose process is gone is forgotten at once, so
a restarted daemon resumes its own work without waiting for the heartbeat to age out.
"""

from __future__ import annotations

from datetime import timedelta

from actors.context import ActorContext
from actors.worker import Worker
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.processes import pid_alive
from store import queries

# Which worker takes an item back once its claim is released.
RESUMES = {S.SEARCHING: "search", S.ENCODING: "encode", S.DELIVERING: "deliver"}


class RecoveryWorker(Worker):
    name = "recovery"

    def __init__(self, ctx: ActorContext, interval_ms: int, stale_after_s: float):
        super().__init__(ctx, interval_ms)
        self.stale_after = timedelta(seconds=stale_after_s)
        self.first = True

    def poll(self) -> int:
        now = self.ctx.clock()
        queries.heartbeat(self.ctx.instance_id, self.ctx.host, self.ctx.pid, now)
        if self.first:
            self.first = False
            gone = [i.id for i in queries.instances_on(self.ctx.host)
                    if i.id != self.ctx.instance_id and not pid_alive(i.pid)]
            queries.forget_instances(gone)
        released = 0
        for item in queries.orphaned_claims(now - self.stale_after, self.ctx.config.worker.claim_batch):
            status = S(item.status)
            if queries.apply_transition(item.id, status, Event.RELEASE_CLAIM, now, attempts=item.attempts,
                                        fields={"claimed_by": None,
                                                "detail": f"released from {item.claimed_by or 'an unknown daemon'}"}):
                released += 1
                self.ctx.wake(RESUMES[status], "claims released")
        if released:
            self.log.warning("claims_released", items=released)
        return released
