"""SearchWorker: claims PENDING items (retry-due ones included) and turns them into FOUND, AWAITING or
QUALITY_UNAVAILABLE. Items of one request share one search; TV asks one season query first.

On a slow timer (``[search] upgrade_search_hours``, off by default) it also searches upgrades: one daemon at a
time (a leased task row) walks the COMPLETED items below their cutoff a batch per poll, asks the indexers for
each, and hands the results to the feed matcher, which moves an item to FOUND (``upgrade``) only for a real
upgrade of what it delivered.

An indexer's rate limit never puts this thread to sleep: a search that would call an indexer too soon stops
(:class:`annexd.errors.NotYetError`), the items not yet searched go back to PENDING and the worker wakes itself
at the deadline; the resumed search replays the indexer answers it already had (the client keeps them)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Any

from actors.context import ActorContext
from actors.matching import match_and_apply
from actors.worker import Worker
from annexd import metrics
from annexd.clients.torznab import TorznabClient
from annexd.domain.feed_match import below_cutoff
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.provider_health import ProviderBackoff
from annexd.domain.quality import Release, dedupe
from annexd.domain.search import (
    Outcome,
    Wanted,
    decide_episode,
    decide_movie,
    decide_season,
    not_aired,
    nothing,
)
from annexd.errors import InvalidInputError, NotYetError, ProviderAuthError, ProviderError
from store import queries
from store.models import MediaRequest, ProcessingItem

Search = Callable[[TorznabClient], list[Release]]
AUTH_PAUSE_S = 24 * 3600.0
UPGRADE_TASK = "upgrade-search"
UPGRADE_LEASE_S = 900.0


def _season_search(client: TorznabClient, *, title: str, season: int, ids: dict[str, Any]) -> list[Release]:
    return client.search_tv(title, season, **ids)


def _movie_search(client: TorznabClient, *, request: MediaRequest) -> list[Release]:
    return client.search_movie(request.title, request.year, imdbid=request.imdb_id, tmdbid=request.tmdb_id)


def _episode_search(client: TorznabClient, *, title: str, item: Wanted, ids: dict[str, Any]) -> list[Release]:
    return client.search_tv(title, item.season, item.episode, **ids)


class SearchWorker(Worker):
    name = "search"

    def __init__(self, ctx: ActorContext, interval_ms: int, clients: Sequence[TorznabClient]):
        super().__init__(ctx, interval_ms)
        self.clients = list(clients)
        self.started_at = time.time()
        self.health: dict[str, ProviderBackoff] = {}

    def prepare(self) -> None:
        super().prepare()
        for client in self.clients:
            name = client.indexer.name
            state = queries.load_provider_state("indexer", name)
            self.health[name] = (ProviderBackoff.from_dict(state, started_at=self.started_at) if state
                                 else ProviderBackoff(self.started_at))

    # --- one poll ------------------------------------------------------------------------------------
    def poll(self) -> int:
        now = self.ctx.clock()
        # A search holds its claims for one poll only: any still ours come from a poll that was interrupted.
        for item in queries.claimed_by(self.owner, S.SEARCHING):
            queries.release_claim(item.id, S.SEARCHING, self.owner, now, "its search was interrupted")
        upgrades = self.search_upgrades(now)
        claimed = queries.claim_items(S.PENDING, Event.START_SEARCH, now, self.ctx.config.worker.claim_batch,
                                      owner=self.owner)
        if not claimed:
            return upgrades
        items = queries.items_by_ids(claimed)
        by_request: dict[int, list[ProcessingItem]] = defaultdict(list)
        for item in items:
            by_request[item.request_id].append(item)
        blocklist = queries.blocklisted_keys()
        found = 0
        order = list(by_request)
        for n, request_id in enumerate(order):
            request = queries.get_request(request_id)
            try:
                outcomes = self.search_request(request, by_request[request_id], now, blocklist)
            except NotYetError as exc:  # an indexer's rate limit: this request and the rest wait for its deadline
                self.postpone([i for r in order[n:] for i in by_request[r]], exc, now)
                break
            found += self.apply(outcomes, now)
            queries.beat_claims(self.owner, self.ctx.clock())  # the next requests' claims are still being worked on
        if found:
            self.ctx.wake("download", f"{found} item(s) found")
        return len(claimed)

    def postpone(self, items: list[ProcessingItem], exc: NotYetError, now: datetime) -> None:
        """Back to PENDING until the indexer may be asked again; this worker polls again at that deadline."""
        reason = f"waiting for {exc.provider}'s rate limit"
        for item in items:
            queries.release_claim(item.id, S.SEARCHING, self.owner, now, reason)
        self.wake_in(exc.retry_in, reason)

    def search_request(self, request: MediaRequest, items: list[ProcessingItem], now: datetime,
                       blocklist: set[str]) -> list[Outcome]:
        wanted = [Wanted(i.id, i.season, i.episode, i.air_date, i.attempts) for i in items]
        outcomes = [o for o in (not_aired(w, now.date()) for w in wanted) if o]
        waiting = {o.item_id for o in outcomes}
        wanted = [w for w in wanted if w.item_id not in waiting]
        if not wanted:
            return outcomes
        log = self.log.bind(request_id=request.id, title=request.title)
        if not self.clients:
            return outcomes + [nothing(w, "no indexers configured", now, self.ctx.config.search, Event.SEARCH_ERROR)
                               for w in wanted]
        profile = self.ctx.config.profile(request.quality_profile)
        cfg = self.ctx.config.search
        if request.kind == "movie":
            releases, error = self.query(lambda c: c.search_movie(request.title, request.year,
                                                                  imdbid=request.imdb_id, tmdbid=request.tmdb_id))
            if error is not None:
                return outcomes + [nothing(w, error, now, cfg, Event.SEARCH_ERROR) for w in wanted]
            outcomes += [decide_movie(w, request.title, request.year, releases, profile, blocklist, now, cfg)
                         for w in wanted]
        else:
            outcomes += self.search_tv(request, wanted, now, blocklist)
        log.info("searched", items=len(items), outcomes={o.event.value: sum(1 for x in outcomes if x.event is o.event)
                                                         for o in outcomes})
        return outcomes

    def search_tv(self, request: MediaRequest, wanted: list[Wanted], now: datetime,
                  blocklist: set[str]) -> list[Outcome]:
        profile = self.ctx.config.profile(request.quality_profile)
        cfg = self.ctx.config.search
        ids = {"tvdbid": request.tvdb_id, "tmdbid": request.tmdb_id, "imdbid": request.imdb_id}
        outcomes: list[Outcome] = []
        budget = cfg.max_episode_searches
        for season, group in groupby(sorted(wanted, key=lambda w: (w.season, w.episode)), key=lambda w: w.season):
            items = list(group)
            releases, error = self.query(partial(_season_search, title=request.title, season=season, ids=ids))
            if error is not None:
                outcomes += [nothing(w, error, now, cfg, Event.SEARCH_ERROR) for w in items]
                continue
            decision = decide_season(items, request.title, request.year, season, releases, profile, blocklist,
                                     now, cfg)
            outcomes += decision.outcomes
            for item in decision.missing:
                if budget <= 0:
                    outcomes.append(nothing(item, "episode search budget used up this round", now, cfg,
                                            Event.SEARCH_ERROR))
                    continue
                budget -= 1
                per_ep, error = self.query(partial(_episode_search, title=request.title, item=item, ids=ids))
                if error is not None:
                    outcomes.append(nothing(item, error, now, cfg, Event.SEARCH_ERROR))
                else:
                    outcomes.append(decide_episode(item, request.title, request.year, [*per_ep, *releases],
                                                   profile, blocklist, now, cfg))
        return outcomes

    # --- upgrades ------------------------------------------------------------------------------------
    def search_upgrades(self, now: datetime) -> int:
        """One batch of the upgrade search, when due and this daemon holds its task; how many items upgrade."""
        cfg = self.ctx.config.search
        if cfg.upgrade_search_hours <= 0 or not self.clients:
            return 0
        if not queries.claim_task(UPGRADE_TASK, self.ctx.instance_id, now, UPGRADE_LEASE_S):
            return 0
        state = next(iter(queries.task_states(UPGRADE_TASK)), None)
        after = int(((state.data if state else None) or {}).get("after", 0))
        batch = queries.completed_items_after(after, cfg.upgrade_search_batch)
        releases: list[Release] = []
        try:
            for request, item in batch:
                if below_cutoff(item.release, self.ctx.config.profile(request.quality_profile)):
                    releases += self.upgrade_query(request, item)
        except NotYetError as exc:  # the batch runs again from the same place once the indexer may be asked
            queries.postpone_task(UPGRADE_TASK, self.ctx.instance_id, now)
            self.wake_in(exc.retry_in, f"upgrade search waits for {exc.provider}'s rate limit")
            return 0
        moved = match_and_apply(self.ctx, dedupe(releases), now)[1] if releases else 0
        more = len(batch) == cfg.upgrade_search_batch  # the pass goes on next poll, else starts again later
        next_run = now if more else now + timedelta(hours=cfg.upgrade_search_hours)
        queries.finish_task(UPGRADE_TASK, self.ctx.instance_id, now, next_run,
                            data={"after": batch[-1][1].id if more else 0})
        self.log.info("upgrades_searched", items=len(batch), releases=len(releases), upgrading=moved)
        if moved:
            self.ctx.wake("download", f"{moved} upgrade(s) found")
        return moved

    def upgrade_query(self, request: MediaRequest, item: ProcessingItem) -> list[Release]:
        """What the indexers offer for this delivered movie or episode (nothing when none answers)."""
        ids = {"tvdbid": request.tvdb_id, "tmdbid": request.tmdb_id, "imdbid": request.imdb_id}
        search: Search = partial(_movie_search, request=request) if request.kind == "movie" else partial(
            _episode_search, title=request.title, item=Wanted(item.id, item.season, item.episode, item.air_date, 0),
            ids=ids)
        releases, _ = self.query(search)
        return releases

    # --- indexers ------------------------------------------------------------------------------------
    def query(self, search: Search) -> tuple[list[Release], str | None]:
        """Ask every available indexer; an error string only when none of them could answer."""
        results: list[Release] = []
        errors: list[str] = []
        answered = 0
        for client in self.clients:
            name = client.indexer.name
            backoff = self.health.setdefault(name, ProviderBackoff(self.started_at))
            now = time.time()
            if not backoff.available(now):
                errors.append(f"{name}: paused for {backoff.retry_in(now):.0f} s after failures")
                continue
            try:
                with self.offline():
                    results.extend(search(client))
                metrics.PROVIDER_CALLS.labels("indexer", "ok").inc()
            except (ProviderError, InvalidInputError) as exc:
                metrics.PROVIDER_CALLS.labels("indexer", type(exc).__name__).inc()
                # A refused key will not fix itself: pause the longest step instead of hammering.
                retry_after = AUTH_PAUSE_S if isinstance(exc, ProviderAuthError) else getattr(exc, "retry_after", None)
                pause = backoff.record_failure(now, retry_after)
                errors.append(str(exc))
                self._health_changed(name, backoff, str(exc), ok=False)
                self.log.warning("indexer_failed", indexer=name, error=str(exc), paused_s=round(pause))
                continue
            answered += 1
            if backoff.level or backoff.disabled_until:
                backoff.record_success(now)
                self._health_changed(name, backoff, None, ok=True)
            metrics.PROVIDER_UP.labels("indexer", name).set(1)
        if not answered:
            return [], "; ".join(errors) or "no indexer available"
        return dedupe(results), None

    def _health_changed(self, name: str, backoff: ProviderBackoff, error: str | None, ok: bool) -> None:
        metrics.PROVIDER_UP.labels("indexer", name).set(1 if ok else 0)
        queries.save_provider_state("indexer", name, backoff.to_dict(), error, self.ctx.clock())

    # --- writes --------------------------------------------------------------------------------------
    def apply(self, outcomes: list[Outcome], now: datetime) -> int:
        found = 0
        for o in outcomes:
            ok = queries.apply_transition(o.item_id, S.SEARCHING, o.event, now, error=o.error, retry_at=o.retry_at,
                                          fields=o.fields, held_by=self.owner)
            found += int(ok and o.event is Event.FOUND)
        return found
