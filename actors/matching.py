"""Announced releases (feeds, IRC) matched to the wanted items and applied, in the caller's connection.

The matching is the pure :mod:`annexd.domain.feed_match`; this is its read and write around it, shared by the
FeedWorker and the AnnounceWorkers so that a release from any announce source is judged the same way: read the
wanted items with their requests' profiles, match, then apply each FEED_MATCH as a compare-and-set (a release
announced by two sources at once moves an item once) and keep below-profile releases as alternatives.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from actors.context import ActorContext
from annexd.domain.feed_match import (
    WANTING,
    BatchDecision,
    WantedItem,
    WantedTitle,
    index_wanted,
    match_batch,
)
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.quality import Release
from annexd.domain.releases import normalize_title
from store import queries
from store.models import MediaRequest, ProcessingItem


def match_and_apply(ctx: ActorContext, releases: Sequence[Release], now: datetime) -> tuple[BatchDecision, int]:
    """What each release does to the wanted items, and how many items moved to FOUND. Needs a connection."""
    index = index_wanted(wanted_titles(ctx, releases))
    batch = match_batch(releases, index, queries.blocklisted_keys(), now, ctx.config.search)
    return batch, apply_batch(batch, now)


def apply_batch(batch: BatchDecision, now: datetime) -> int:
    moved = 0
    for outcome in batch.outcomes:
        moved += queries.apply_transition(outcome.item_id, batch.expected[outcome.item_id], outcome.event, now,
                                          fields=outcome.fields)
    for item_id, releases in batch.alternatives.items():
        queries.keep_alternatives(item_id, batch.expected[item_id], releases, now)
    return moved


def wanted_titles(ctx: ActorContext, releases: Sequence[Release]) -> list[WantedTitle]:
    """The wanted titles these releases may be: only requests whose normalised title one of them names are read
    with their items (the matcher looks no further), so one announce does not read every wanted item."""
    names = {normalize_title(r.parsed.series_title) for r in releases if r.parsed.series_title}
    candidates = [rid for rid, title in queries.wanted_request_titles(WANTING) if _title_key(title) in names]
    if not candidates:
        return []
    rows = queries.wanted_items(WANTING, candidates)
    sizes = queries.season_sizes(req.id for req, _ in rows)
    return [wanted_title(req, items, ctx.config.profile(req.quality_profile), sizes.get(req.id, {}))
            for req, items in rows]


@functools.lru_cache(maxsize=65536)
def _title_key(title: str) -> str:
    """normalize_title, remembered: each announce compares its name with every wanted request's title."""
    return normalize_title(title)


def wanted_title(req: MediaRequest, items: list[ProcessingItem], profile: Any,
                 sizes: dict[int, int]) -> WantedTitle:
    wanted = tuple(WantedItem(i.id, S(i.status), i.season, i.episode, i.air_date,
                              tuple(i.available_releases or ()), i.release if i.status == S.COMPLETED else None)
                   for i in items)
    return WantedTitle(req.id, req.kind, req.title, req.year, profile, wanted, sizes)
