"""The pure matcher: a feed release -> the wanted items it satisfies, judged as a search result is."""

from datetime import date, datetime, timedelta

from annexd.domain.feed_match import (
    FeedOutcome,
    WantedItem,
    WantedTitle,
    index_wanted,
    match_batch,
    match_release,
)
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.quality import QualityProfile, Release, make_guid
from annexd.domain.releases import parse_release
from annexd.domain.search import SearchConfig

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
CFG = SearchConfig()
PROFILE = QualityProfile(name="hd", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")


def rel(title, size=2 * GB, seeders=20, n=1):
    return Release(guid=make_guid(f"{n:040x}", title), title=title, size=size, indexer="feed", parsed=parse_release(title),
                   seeders=seeders, info_hash=f"{n:040x}")


def show(*items, title="The Show", year=None, request_id=1, sizes=None, profile=PROFILE):
    return WantedTitle(request_id, "tv", title, year, profile, tuple(items), sizes or {1: 10})


def ep(item_id, episode, status=S.AWAITING, season=1, alternatives=(), air_date=None):
    return WantedItem(item_id, status, season, episode, air_date, tuple(alternatives))


def test_an_episode_release_moves_the_awaiting_episode_to_found():
    index = index_wanted([show(ep(10, 3), ep(11, 4))])
    decision = match_release(rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP"), index, (), NOW, CFG)
    assert decision.outcome is FeedOutcome.MATCHED
    [outcome] = decision.outcomes
    assert (outcome.item_id, outcome.event) == (10, Event.FEED_MATCH)
    assert outcome.fields["release"]["title"] == "The.Show.S01E03.1080p.WEB-DL.x264-GRP"
    assert outcome.fields["quality_met"] is True and outcome.fields["next_retry_at"] is None
    assert decision.expected == {10: S.AWAITING}


def test_a_season_pack_covers_every_wanted_episode_of_its_season():
    index = index_wanted([show(ep(10, 1), ep(11, 2), ep(12, 1, season=2), sizes={1: 2, 2: 1})])
    decision = match_release(rel("The.Show.S01.1080p.WEB-DL.x264-PACK", size=4 * GB), index, (), NOW, CFG)
    assert sorted(o.item_id for o in decision.outcomes) == [10, 11]


def test_other_shows_years_and_episodes_do_not_match():
    index = index_wanted([show(ep(10, 3), title="Doctor Who", year=2005)])
    for title in ("The.Show.S01E03.1080p.WEB-DL.x264-GRP", "Doctor.Who.1963.S01E03.1080p.WEB-DL.x264-GRP",
                  "Doctor.Who.2005.S01E04.1080p.WEB-DL.x264-GRP", "Doctor.Who.2005.S01-S02.1080p.WEB-DL.x264-GRP"):
        assert match_release(rel(title), index, (), NOW, CFG).outcome is FeedOutcome.UNMATCHED, title
    assert match_release(rel("Doctor.Who.2005.S01E03.1080p.WEB-DL.x264-GRP"), index, (), NOW,
                         CFG).outcome is FeedOutcome.MATCHED


def test_a_daily_show_matches_on_its_air_date():
    index = index_wanted([show(ep(10, 20240501, air_date=date(2024, 5, 1), season=2024), title="Daily Show")])
    decision = match_release(rel("Daily.Show.2024.05.01.1080p.WEB-DL.x264-X"), index, (), NOW, CFG)
    assert [o.item_id for o in decision.outcomes] == [10]


def test_a_movie_matches_by_title_and_year():
    movie = WantedTitle(2, "movie", "Dune", 2021, PROFILE, (WantedItem(20, S.QUALITY_UNAVAILABLE),), {})
    index = index_wanted([movie])
    assert match_release(rel("Dune.1984.1080p.WEB-DL.x264-GRP", size=5 * GB), index, (), NOW,
                         CFG).outcome is FeedOutcome.UNMATCHED
    decision = match_release(rel("Dune.2021.1080p.WEB-DL.x264-GRP", size=5 * GB), index, (), NOW, CFG)
    assert [(o.item_id, o.event) for o in decision.outcomes] == [(20, Event.FEED_MATCH)]
    assert decision.expected == {20: S.QUALITY_UNAVAILABLE}


def test_below_profile_is_kept_as_an_alternative_not_grabbed():
    old = rel("The.Show.S01E03.720p.HDTV.x264-OLD", n=7).to_dict()
    index = index_wanted([show(ep(10, 3, alternatives=[old]))])
    decision = match_release(rel("The.Show.S01E03.480p.WEB-DL.x264-SD", size=GB // 2), index, (), NOW, CFG)
    assert decision.outcome is FeedOutcome.ALTERNATIVE and not decision.outcomes
    assert [r["title"] for r in decision.alternatives[10]] == ["The.Show.S01E03.480p.WEB-DL.x264-SD",
                                                               "The.Show.S01E03.720p.HDTV.x264-OLD"]


def test_blocklisted_and_out_of_size_releases_are_ignored():
    index = index_wanted([show(ep(10, 3))])
    blocked = rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP", n=5)
    assert match_release(blocked, index, {blocked.info_hash}, NOW, CFG).outcome is FeedOutcome.BLOCKLISTED
    huge = rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP", size=60 * GB)
    decision = match_release(huge, index, (), NOW, CFG)
    assert decision.outcome is FeedOutcome.REJECTED and "too large" in decision.reason and not decision.outcomes


def test_items_not_waiting_are_not_wanted():
    # Only the statuses in WANTING take a feed release; the store only loads those, but the matcher checks too.
    index = index_wanted([show(ep(10, 3, status=S.DOWNLOADING))])
    decision = match_release(rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP"), index, (), NOW, CFG)
    assert decision.outcomes == ()


def test_a_batch_gives_each_item_its_best_release_and_keeps_the_rest():
    index = index_wanted([show(ep(10, 3))])
    worse = rel("The.Show.S01E03.720p.WEB-DL.x264-GRP", n=1)
    better = rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP", n=2)
    sd = rel("The.Show.S01E03.480p.WEB-DL.x264-SD", size=GB // 2, n=3)
    batch = match_batch([worse, sd, better], index, (), NOW, CFG)
    [outcome] = batch.outcomes
    assert outcome.fields["release"]["info_hash"] == better.info_hash
    assert [r["info_hash"] for r in outcome.fields["available_releases"]] == [worse.info_hash, sd.info_hash]
    assert [d.outcome for _, d in batch.per_release] == [FeedOutcome.MATCHED, FeedOutcome.ALTERNATIVE,
                                                         FeedOutcome.MATCHED]
    assert batch.alternatives == {}


def test_the_grab_delay_applies_below_the_cutoff_only():
    cfg = SearchConfig(grab_delay_minutes=30)
    index = index_wanted([show(ep(10, 3), ep(11, 4))])
    at_cutoff = match_release(rel("The.Show.S01E03.1080p.WEB-DL.x264-GRP"), index, (), NOW, cfg)
    below_cutoff = match_release(rel("The.Show.S01E04.720p.WEB-DL.x264-GRP"), index, (), NOW, cfg)
    assert at_cutoff.outcomes[0].fields["next_retry_at"] is None
    assert below_cutoff.outcomes[0].fields["next_retry_at"] == NOW + timedelta(minutes=30)
