"""What a TV request follows, as the API accepts it: monitor and monitor_seasons, with the config's default."""

from datetime import date

from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.http.app import followed_only
from annexd.http.validation import parse_request_body

EP = [{"season": 1, "episode": 1}]


def test_monitor_defaults_from_the_config_for_tv_only():
    spec, _ = parse_request_body({"type": "tv", "title": "S", "episodes": EP}, "future")
    assert (spec.monitor, spec.monitor_seasons) == ("future", None)
    movie, _ = parse_request_body({"type": "movie", "title": "M"}, "future")
    assert movie.monitor == "none"


def test_monitor_and_seasons_are_validated_with_reasons():
    _, problems = parse_request_body({"type": "tv", "title": "S", "episodes": EP, "monitor": "sometimes",
                                      "monitor_seasons": ["one"]})
    assert "monitor" in problems and "monitor_seasons" in problems
    _, problems = parse_request_body({"type": "movie", "title": "M", "monitor": "all"})
    assert problems["monitor"] == "only a TV request follows its show"
    _, problems = parse_request_body({"type": "tv", "title": "S", "monitor": "future"})
    assert "tmdb_id" in problems
    spec, problems = parse_request_body({"type": "tv", "title": "S", "tmdb_id": 5, "monitor": "all",
                                         "monitor_seasons": [2, 1, 2]})
    assert not problems and spec.monitor_seasons == (1, 2) and spec.episodes == ()


def test_a_followed_show_without_episodes_starts_with_what_it_follows():
    spec = RequestSpec(kind="tv", title="S", monitor="future", episodes=(
        EpisodeSpec(1, 1, "", date(2026, 1, 1)), EpisodeSpec(1, 2, "", date(2026, 7, 1)), EpisodeSpec(2, 1)))
    assert [(e.season, e.episode) for e in followed_only(spec, date(2026, 6, 1)).episodes] == [(1, 2), (2, 1)]
