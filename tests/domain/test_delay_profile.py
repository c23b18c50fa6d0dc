"""The delay profile (search.grab_delay_minutes): a found release waits unless it already meets the cutoff."""

from datetime import datetime, timedelta

from annexd.domain.quality import QualityProfile, Release
from annexd.domain.releases import parse_release
from annexd.domain.search import SearchConfig, Wanted, decide_episode, decide_movie, grab_at

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
PROFILE = QualityProfile(name="hd", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")


def rel(title, n=1, size=2 * GB):
    return Release(guid=f"{n:040x}", title=title, size=size, indexer="x", parsed=parse_release(title), seeders=9,
                   info_hash=f"{n:040x}")


def test_no_delay_configured_means_grab_at_once():
    assert grab_at(rel("Show.S01E01.720p.WEB-DL.x264-G"), PROFILE, NOW, SearchConfig()) is None


def test_a_release_below_the_cutoff_waits_the_delay():
    cfg = SearchConfig(grab_delay_minutes=45)
    assert grab_at(rel("Show.S01E01.720p.WEB-DL.x264-G"), PROFILE, NOW, cfg) == NOW + timedelta(minutes=45)


def test_a_release_meeting_the_cutoff_is_grabbed_at_once():
    cfg = SearchConfig(grab_delay_minutes=45)
    assert grab_at(rel("Show.S01E01.1080p.WEB-DL.x264-G"), PROFILE, NOW, cfg) is None


def test_search_outcomes_carry_the_delay():
    cfg = SearchConfig(grab_delay_minutes=60)
    item = Wanted(1, 1, 1, None, 0)
    below = decide_episode(item, "Show", None, [rel("Show.S01E01.720p.WEB-DL.x264-G")], PROFILE, (), NOW, cfg)
    assert below.fields["next_retry_at"] == NOW + timedelta(minutes=60)
    at = decide_movie(Wanted(2, 0, 0, None, 0), "Dune", 2021, [rel("Dune.2021.1080p.WEB-DL.x264-G", size=5 * GB)],
                      PROFILE, (), NOW, cfg)
    assert at.fields["next_retry_at"] is None and at.fields["release"]["title"].startswith("Dune.2021.1080p")
