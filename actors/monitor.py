"""ShowRefreshWorker: keeps followed TV requests in step with TMDB -- items for newly announced episodes
(AWAITING until they air), new titles and air dates for the existing ones.

One daemon refreshes at a time (the ``tmdb-refresh`` task row is claimed), every ``refresh_interval_minutes``.
TMDB is read without a pooled connection held; what changes is decided by the pure
``annexd.domain.monitoring`` and written through the store's one item-creation path (``queries.add_items``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from actors.context import ActorContext
from actors.worker import Worker
from annexd import metrics
from annexd.clients.tmdb import TmdbClient
from annexd.domain.monitoring import Listing, Monitoring, RefreshPlan, plan_refresh, seasons_to_fetch
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.errors import InvalidInputError, ProviderError
from store import queries
from store.models import MediaRequest

TASK = "tmdb-refresh"
LEASE_SECONDS = 1800.0


def monitoring_of(req: MediaRequest) -> Monitoring:
    seasons = tuple(req.monitor_seasons) if req.monitor_seasons is not None else None
    return Monitoring(req.monitor, seasons)


class ShowRefreshWorker(Worker):
    name = "monitor"

    def __init__(self, ctx: ActorContext, interval_ms: int, tmdb: TmdbClient, refresh_minutes: float):
        super().__init__(ctx, interval_ms)
        self.tmdb = tmdb
        self.refresh_minutes = refresh_minutes

    def run_once(self) -> int:
        now = self.ctx.clock()
        with self.ctx.db.connection_context():
            if not queries.claim_task(TASK, self.ctx.instance_id, now, LEASE_SECONDS):
                return 0
            requests = queries.monitored_requests()
        added, errors = 0, []
        for req in requests:
            try:
                added += self.refresh(req, now)
            except (ProviderError, InvalidInputError) as exc:
                metrics.SHOW_REFRESHES.labels("error").inc()
                errors.append(f"request {req.id}: {exc}")
                self.log.warning("show_refresh_failed", request_id=req.id, error=str(exc))
        with self.ctx.db.connection_context():
            queries.finish_task(TASK, self.ctx.instance_id, now, now + timedelta(minutes=self.refresh_minutes),
                                error="; ".join(errors)[:2000] or None)
        self.polls += 1
        if added:
            self.ctx.wake("search", f"{added} newly announced episode(s)")
        return added

    def refresh(self, req: MediaRequest, now: datetime) -> int:
        """Refresh one followed show; returns how many items were added."""
        monitoring = monitoring_of(req)
        with self.ctx.db.connection_context():
            items = queries.request_items(req.id)
        existing = {(i.season, i.episode): Listing(i.id, i.title, i.air_date) for i in items}
        episodes = self.fetch(req.tmdb_id or 0, monitoring, {season for season, _ in existing})
        plan = plan_refresh(monitoring, req.created_at.date(), episodes, existing)
        self.write(req, plan, now)
        metrics.SHOW_REFRESHES.labels("ok").inc()
        if plan.new or plan.changed:
            self.log.info("show_refreshed", request_id=req.id, title=req.title, added=len(plan.new),
                          changed=len(plan.changed))
        return len(plan.new)

    def fetch(self, tmdb_id: int, monitoring: Monitoring, existing_seasons: set[int]) -> list[EpisodeSpec]:
        show = self.tmdb.tv(tmdb_id, fresh=True)
        wanted = seasons_to_fetch(monitoring, (s.season_number for s in show.seasons), existing_seasons)
        return [EpisodeSpec(ep.season_number, ep.episode_number, ep.name, ep.air_date)
                for number in wanted for ep in self.tmdb.season(tmdb_id, number, fresh=True)]

    def write(self, req: MediaRequest, plan: RefreshPlan, now: datetime) -> None:
        with self.ctx.db.connection_context():
            for item_id, title, air_date in plan.changed:
                queries.update_listing(item_id, title, air_date, now)
            state = queries.approval_state(req.id) if plan.new else "approved"
            if plan.new and state != "declined":
                # New episodes follow the request's approval: they wait while it waits, none join a declined one.
                queries.add_items(req, _spec(req, plan.new), now, pending_approval=state == "pending",
                                  requested_by=req.requested_by)
                metrics.EPISODES_ANNOUNCED.inc(len(plan.new))


def _spec(req: MediaRequest, episodes: tuple[EpisodeSpec, ...]) -> RequestSpec:
    base = RequestSpec(kind="tv", title=req.title, year=req.year, tmdb_id=req.tmdb_id)
    return replace(base, episodes=episodes)
