"""Show monitoring: which episodes a followed request wants, what a TMDB refresh adds and changes."""

from datetime import date

from annexd.domain.monitoring import Listing, Monitoring, plan_refresh, seasons_to_fetch
from annexd.domain.request_specs import EpisodeSpec

REQUESTED = date(2026, 3, 1)


def eps():
    return [EpisodeSpec(0, 1, "Special", date(2026, 1, 1)), EpisodeSpec(1, 1, "Old", date(2026, 1, 1)),
            EpisodeSpec(1, 2, "New", date(2026, 4, 1)), EpisodeSpec(2, 1, "TBA", None)]


def followed(monitoring):
    return [(e.season, e.episode) for e in eps() if monitoring.follows(e, REQUESTED)]


def test_none_follows_nothing_future_follows_what_airs_from_the_request_all_follows_everything():
    assert followed(Monitoring("none")) == []
    assert followed(Monitoring("future")) == [(1, 2), (2, 1)]
    assert followed(Monitoring("all")) == [(1, 1), (1, 2), (2, 1)]


def test_monitor_seasons_limit_both_and_specials_only_when_listed():
    assert followed(Monitoring("all", (1,))) == [(1, 1), (1, 2)]
    assert followed(Monitoring("future", (2,))) == [(2, 1)]
    assert followed(Monitoring("all", (0, 1))) == [(0, 1), (1, 1), (1, 2)]


def test_seasons_to_fetch_are_the_followed_ones_and_those_with_items():
    assert seasons_to_fetch(Monitoring("future"), [0, 1, 2, 3], [1]) == [1, 2, 3]
    assert seasons_to_fetch(Monitoring("all", (2,)), [0, 1, 2], [1, 9]) == [1, 2]
    assert seasons_to_fetch(Monitoring("none"), [1, 2], [1]) == [1]


def test_a_refresh_adds_new_followed_episodes_and_updates_listings():
    existing = {(1, 1): Listing(10, "Old", date(2026, 1, 1)), (1, 2): Listing(11, "TBA", None)}
    episodes = [EpisodeSpec(1, 1, "Old", date(2026, 1, 1)), EpisodeSpec(1, 2, "New", date(2026, 4, 1)),
                EpisodeSpec(1, 3, "Newer", date(2026, 4, 8)), EpisodeSpec(1, 0, "", None)]
    plan = plan_refresh(Monitoring("future"), REQUESTED, episodes, existing)
    assert [(e.season, e.episode) for e in plan.new] == [(1, 3), (1, 0)]
    assert plan.changed == ((11, "New", date(2026, 4, 1)),)


def test_an_unfollowed_request_only_has_its_listings_updated():
    existing = {(1, 1): Listing(10, "Old", date(2026, 1, 1))}
    plan = plan_refresh(Monitoring("none"), REQUESTED, [EpisodeSpec(1, 1, "Renamed", date(2026, 1, 2)),
                                                        EpisodeSpec(1, 2, "Next", date(2026, 5, 1))], existing)
    assert plan.new == () and plan.changed == ((10, "Renamed", date(2026, 1, 2)),)
