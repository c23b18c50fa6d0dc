"""One request per title (SQLite and PostgreSQL): a new request for a title already requested adds what is new to
that request, nothing new changes nothing, a wholly cancelled request frees the title, and two concurrent
submits of a new title create one request."""

import threading
from dataclasses import replace
from datetime import datetime

import pytest

from annexd.domain.request_specs import EpisodeSpec, RequestSpec, normalise_title, title_key
from store import migrate, queries
from store.models import MediaRequest, ProcessingItem

NOW = datetime(2026, 3, 1, 12, 0, 0)


def _tv(*episodes, title="The Show", tmdb_id=None, targets=(), seasons=None):
    return RequestSpec(kind="tv", title=title, tmdb_id=tmdb_id, targets=tuple(targets), seasons=seasons,
                       episodes=tuple(EpisodeSpec(s, e) for s, e in episodes))


def _episodes(request_id):
    return sorted((i.season, i.episode) for i in queries.request_items(request_id))


def test_title_key_ignores_case_accents_and_punctuation_but_not_year_or_kind():
    assert normalise_title("  Amélie: The Fabulous-Destiny!! ") == "amelie the fabulous destiny"
    assert title_key("movie", None, "Blade Runner", 1982) == title_key("movie", None, "blade  runner.", 1982)
    assert title_key("movie", None, "Blade Runner", 1982) != title_key("movie", None, "Blade Runner", 2017)
    assert title_key("movie", None, "Dune", None) != title_key("tv", None, "Dune", None)
    assert title_key("movie", 438631, "Dune", 2021) == title_key("movie", 438631, "DUNE (2021)", None)


def test_a_new_title_is_created_and_the_same_one_again_changes_nothing(db):
    first = queries.submit_request(RequestSpec(kind="movie", title="Blade Runner", year=1982), NOW)
    again = queries.submit_request(RequestSpec(kind="movie", title="blade runner", year=1982), NOW)
    assert first.created and first.changed
    assert (again.request_id, again.created, again.changed) == (first.request_id, False, False)
    assert MediaRequest.select().count() == 1 and ProcessingItem.select().count() == 1
    other_year = queries.submit_request(RequestSpec(kind="movie", title="Blade Runner", year=2017), NOW)
    assert other_year.created and other_year.request_id != first.request_id


def test_new_episodes_seasons_and_targets_are_added_to_the_request_holding_the_title(db):
    first = queries.submit_request(_tv((1, 1), (1, 2), tmdb_id=42, targets=["nas"], seasons=(1,)), NOW)
    more = queries.submit_request(_tv((1, 2), (1, 3), (2, 1), title="Renamed Show", tmdb_id=42,
                                      targets=["nas", "box"], seasons=(1, 2)), NOW)
    assert (more.request_id, more.created, more.changed) == (first.request_id, False, True)
    assert more.added.as_dict() == {"episodes": [{"season": 1, "episode": 3}, {"season": 2, "episode": 1}],
                                    "seasons": [2], "targets": ["box"], "monitor": None}
    req = queries.get_request(first.request_id)
    assert _episodes(req.id) == [(1, 1), (1, 2), (1, 3), (2, 1)]
    assert req.targets == ["nas", "box"] and req.requested_seasons == [1, 2] and req.title == "The Show"
    nothing = queries.submit_request(_tv((2, 1), tmdb_id=42, targets=["box"]), NOW)
    assert not nothing.changed and nothing.request_id == first.request_id


def test_following_the_show_is_new_but_asking_again_without_following_is_not(db):
    first = queries.submit_request(_tv((1, 1), tmdb_id=5), NOW)
    follow = replace(_tv((1, 1), tmdb_id=5), monitor="future", monitor_seasons=(1, 2))
    outcome = queries.submit_request(follow, NOW)
    assert outcome.request_id == first.request_id and outcome.added.monitor == "future"
    req = queries.get_request(first.request_id)
    assert (req.monitor, req.monitor_seasons) == ("future", [1, 2])
    assert not queries.submit_request(follow, NOW).changed
    assert not queries.submit_request(_tv((1, 1), tmdb_id=5), NOW).changed  # "none" never unfollows
    assert queries.get_request(first.request_id).monitor == "future"


def test_a_wholly_cancelled_request_frees_its_title(db):
    first = queries.submit_request(_tv((1, 1), (1, 2)), NOW)
    assert queries.request_for_title(_tv(title="the SHOW")).id == first.request_id
    queries.cancel_request(first.request_id, NOW)
    assert queries.request_for_title(_tv()) is None
    again = queries.submit_request(_tv((1, 1)), NOW)
    assert again.created and again.request_id != first.request_id
    # ...while a request with one live item still holds it
    third = queries.submit_request(_tv((1, 1), (1, 5)), NOW)
    assert third.request_id == again.request_id and third.added.as_dict()["episodes"] == [
        {"season": 1, "episode": 5}]


def test_two_concurrent_submits_of_a_new_title_create_one_request(db):
    outcomes = []
    barrier = threading.Barrier(6)

    def submit(n):
        with db.connection_context():
            barrier.wait(10)
            outcomes.append(queries.submit_request(_tv((1, n), title="Race", tmdb_id=7), NOW))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 6
    assert sum(o.created for o in outcomes) == 1 and len({o.request_id for o in outcomes}) == 1
    assert MediaRequest.select().count() == 1
    assert _episodes(outcomes[0].request_id) == [(1, n) for n in range(1, 7)]


def test_the_migration_fills_in_the_title_of_existing_requests(db):
    done = migrate.applied(db)
    undone = migrate.rollback(db, len(done) - done.index("040_add_request_title_key"))
    assert undone[-1] == "040_add_request_title_key"
    db.execute_sql("INSERT INTO media_request (kind, title, year, tmdb_id, targets, quality_profile, requested_by,"
                   " approval, priority, status, created_at, updated_at) VALUES ('movie', 'Alien!', 1979, NULL, "
                   "'[]', 'default', 'api', 'approved', 0, 'EMPTY', '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    assert migrate.apply_all(db) == list(reversed(undone))
    assert MediaRequest.get().title_key == "movie:title:alien:1979"
    outcome = queries.submit_request(RequestSpec(kind="movie", title="Alien", year=1979), NOW)
    assert not outcome.created


@pytest.mark.parametrize("kind", ["movie", "tv"])
def test_only_what_is_new_counts(kind):
    from annexd.domain.request_specs import additions

    spec = RequestSpec(kind=kind, title="X", targets=("a", "b"), seasons=(1, 2),
                       episodes=(EpisodeSpec(1, 1), EpisodeSpec(1, 2)) if kind == "tv" else ())
    assert not additions(spec, {(1, 1), (1, 2), (0, 0)}, (1, 2), ("b", "a"))
    added = additions(spec, {(1, 1)}, None, ("a",))
    assert added.targets == ("b",) and added.seasons == (1, 2)
    assert [(e.season, e.episode) for e in added.episodes] == ([(1, 2)] if kind == "tv" else [])
