"""RecoveryWorker: keeps this daemon's heartbeat and reconciles the pipeline against its one invariant.

Every non-terminal item is waiting (reason + due time) or owned by a live worker incarnation making progress
(annexd.domain.stranded). On start and on every tick the reconciler reads the items that could break it
(claims, DOWNLOADING, waits), checks each with the pure :func:`stranded`, exports the counts as
``annexd_items_stranded{status}`` and returns each stranded item to its last safe state with the reason
recorded: a claim whose daemon stopped beating, whose worker incarnation is no longer running, whose heartbeat
is older than its stage's stall limit, or ENCODING/DELIVERING without a live job or transfer, goes back to
where it was claimed from; DOWNLOADING without a usable Download goes back to its release.

A daemon on the same host whose process is gone is forgotten at once, so a restarted daemon resumes its own
work without waiting for the heartbeat to age out. Items stranded on the first reconcile are what a restart
leaves behind (logged); those found later stranded while the daemon ran, and people hear of them
(``ItemStranded`` notifications).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from actors.context import ActorContext
from actors.worker import Worker
from annexd import metrics
from annexd.config import Config
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.stranded import CHECKED, ItemState, Liveness, Repair, Verdict, stranded
from annexd.processes import pid_alive
from store import queries

# Which worker takes an item back once it is repaired.
RESUMES = {S.SEARCHING: "search", S.ENCODING: "encode", S.DELIVERING: "deliver", S.DOWNLOADING: "download",
           S.AWAITING: "search", S.QUALITY_UNAVAILABLE: "search"}


def stall_limits(cfg: Config) -> dict[str, float]:
    return {"search": cfg.search.retry.stall_seconds, "download": cfg.download.retry.stall_seconds,
            "encode": cfg.encoders.retry.stall_seconds, "deliver": cfg.delivery.retry.stall_seconds}


class RecoveryWorker(Worker):
    name = "recovery"

    def __init__(self, ctx: ActorContext, interval_ms: int, stale_after_s: float):
        super().__init__(ctx, interval_ms)
        self.stale_after = timedelta(seconds=stale_after_s)
        self.first = True
        self.reconciles = 0
        self.last_found: dict[str, int] = {}

    def prepare(self) -> None:
        """The recovery worker holds no claims; it starts by beating, so its daemon counts as live."""
        self.beat()

    def beat(self) -> None:
        queries.heartbeat(self.ctx.instance_id, self.ctx.host, self.ctx.pid, self.ctx.clock())
        if self.first:
            self.first = False
            gone = [i.id for i in queries.instances_on(self.ctx.host)
                    if i.id != self.ctx.instance_id and not pid_alive(i.pid)]
            queries.forget_instances(gone)

    def poll(self) -> int:
        self.beat()
        now = self.ctx.clock()
        found = self.check(now)
        self.reconciles += 1
        repaired = sum(self.repair(item, verdict, now) for item, verdict in found)
        if found:
            self.log.warning("stranded_items_repaired", found=len(found), repaired=repaired,
                             reasons=sorted({v.reason for _, v in found})[:10])
        return repaired

    def liveness(self, now: datetime) -> Liveness:
        return Liveness(this_instance=self.ctx.instance_id,
                        live_instances=queries.live_instances(now - self.stale_after) | {self.ctx.instance_id},
                        running=self.ctx.running_workers(), stall_seconds=stall_limits(self.ctx.config))

    def check(self, now: datetime) -> list[tuple[ItemState, Verdict]]:
        """The items that break the invariant now, and why; exported by status."""
        live = self.liveness(now)
        found = [(item, v) for item in queries.claim_states() if (v := stranded(item, now, live)) is not None]
        counts = Counter(item.status.value for item, _ in found)
        for status in CHECKED:
            metrics.ITEMS_STRANDED.labels(status.value).set(counts.get(status.value, 0))
        self.last_found = dict(counts)
        return found

    def repair(self, item: ItemState, verdict: Verdict, now: datetime) -> bool:
        if verdict.repair is Repair.REMAP:
            done = queries.remap_download_of(item.id)
            self.ctx.wake("filemap", "download to map again")
        elif verdict.repair is Repair.DUE_NOW:
            done = queries.apply_transition(item.id, item.status, Event.RETRY_DUE, now, error=verdict.reason)
        else:
            done = queries.release_claim(item.id, item.status, item.claimed_by, now, verdict.reason)
            self.ctx.wake(RESUMES.get(item.status, "search"), "stranded item repaired")
        if done:
            if self.reconciles > 1:
                queries.item_stranded(item.id, verdict.reason, now)
            metrics.ITEMS_REPAIRED.labels(item.status.value).inc()
            self.log.warning("stranded_item_repaired", item_id=item.id, status=item.status.value,
                             reason=verdict.reason, repair=verdict.repair.value)
        return bool(done)
