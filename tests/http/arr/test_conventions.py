"""The *arr JSON conventions and the lookup term grammar (pure)."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from annexd.http.arr.conventions import Query, clean, lower_keys, parse_bool, timespan, utc, validation_error
from annexd.http.arr.terms import ById, ByTitle, Invalid, parse_term


def test_nulls_are_dropped_and_id_only_when_zero():
    body = {"id": 0, "title": "Dune", "year": None, "tags": [], "movieFile": {"id": 3, "x": None},
            "seasons": [{"id": 0, "seasonNumber": 0}]}
    assert clean(body) == {"title": "Dune", "tags": [], "movieFile": {"id": 3}, "seasons": [{"seasonNumber": 0}]}
    assert clean({"id": 7})["id"] == 7


def test_datetimes_are_utc_without_fraction_and_timespans_dotnet_style():
    assert utc(datetime(2024, 5, 1, 12, 3, 4, 987000)) == "2024-05-01T12:03:04Z"
    aware = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc(aware) == "2024-05-01T12:00:00Z" and utc(datetime(2024, 5, 1, 12, tzinfo=UTC)) == utc(aware)
    assert utc(date(2011, 4, 17)) == "2011-04-17T00:00:00Z" and utc(None) is None
    assert [timespan(s) for s in (0, 59, 3661, 90061.9, -5)] == [
        "00:00:00", "00:00:59", "01:01:01", "1.01:01:01", "00:00:00"]


def test_query_names_match_case_insensitively_and_booleans_take_either_spelling():
    query = Query.of([("TMDBID", "603"), ("movieIds", "1"), ("movieids", "2,3"), ("deleteFiles", "True")])
    assert query.integer("tmdbId") == 603 and query.integers("movieIds") == [1, 2, 3]
    assert query.flag("deletefiles") and not query.flag("absent") and query.flag("absent", True)
    assert [parse_bool(v) for v in ("true", "True", "TRUE", "1", "false", "yes")] == [True] * 4 + [False] * 2
    with pytest.raises(ValueError):
        Query.of([("page", "x")]).integer("page")


def test_body_keys_are_read_case_insensitively():
    assert lower_keys({"TmdbId": 1, "AddOptions": {"SearchForMovie": True}, "Seasons": [{"SeasonNumber": 1}]}) == {
        "tmdbid": 1, "addoptions": {"searchformovie": True}, "seasons": [{"seasonnumber": 1}]}


def test_validation_error_has_the_apps_fields():
    error = validation_error("TmdbId", "This movie has already been added", 603)
    assert set(error) == {"propertyName", "errorMessage", "attemptedValue", "severity", "errorCode",
                          "formattedMessagePlaceholderValues"}
    assert error["severity"] == "error"


@pytest.mark.parametrize(("term", "app", "expected"), [
    ("tmdb:603", "radarr", ById("tmdb", "603")),
    ("TMDBID: 603", "radarr", ById("tmdb", "603")),
    ("imdb:tt0133093", "radarr", ById("imdb", "tt0133093")),
    ("https://www.imdb.com/title/tt0133093/", "radarr", ById("imdb", "tt0133093")),
    ("https://www.themoviedb.org/movie/603-the-matrix", "radarr", ById("tmdb", "603")),
    ("The Matrix 1999", "radarr", ByTitle("The Matrix", 1999)),
    ("The Matrix (1999)", "radarr", ByTitle("The Matrix", 1999)),
    ("1917", "radarr", ByTitle("1917")),
    ("tvdb:121361", "sonarr", ById("tvdb", "121361")),
    ("tvdbid:121361", "sonarr", ById("tvdb", "121361")),
    ("tmdb:1399", "sonarr", ById("tmdb", "1399")),
    ("Game of Thrones 2011", "sonarr", ByTitle("Game of Thrones 2011")),
])
def test_lookup_terms(term, app, expected):
    assert parse_term(term, app) == expected


@pytest.mark.parametrize(("term", "app"), [("tmdb:x", "radarr"), ("tvdb:0", "sonarr"), ("imdb:603", "radarr"),
                                           ("tvdb:5", "radarr"), ("imdb:tt1", "sonarr"), ("  ", "radarr")])
def test_malformed_ids_are_invalid(term, app):
    assert isinstance(parse_term(term, app), Invalid)
