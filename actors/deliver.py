"""DeliverWorker: ENCODED -> DELIVERING -> COMPLETED.

Each (item, target) pair is one Delivery row. Transfers run in a small thread pool (bounded per target)
and report back by telling this actor, so its inbox stays responsive during a 40 GB upload. A target that
failed is retried alone; an item completes when every target has the file, then its encoded intermediate is
removed. A failed media-server rescan never fails a delivery: it shows in metrics and provider health.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from actors.context import ActorContext
from actors.messages import DeliveryFinished, ProgressUpdate
from actors.worker import Worker
from annexd import metrics
from annexd.clients.delivery import DeliveryResult, TargetLimiter, deliver
from annexd.clients.delivery_settings import Target
from annexd.clients.delivery_transport import DestinationConflictError
from annexd.clients.mediaserver_settings import MediaServer
from annexd.clients.mediaservers import rescan
from annexd.domain.naming import VideoFormat, quality_tag, render_episode_path, render_movie_path
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.encoder.ffmpeg import probe
from annexd.errors import AnnexdError, ProviderError, UnsafePathError
from store import queries
from store.models import MediaRequest, ProcessingItem


class DeliverWorker(Worker):
    name = "deliver"

    def __init__(self, ctx: ActorContext, interval_ms: int, targets: Sequence[Target],
                 media_servers: Mapping[str, MediaServer]):
        super().__init__(ctx, interval_ms)
        self.targets = {t.name: t for t in targets}
        self.media_servers = dict(media_servers)
        self.limiter = TargetLimiter()
        self.pool = ThreadPoolExecutor(max(1, ctx.config.delivery.max_parallel), thread_name_prefix="deliver")
        self.in_flight: dict[int, set[str]] = {}

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        super().on_stop()

    def poll(self) -> int:
        now = self.ctx.clock()
        claimed = queries.claim_items(S.ENCODED, Event.START_DELIVERY, now, self.ctx.config.worker.claim_batch,
                                      owner=self.ctx.instance_id)
        for item in queries.items_by_ids(claimed):
            self.start_item(item)
        return len(claimed)

    def targets_for(self, request: MediaRequest) -> list[Target]:
        names = request.targets or list(self.targets)
        return [self.targets[n] for n in names if n in self.targets]

    def start_item(self, item: ProcessingItem) -> None:
        request = queries.get_request(item.request_id)
        targets = self.targets_for(request)
        if not targets:
            queries.apply_transition(item.id, S.DELIVERING, Event.FAIL, self.ctx.clock(), attempts=item.attempts,
                                     error=f"none of the request's targets {request.targets} is configured")
            return
        done = queries.delivered_targets(item.id)
        pending = [t for t in targets if t.name not in done]
        try:
            plans = [(t, *self.plan(request, item, t)) for t in pending]
        except (AnnexdError, OSError) as exc:
            queries.apply_transition(item.id, S.DELIVERING, Event.FAIL, self.ctx.clock(), attempts=item.attempts,
                                     error=f"cannot name the file: {exc}")
            return
        self.in_flight[item.id] = {t.name for t in pending}
        if not pending:
            self.finish_item(item.id)
        for target, local, relative, kind in plans:
            queries.start_delivery(item.id, target.name)
            self.pool.submit(self.transfer, item.id, target, local, relative, kind)

    def plan(self, request: MediaRequest, item: ProcessingItem, target: Target) -> tuple[Path, PurePosixPath, str]:
        """The encode made for this target's profile, and where it goes under the target's root."""
        profile = target.encode_profile or self.ctx.config.encode_profile().name
        local = Path((item.encoded_files or {}).get(profile) or item.encoded_file_path or "")
        return (local, *self.destination(request, item, local))

    def destination(self, request: MediaRequest, item: ProcessingItem, encoded: Path) -> tuple[PurePosixPath, str]:
        """The Plex/Emby/Jellyfin-style relative path, its quality tag taken from the real encoded file."""
        info = probe(encoded)
        quality = quality_tag(VideoFormat(info.width or 0, info.height or 0, info.video_codec or ""))
        ext = encoded.suffix.lstrip(".") or "mkv"
        templates = self.ctx.config.naming
        if request.kind == "movie":
            return render_movie_path(request.title, request.year, quality, ext, template=templates.movie), "movie"
        return render_episode_path(request.title, item.season, item.episode, ext=ext, year=request.year,
                                   episode_title=item.title, quality=quality, air_date=item.air_date,
                                   templates=templates), "tv"

    # --- in a pool thread: no database, only tells ---------------------------------------------------------
    def transfer(self, item_id: int, target: Target, local: Path, relative: PurePosixPath, kind: str) -> None:
        progress = _Throttled(self.ctx, item_id)
        try:
            with self.limiter.slot(target, timeout=target.timeout):
                result = deliver(target, local, relative, progress, kind=kind)  # type: ignore[arg-type]
        except DestinationConflictError as exc:
            self.actor_ref.tell(DeliveryFinished(item_id, target.name, None, str(exc), retriable=False))
            return
        except UnsafePathError as exc:
            self.actor_ref.tell(DeliveryFinished(item_id, target.name, None, str(exc), retriable=False))
            return
        except (ProviderError, OSError) as exc:
            self.actor_ref.tell(DeliveryFinished(item_id, target.name, None, str(exc), retriable=True))
            return
        self.actor_ref.tell(DeliveryFinished(item_id, target.name, result, None, True, self.rescan(target, result)))

    def rescan(self, target: Target, result: DeliveryResult) -> str | None:
        server = self.media_servers.get(target.media_server) if target.media_server else None
        if server is None:
            return None
        outcome = rescan(server, str(PurePosixPath(result.remote_path).parent))
        metrics.PROVIDER_UP.labels("media_server", server.name).set(1 if outcome.ok else 0)
        return f"{'ok' if outcome.ok else 'failed'}: {outcome.detail}"

    # --- back in the actor ----------------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if not isinstance(message, DeliveryFinished):
            return super().handle(message)
        with self.ctx.db.connection_context():
            self.finished(message)
        return None

    def finished(self, m: DeliveryFinished) -> None:
        now = self.ctx.clock()
        if m.result is not None:
            queries.finish_delivery(m.item_id, m.target, now, rescan=m.rescan, remote_path=m.result.remote_path,
                                    size=m.result.size, checksum=m.result.checksum)
        else:
            queries.finish_delivery(m.item_id, m.target, now, rescan=m.rescan, error=m.error or "failed")
        waiting = self.in_flight.get(m.item_id, set())
        waiting.discard(m.target)
        if not waiting:
            self.finish_item(m.item_id)

    def finish_item(self, item_id: int) -> None:
        """All targets answered: complete, retry the failed targets later, or fail on a conflict."""
        self.in_flight.pop(item_id, None)
        now = self.ctx.clock()
        item = queries.get_item(item_id)
        rows = queries.deliveries_by_item([item_id]).get(item_id, [])
        failed = [d for d in rows if d.status != "done"]
        if not failed:
            if queries.apply_transition(item_id, S.DELIVERING, Event.DELIVERED, now, attempts=item.attempts,
                                        fields={"detail": f"delivered to {len(rows)} target(s)"}):
                self.cleanup(item)
            return
        errors = "; ".join(f"{d.target}: {d.last_error}" for d in failed)
        conflict = any("already exists" in (d.last_error or "") or "outside" in (d.last_error or "") for d in failed)
        if conflict or item.attempts + 1 >= self.ctx.config.delivery.max_attempts:
            queries.apply_transition(item_id, S.DELIVERING, Event.FAIL, now, attempts=item.attempts,
                                     error=f"delivery failed for {len(failed)} of {len(rows)} target(s): {errors}")
            return
        retry = now + timedelta(minutes=self.ctx.config.delivery.retry_minutes * 2 ** item.attempts)
        queries.apply_transition(item_id, S.DELIVERING, Event.DELIVERY_RETRY, now, attempts=item.attempts,
                                 error=f"will retry {len(failed)} target(s): {errors}", retry_at=retry)

    def cleanup(self, item: ProcessingItem) -> None:
        """Encoded intermediates go once every target has its file; the source stays for seeding."""
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
        self.log.info("delivered", item_id=item.id)


class _Throttled:
    """Progress from a transfer thread to the writer, at most twice a second."""

    def __init__(self, ctx: ActorContext, item_id: int):
        self.ctx, self.item_id = ctx, item_id
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < 0.5 and done < total:
                return
            self.last = now
        if self.ctx.writer is not None and total:
            self.ctx.writer.tell(ProgressUpdate(self.item_id, S.DELIVERING, 100.0 * done / total, detail="delivering"))
