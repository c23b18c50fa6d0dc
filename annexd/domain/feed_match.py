"""Matching one announced release to the wanted items it satisfies (pure: no I/O, time passed in).

A release from a feed (an indexer's recent releases, a plain RSS/Atom feed; IRC announces later) is matched to
the wanted items of the right movie or show -- normalised title and year, then season/episode or air date, a
season pack covering several items -- and judged against each request's quality profile, the blocklist and the
size limits by the same functions a search result goes through (:func:`annexd.domain.quality.evaluate`,
``episode_matches``/``movie_matches``, :func:`annexd.domain.search.grab_at`). The outcome per item is an
:class:`~annexd.domain.search.Outcome` (a FEED_MATCH transition to FOUND) or a kept below-profile alternative;
the store applies both as a compare-and-set, so a release announced by two feeds at once moves an item once.

Which statuses want a release, and with which event, is one table (:data:`WANTING`). A COMPLETED item wants
only an upgrade of the release it has delivered (:func:`annexd.domain.quality.upgrade_reason`: a better quality
while below the cutoff, or a proper/repack per the profile's policy); below-profile releases are not kept on it.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.quality import (
    QualityProfile,
    Release,
    episode_matches,
    evaluate,
    meets_cutoff,
    movie_matches,
    quality_of,
    rank,
    upgrade_reason,
)
from annexd.domain.releases import normalize_title
from annexd.domain.search import Outcome, SearchConfig, grab_at

# Status of a wanted item -> the event a matching, accepted release applies to it.
WANTING: Mapping[S, Event] = {S.AWAITING: Event.FEED_MATCH, S.QUALITY_UNAVAILABLE: Event.FEED_MATCH,
                              S.COMPLETED: Event.UPGRADE}


class FeedOutcome(enum.StrEnum):
    """What became of one release (the ``outcome`` label of ``annexd_feed_releases_total``)."""

    MATCHED = "matched"  # at least one item moves to FOUND with it
    ALTERNATIVE = "alternative"  # below profile: kept on the items as an alternative
    REJECTED = "rejected"  # the right title, but the profile or the size limits refuse it
    BLOCKLISTED = "blocklisted"  # failed before: ignored
    UNMATCHED = "unmatched"  # nothing wanted is this release


_PRECEDENCE = (FeedOutcome.MATCHED, FeedOutcome.ALTERNATIVE, FeedOutcome.BLOCKLISTED, FeedOutcome.REJECTED,
               FeedOutcome.UNMATCHED)


@dataclass(frozen=True)
class WantedItem:
    item_id: int
    status: S
    season: int = 0
    episode: int = 0
    air_date: date | None = None
    alternatives: tuple[Mapping[str, Any], ...] = ()
    delivered: Mapping[str, Any] | None = None  # COMPLETED: the release whose files are delivered


@dataclass(frozen=True)
class WantedTitle:
    """One request's wanted items, with what judging a release for it needs."""

    request_id: int
    kind: str  # "movie" | "tv"
    title: str
    year: int | None
    profile: QualityProfile
    items: tuple[WantedItem, ...]
    # Episodes the request has per season: a season pack's size is judged per episode over this many.
    season_sizes: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedDecision:
    outcome: FeedOutcome
    reason: str
    outcomes: tuple[Outcome, ...] = ()  # FEED_MATCH transitions, applied with the item's status as expected
    expected: Mapping[int, S] = field(default_factory=dict)  # item id -> the status the transition expects
    alternatives: Mapping[int, list[dict[str, Any]]] = field(default_factory=dict)  # item id -> new list


def index_wanted(titles: Iterable[WantedTitle]) -> dict[str, list[WantedTitle]]:
    """Wanted titles by normalised title, so one release is compared with its candidates only."""
    index: dict[str, list[WantedTitle]] = defaultdict(list)
    for wanted in titles:
        index[normalize_title(wanted.title)].append(wanted)
    return dict(index)


def covered_items(release: Release, wanted: WantedTitle) -> tuple[WantedItem, ...]:
    """The wanted items this release holds: the movie, or the episodes it names (a pack: all of its season)."""
    parsed = release.parsed
    if wanted.kind == "movie":
        return wanted.items if movie_matches(parsed, wanted.title, wanted.year) else ()
    if len(tuple(parsed.seasons or ())) > 1:
        return ()  # multi-season packs are skipped, as by search (their file mapping is fragile)
    return tuple(i for i in wanted.items if episode_matches(parsed, wanted.title, i.season, i.episode,
                                                            air_date=i.air_date, year=wanted.year))


def match_release(release: Release, index: Mapping[str, Sequence[WantedTitle]], blocklist: Iterable[str],
                  now: datetime, cfg: SearchConfig) -> FeedDecision:
    """What this release does to the wanted items: a FEED_MATCH per covered item when the profile accepts it, a
    kept alternative when it is below profile, nothing when it is blocklisted, rejected or not wanted."""
    name = release.parsed.series_title
    candidates = index.get(normalize_title(name), ()) if name else ()
    blocked = frozenset(blocklist)
    decisions = [_judge(release, wanted, items, blocked, now, cfg)
                 for wanted in candidates if (items := covered_items(release, wanted))]
    if not decisions:
        return FeedDecision(FeedOutcome.UNMATCHED, "no wanted item is this release")
    return _combine(decisions)


def _judge(release: Release, wanted: WantedTitle, items: tuple[WantedItem, ...], blocklist: frozenset[str],
           now: datetime, cfg: SearchConfig) -> FeedDecision:
    season = release.parsed.season if release.parsed.season is not None else 0
    verdict = evaluate(release, wanted.profile, episodes_wanted=wanted.season_sizes.get(season, len(items)),
                       blocklist=blocklist)
    if verdict.status == "rejected":
        outcome = FeedOutcome.BLOCKLISTED if verdict.reason == "blocklisted" else FeedOutcome.REJECTED
        return FeedDecision(outcome, verdict.reason)
    waiting = tuple(i for i in items if i.status in WANTING and i.status is not S.COMPLETED)
    if verdict.status == "below_profile":
        kept = {i.item_id: _merge_alternatives([release.to_dict()], i.alternatives, cfg) for i in waiting}
        return FeedDecision(FeedOutcome.ALTERNATIVE if kept else FeedOutcome.REJECTED, verdict.reason,
                            alternatives=kept)
    takers = (*waiting, *(i for i in items if i.status is S.COMPLETED and _upgrade(i, release, wanted.profile)))
    if not takers:
        return FeedDecision(FeedOutcome.REJECTED, "no upgrade of what is delivered")
    outcomes = tuple(_found(i, release, wanted.profile, now, cfg) for i in takers)
    return FeedDecision(FeedOutcome.MATCHED, verdict.reason, outcomes, {i.item_id: i.status for i in takers})


def below_cutoff(delivered: Mapping[str, Any] | None, profile: QualityProfile) -> bool:
    """Whether a COMPLETED item with this delivered release is worth searching upgrades for (a known release whose
    quality does not meet the profile's cutoff)."""
    if not delivered or not delivered.get("title"):
        return False
    return not meets_cutoff(quality_of(Release.from_dict(delivered).parsed), profile)


def _upgrade(item: WantedItem, release: Release, profile: QualityProfile) -> str | None:
    """Why ``release`` upgrades what the COMPLETED ``item`` delivered, or None."""
    held = Release.from_dict(item.delivered) if item.delivered and item.delivered.get("title") else None
    return upgrade_reason(held, release, profile)


def _found(item: WantedItem, release: Release, profile: QualityProfile, now: datetime,
           cfg: SearchConfig) -> Outcome:
    others = [dict(r) for r in item.alternatives if _key(r) != release.key][: cfg.keep_alternatives]
    fields = {"release": release.to_dict(), "available_releases": others, "quality_met": True,
              "next_retry_at": grab_at(release, profile, now, cfg)}
    if item.status is S.COMPLETED:
        fields["detail"] = f"upgrade: {_upgrade(item, release, profile)}"
    return Outcome(item.item_id, WANTING[item.status], fields=fields)


def _key(release: Mapping[str, Any]) -> str:
    return str(release.get("info_hash") or release.get("guid") or "")


def _merge_alternatives(new: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]],
                        cfg: SearchConfig) -> list[dict[str, Any]]:
    """The new releases first, then the item's current alternatives; each torrent once, ``keep_alternatives``
    at most."""
    merged: dict[str, dict[str, Any]] = {}
    for release in (*new, *current):
        merged.setdefault(_key(release), dict(release))
    return list(merged.values())[: cfg.keep_alternatives]


def _combine(decisions: Sequence[FeedDecision]) -> FeedDecision:
    best = min(decisions, key=lambda d: _PRECEDENCE.index(d.outcome))
    outcomes = tuple(o for d in decisions for o in d.outcomes)
    expected = {k: v for d in decisions for k, v in d.expected.items()}
    alternatives = {k: v for d in decisions for k, v in d.alternatives.items()}
    return FeedDecision(best.outcome, best.reason, outcomes, expected, alternatives)


@dataclass(frozen=True)
class BatchDecision:
    """One poll's releases: what each did (for the metrics), and per item the one outcome to apply."""

    per_release: tuple[tuple[Release, FeedDecision], ...]
    outcomes: tuple[Outcome, ...]
    expected: Mapping[int, S]  # item id -> the status its write expects (outcomes and alternatives)
    alternatives: Mapping[int, list[dict[str, Any]]]


def match_batch(releases: Sequence[Release], index: Mapping[str, Sequence[WantedTitle]], blocklist: Iterable[str],
                now: datetime, cfg: SearchConfig) -> BatchDecision:
    """Match every release of one poll; an item matched by several gets the best under its profile (ranked as a
    search ranks its results), the others kept as its alternatives."""
    blocked = frozenset(blocklist)
    per_release = tuple((r, match_release(r, index, blocked, now, cfg)) for r in releases)
    wanted = {i.item_id: (t, i) for titles in index.values() for t in titles for i in t.items}
    matches: dict[int, list[Release]] = defaultdict(list)
    below: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for release, decision in per_release:
        for outcome in decision.outcomes:
            matches[outcome.item_id].append(release)
        for item_id in decision.alternatives:
            below[item_id].append(release.to_dict())
    outcomes = [_best_match(wanted[item_id], found, below.get(item_id, []), blocked, now, cfg)
                for item_id, found in sorted(matches.items())]
    alternatives = {item_id: _merge_alternatives(new, wanted[item_id][1].alternatives, cfg)
                    for item_id, new in below.items() if item_id not in matches}
    expected = {item_id: wanted[item_id][1].status for item_id in (*matches, *alternatives)}
    return BatchDecision(per_release, tuple(outcomes), expected, alternatives)


def _best_match(wanted: tuple[WantedTitle, WantedItem], found: Sequence[Release], below: Sequence[dict[str, Any]],
                blocklist: frozenset[str], now: datetime, cfg: SearchConfig) -> Outcome:
    title, item = wanted
    ranked = rank(found, title.profile, episodes_wanted=title.season_sizes.get(item.season, 1), blocklist=blocklist)
    best = ranked.accepted[0] if ranked.accepted else found[0]
    others = [r.to_dict() for r in ranked.accepted[1:]]
    with_others = WantedItem(item.item_id, item.status, item.season, item.episode, item.air_date,
                             tuple(_merge_alternatives([*others, *below], item.alternatives, cfg)), item.delivered)
    return _found(with_others, best, title.profile, now, cfg)
