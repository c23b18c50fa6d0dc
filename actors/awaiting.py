"""AwaitingWorker: puts AWAITING items back to PENDING once their air date has passed or their retry is due.

QUALITY_UNAVAILABLE items also come back when their retry is due, so upgrades are watched for.
"""

from __future__ import annotations

from actors.worker import Worker
from annexd.domain.pipeline import Event, ProcessingStatus
from store import queries

S = ProcessingStatus


class AwaitingWorker(Worker):
    name = "awaiting"

    def poll(self) -> int:
        now = self.ctx.clock()
        moved = 0
        due = queries.due_retries((S.AWAITING, S.QUALITY_UNAVAILABLE), now, self.ctx.config.worker.claim_batch)
        for item in due:
            if queries.apply_transition(item.id, S(item.status), Event.RETRY_DUE, now, attempts=item.attempts):
                moved += 1
        queries.record_task_run(self.name, now)
        if moved:
            self.log.info("retries_due", moved=moved)
            self.ctx.wake("search", "retries due")
        return moved
