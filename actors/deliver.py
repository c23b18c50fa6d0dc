"""DeliverWorker: ENCODED -> DELIVERING -> COMPLETED.

Each (item, target) pair is one Delivery row, and a transfer in flight is that row too: its owner, heartbeat,
progress and the temporary name it writes (recorded before the upload). Claiming items makes their rows
pending in the same transaction; a restarted deliverer takes its predecessor's rows over and starts the
transfers again (an identical file already there counts as delivered, so nothing lands twice). The items of a
multi-episode file are delivered once, named with the episode range (``S01E01-E02``).

Transfers run in a small thread pool (bounded per target) and report back by telling the current deliverer,
so its inbox stays responsive during a 40 GB upload. A target that failed is retried alone, per
``[delivery.retry]``; a failure retrying cannot help (a different file at the destination, an unsafe path) fails
the item at once, told apart by exception type. An item completes when every target has the file; the encoded
intermediate goes once no item sharing it still needs it. Temporary files a crash left are removed by their
recorded names at every poll, and every target's roots are swept for old ones at start and on a schedule. A
failed media-server rescan never fails a delivery: it shows in metrics and provider health. An upgrading item's
transfer replaces the file already on the target only once the new one is verified there (the row's
``replaces``); if the upgrade fails, the targets not reached keep their old file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from actors.context import ActorContext
from actors.messages import DeliveryFinished, ProgressUpdate, TempFilesRemoved
from actors.worker import Worker
from annexd import metrics
from annexd.clients.delivery import (
    DeliveryResult,
    TargetLimiter,
    close_shared_connection,
    deliver,
    destination,
    make_transport,
    sweep_temp_files,
    temp_name,
)
from annexd.clients.delivery_settings import Target
from annexd.clients.mediaserver_settings import MediaServer
from annexd.clients.mediaservers import rescan
from annexd.domain.naming import VideoFormat, quality_tag, render_episode_path, render_movie_path
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.retry import Failure, classify
from annexd.domain.stranded import Liveness, owner_is_live
from annexd.encoder.ffmpeg import probe
from annexd.errors import AnnexdError
from store import queries
from store.models import MediaRequest, ProcessingItem

Plan = tuple[Path, PurePosixPath, str]  # encoded file, path under the target's root, "movie" | "tv"


class DeliverWorker(Worker):
    name = "deliver"

    def __init__(self, ctx: ActorContext, interval_ms: int, targets: Sequence[Target],
                 media_servers: Mapping[str, MediaServer]):
        super().__init__(ctx, interval_ms)
        self.targets = {t.name: t for t in targets}
        self.media_servers = dict(media_servers)
        self.limiter = TargetLimiter()
        self.pool = ThreadPoolExecutor(max(1, ctx.config.delivery.max_parallel), thread_name_prefix="deliver")
        self.in_flight: dict[int, set[str]] = {}  # item -> targets whose transfer runs in this incarnation
        self.removing: set[int] = set()  # transfer rows whose leftover temporary file is being removed
        self.next_sweep = 0.0

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for target in self.targets.values():
            close_shared_connection(target)  # transfers still running on it finish first
        super().on_stop()

    def prepare(self) -> None:
        """Take over the claims and transfers of this deliverer's earlier incarnations."""
        adopted = queries.adopt_claims(self.ctx.instance_id, self.name, self.owner, self.ctx.clock())
        if adopted:
            self.log.info("deliveries_taken_over", items=adopted)

    def poll(self) -> int:
        now = self.ctx.clock()
        queries.beat_deliveries(self.owner, now)
        self.remove_leftovers(now)
        self.sweep_if_due()
        self.resume()
        groups = queries.claim_deliveries(self.owner, now, self.ctx.config.worker.claim_batch, self.target_names)
        for group in groups:
            self.start_group(group)
        return sum(len(g) for g in groups)

    def targets_for(self, request: MediaRequest) -> list[Target]:
        names = request.targets or list(self.targets)
        return [self.targets[n] for n in names if n in self.targets]

    def target_names(self, item: ProcessingItem) -> list[str]:
        return [t.name for t in self.targets_for(queries.get_request(item.request_id))]

    # --- starting transfers ------------------------------------------------------------------------------
    def resume(self) -> None:
        """Pending transfers of ours that no thread runs (taken over, or an interrupted poll): start them."""
        waiting: dict[int, set[str]] = {}
        for row in queries.pending_transfers(self.owner):
            if row.target not in self.in_flight.get(row.item_id, set()):
                waiting.setdefault(row.item_id, set()).add(row.target)
        started: set[int] = set()
        for item_id, targets in waiting.items():
            if item_id in started:
                continue
            item = queries.get_item(item_id)
            if item.status != S.DELIVERING or item.claimed_by != self.owner:
                continue
            group = queries.delivering_group(item, self.owner)
            started.update(i.id for i in group)
            self.log.info("transfers_resumed", items=[i.id for i in group], targets=sorted(targets))
            self.start_group(group, only=targets)

    def start_group(self, group: list[ProcessingItem], only: set[str] | None = None) -> None:
        """Start a transfer of the group's file to each of its pending targets (or fail the group)."""
        lead = group[0]
        request = queries.get_request(lead.request_id)
        targets = self.targets_for(request)
        if not targets:
            self.fail(group, f"none of the request's targets {request.targets} is configured")
            return
        done = queries.delivered_targets(lead.id)
        pending = [t for t in targets if t.name not in done and (only is None or t.name in only)]
        try:
            plans = [(t, self.plan(request, group, t)) for t in pending]
        except (AnnexdError, OSError) as exc:
            self.fail(group, f"cannot name the file: {exc}")
            return
        for item in group:
            self.in_flight.setdefault(item.id, set()).update(t.name for t in pending)
        if not pending:
            for item in group:
                self.finish_item(item.id)
        for target, plan in plans:
            self.start_transfer(group, target, plan)

    def start_transfer(self, group: list[ProcessingItem], target: Target, plan: Plan) -> None:
        local, relative, kind = plan
        temp = temp_name()
        ids = tuple(i.id for i in group)
        temp_path = destination(target, relative, kind).parent / temp  # type: ignore[arg-type]
        earlier = queries.start_transfer(ids, target.name, self.owner, str(temp_path), self.ctx.clock())
        replaces = tuple(queries.replaced_files(list(ids), target.name))  # an upgrade: the files it replaces
        self.pool.submit(self.transfer, ids, target, local, relative, kind, temp, tuple(earlier), replaces)

    def fail(self, group: list[ProcessingItem], why: str) -> None:
        now = self.ctx.clock()
        for item in group:
            self.in_flight.pop(item.id, None)
            queries.apply_transition(item.id, S.DELIVERING, Event.FAIL, now, attempts=item.attempts, error=why,
                                     held_by=self.owner)

    def plan(self, request: MediaRequest, group: list[ProcessingItem], target: Target) -> Plan:
        """The encode made for this target's profile, and where it goes under the target's root."""
        lead = group[0]
        profile = target.encode_profile or self.ctx.config.encode_profile().name
        local = Path((lead.encoded_files or {}).get(profile) or lead.encoded_file_path or "")
        return (local, *self.destination(request, group, local))

    def destination(self, request: MediaRequest, group: list[ProcessingItem], encoded: Path
                    ) -> tuple[PurePosixPath, str]:
        """The Plex/Emby/Jellyfin-style relative path, its quality tag taken from the real encoded file; a
        multi-episode file is named with its range (S01E01-E02)."""
        with self.offline():
            info = probe(encoded)
        quality = quality_tag(VideoFormat(info.width or 0, info.height or 0, info.video_codec or ""))
        ext = encoded.suffix.lstrip(".") or "mkv"
        templates = self.ctx.config.naming
        if request.kind == "movie":
            return render_movie_path(request.title, request.year, quality, ext, template=templates.movie), "movie"
        lead = group[0]
        episodes = [i.episode for i in group]
        title = " + ".join(dict.fromkeys(i.title for i in group if i.title))
        return render_episode_path(request.title, lead.season, episodes if len(episodes) > 1 else lead.episode,
                                   ext=ext, year=request.year, episode_title=title, quality=quality,
                                   air_date=lead.air_date, templates=templates), "tv"

    # --- in a pool thread: no database, only tells ---------------------------------------------------------
    def transfer(self, item_ids: tuple[int, ...], target: Target, local: Path, relative: PurePosixPath, kind: str,
                 temp: str, earlier: tuple[str, ...] = (), replaces: tuple[str, ...] = ()) -> None:
        """Deliver one file to one target; first remove what an earlier transfer of it left (its name was just
        replaced by this transfer's). An upgrade's old files (``replaces``) go only once the new one is there."""
        progress = _Throttled(self.ctx, item_ids)
        try:
            if earlier:
                transport = make_transport(target)
                for path in earlier:
                    transport.remove(PurePosixPath(path))
            with self.limiter.slot(target, timeout=target.timeout):
                result = deliver(target, local, relative, progress, kind=kind, temp=temp,  # type: ignore[arg-type]
                                 replaces=replaces)
        except (AnnexdError, OSError) as exc:
            retriable = classify(exc) is Failure.TRANSIENT
            self.tell_current(DeliveryFinished(item_ids, target.name, None, str(exc), retriable))
            return
        self.tell_current(DeliveryFinished(item_ids, target.name, result, None, True, self.rescan(target, result)))

    def tell_current(self, message: Any) -> None:
        """Tell the deliverer running now (a restarted one took this transfer's row over), else this one."""
        current = self.ctx.workers.get(self.name)
        (current if current is not None and current.is_alive() else self.actor_ref).tell(message)

    def rescan(self, target: Target, result: DeliveryResult) -> str | None:
        server = self.media_servers.get(target.media_server) if target.media_server else None
        if server is None:
            return None
        outcome = rescan(server, str(PurePosixPath(result.remote_path).parent))
        metrics.PROVIDER_UP.labels("media_server", server.name).set(1 if outcome.ok else 0)
        return f"{'ok' if outcome.ok else 'failed'}: {outcome.detail}"

    def remove_temp_files(self, target: Target, rows: list[tuple[int, str]]) -> None:
        transport = make_transport(target)
        for _, path in rows:
            transport.remove(PurePosixPath(path))
        self.tell_current(TempFilesRemoved(tuple(rows)))

    def sweep(self, target: Target, older_than_s: float) -> None:
        try:
            removed = sweep_temp_files(target, older_than_s)
        except (AnnexdError, OSError) as exc:
            self.log.warning("temp_sweep_failed", target=target.name, error=str(exc))
            return
        if removed:
            self.log.warning("stale_temp_files_removed", target=target.name, files=removed)

    # --- back in the actor ----------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, TempFilesRemoved):
            with self.ctx.db.connection_context():
                queries.temp_files_removed(message.removed)
            self.removing.difference_update(row_id for row_id, _ in message.removed)
            return None
        if not isinstance(message, DeliveryFinished):
            return super().handle(message)
        with self.ctx.db.connection_context():
            self.finished(message)
        return None

    def finished(self, m: DeliveryFinished) -> None:
        now = self.ctx.clock()
        for item_id in m.item_ids:
            if m.result is not None:
                queries.finish_delivery(item_id, m.target, now, rescan=m.rescan, remote_path=m.result.remote_path,
                                        size=m.result.size, checksum=m.result.checksum)
            else:
                queries.finish_delivery(item_id, m.target, now, rescan=m.rescan, error=m.error or "failed",
                                        retriable=m.retriable)
            waiting = self.in_flight.get(item_id, set())
            waiting.discard(m.target)
            if not waiting:
                self.finish_item(item_id)

    def finish_item(self, item_id: int) -> None:
        """All targets answered: complete, retry the failed targets later, or fail when retrying cannot help."""
        self.in_flight.pop(item_id, None)
        now = self.ctx.clock()
        item = queries.get_item(item_id)
        rows = queries.deliveries_by_item([item_id]).get(item_id, [])
        failed = [d for d in rows if d.status != "done"]
        if not failed:
            if queries.apply_transition(item_id, S.DELIVERING, Event.DELIVERED, now, attempts=item.attempts,
                                        held_by=self.owner, fields={"detail": f"delivered to {len(rows)} target(s)"}):
                self.cleanup(item)
            return
        errors = "; ".join(f"{d.target}: {d.last_error}" for d in failed)
        permanent = any(not d.retriable for d in failed)
        retry_at = self.ctx.config.delivery.retry.decide(
            item.attempts, Failure.PERMANENT if permanent else Failure.TRANSIENT, now)
        if retry_at is None:
            queries.apply_transition(item_id, S.DELIVERING, Event.FAIL, now, attempts=item.attempts, held_by=self.owner,
                                     error=f"delivery failed for {len(failed)} of {len(rows)} target(s): {errors}")
            return
        queries.apply_transition(item_id, S.DELIVERING, Event.DELIVERY_RETRY, now, attempts=item.attempts,
                                 held_by=self.owner, error=f"will retry {len(failed)} target(s): {errors}",
                                 retry_at=retry_at)

    def cleanup(self, item: ProcessingItem) -> None:
        """Encoded intermediates go once every target has the file and no other item sharing it needs it; the
        source stays for seeding."""
        self.log.info("delivered", item_id=item.id)
        if queries.file_still_needed(item):
            return
        paths = {*(item.encoded_files or {}).values(), item.encoded_file_path}
        source = Path(item.source_file_path or "")
        for encoded in (Path(p) for p in paths if p):
            if encoded != source and encoded.is_file():
                encoded.unlink()
                for folder in (encoded.parent, encoded.parent.parent):
                    try:
                        folder.rmdir()  # only when empty
                    except OSError:
                        break

    # --- temporary files a crash left --------------------------------------------------------------------
    def remove_leftovers(self, now: datetime) -> None:
        """Remove, by their recorded names, the temporary files of transfers that will not finish: failed,
        released, or held by an incarnation or daemon that is gone."""
        live = Liveness(this_instance=self.ctx.instance_id,
                        live_instances=queries.live_instances(
                            now - timedelta(seconds=self.ctx.config.worker.claim_stale_seconds))
                        | {self.ctx.instance_id},
                        running={**self.ctx.running_workers(), self.name: self.ctx.starts.get(self.name, 0)})
        by_target: dict[str, list[tuple[int, str]]] = {}
        for row in queries.leftover_temp_files():
            if row.id in self.removing or row.target not in self.targets or not row.temp_path:
                continue
            if row.status == "pending" and (row.owner == self.owner or owner_is_live(row.owner, live)):
                continue  # a transfer in flight (ours, or of a live deliverer)
            by_target.setdefault(row.target, []).append((row.id, row.temp_path))
        for target, rows in by_target.items():
            self.removing.update(row_id for row_id, _ in rows)
            self.log.info("leftover_temp_files_removing", target=target, files=[p for _, p in rows])
            self.pool.submit(self.remove_temp_files, self.targets[target], rows)

    def sweep_if_due(self) -> None:
        cfg = self.ctx.config.delivery
        if time.monotonic() < self.next_sweep or cfg.temp_sweep_minutes <= 0:
            return
        self.next_sweep = time.monotonic() + cfg.temp_sweep_minutes * 60
        for target in self.targets.values():
            self.pool.submit(self.sweep, target, cfg.temp_max_age_hours * 3600)


class _Throttled:
    """Progress from a transfer thread to the writer, at most twice a second."""

    def __init__(self, ctx: ActorContext, item_ids: tuple[int, ...]):
        self.ctx, self.item_ids = ctx, item_ids
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < 0.5 and done < total:
                return
            self.last = now
        if self.ctx.writer is not None and total:
            for item_id in self.item_ids:
                self.ctx.writer.tell(ProgressUpdate(item_id, S.DELIVERING, 100.0 * done / total, detail="delivering"))
