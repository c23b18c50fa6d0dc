"""AwaitingWorker: puts AWAITING items back to PENDING once their air date has passed or their retry is due.

QUALITY_UNAVAILABLE items also come back when their retry is due, so upgrades are watched for. With
``[approvals] timeout_hours`` set, requests waiting for approval longer than that are approved or declined by
``timeout`` (``[approvals] timeout_action``).
"""

from __future__ import annotations

from actors.worker import Worker
from annexd import metrics
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
        moved += self.expire_approvals()
        queries.record_task_run(self.name, now)
        if moved:
            self.log.info("retries_due", moved=moved)
            self.ctx.wake("search", "retries due")
        return moved

    def expire_approvals(self) -> int:
        cfg = self.ctx.config.approvals
        if cfg.timeout_hours <= 0:
            return 0
        done = queries.expire_approvals(cfg.timeout_hours, cfg.timeout_action, self.ctx.clock())
        for request_id, items in done.items():
            metrics.APPROVALS.labels(cfg.timeout_action, "timeout").inc()
            self.log.info("approval_timed_out", request_id=request_id, action=cfg.timeout_action, items=len(items))
        return sum(len(items) for items in done.values()) if cfg.timeout_action == "approve" else 0
