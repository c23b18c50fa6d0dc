from datetime import date
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.naming import (
    NamingTemplates,
    VideoFormat,
    check_relative,
    check_sanitized,
    join_under,
    quality_tag,
    render_episode_path,
    render_movie_path,
    sanitize,
    validate_template,
)
from annexd.errors import InvalidInputError, UnsafePathError


@pytest.mark.parametrize("raw, expected", [
    ("Star Wars: Episode IV", "Star Wars - Episode IV"),
    ('AC/DC \\ "Live" <at> Wembley? * |', "ACDC Live at Wembley"),
    ("  ...Hidden.  ", "Hidden"),
    ("a\tb\n\nc\x00d\x7fe", "a b cde"),
    ("Cafe\u0301", "Caf\u00e9"),  # NFC
    ("..", "Unknown"),
    ("", "Unknown"),
    ("///", "Unknown"),
])
def test_sanitize(raw: str, expected: str) -> None:
    assert sanitize(raw) == expected


@pytest.mark.parametrize("width, height, codec, expected", [
    (1920, 1080, "hevc", "1080p HEVC"),
    (1920, 800, "h264", "1080p H264"),  # scope: bucket from width
    (1280, 720, "av1", "720p AV1"),
    (1280, 534, "av1", "720p AV1"),
    (3840, 1600, "hevc", "2160p HEVC"),
    (720, 576, "mpeg2video", "576p MPEG2"),
    (720, 480, "mpeg2video", "480p MPEG2"),
    (640, 360, "vp9", "480p VP9"),
    (1920, 1080, "weird-codec!", "1080p WEIRDCODEC"),
])
def test_quality_tag(width: int, height: int, codec: str, expected: str) -> None:
    assert quality_tag(VideoFormat(width, height, codec)) == expected


def test_movie_default_template() -> None:
    path = render_movie_path("Blade Runner: 2049", 2017, "2160p HEVC", "mkv")
    assert path == PurePosixPath("Blade Runner - 2049 (2017)/Blade Runner - 2049 (2017) [2160p HEVC].mkv")


def test_movie_without_year_or_quality_has_no_empty_brackets() -> None:
    assert render_movie_path("Film", None, "", ".mkv") == PurePosixPath("Film/Film.mkv")


def test_episode_default_template() -> None:
    path = render_episode_path("The Office", 2, 3, year=2005, episode_title="Office Olympics",
                               quality="720p AV1", ext="mkv")
    assert path == PurePosixPath(
        "The Office (2005)/Season 02/The Office - S02E03 - Office Olympics [720p AV1].mkv")


def test_multi_episode_and_specials() -> None:
    multi = render_episode_path("Show", 1, [2, 1], year=2020, episode_title="Pilot", quality="1080p HEVC",
                                ext="mkv")
    assert multi.name == "Show - S01E01-E02 - Pilot [1080p HEVC].mkv"
    special = render_episode_path("Show", 0, 5, year=2020, quality="1080p HEVC", ext="mkv")
    assert special == PurePosixPath("Show (2020)/Season 00/Show - S00E05 [1080p HEVC].mkv")


def test_empty_episode_title_leaves_no_dangling_separator() -> None:
    path = render_episode_path("Show", 1, 1, year=2020, episode_title="  ", quality="1080p HEVC", ext="mkv")
    assert path.name == "Show - S01E01 [1080p HEVC].mkv"


def test_daily_show() -> None:
    path = render_episode_path("The Daily Show", None, None, year=1996, air_date=date(2011, 4, 18),
                               episode_title="Guest", quality="720p H264", ext="mp4", daily=True)
    assert path == PurePosixPath(
        "The Daily Show (1996)/Season 2011/The Daily Show - 2011-04-18 - Guest [720p H264].mp4")
    with pytest.raises(InvalidInputError):
        render_episode_path("Show", None, None, ext="mkv", daily=True)


def test_custom_template() -> None:
    templates = NamingTemplates(episode="{series}/S{season}/{episode:03} {episode_title}.{ext}")
    assert render_episode_path("S", 1, 7, ext="mkv", templates=templates) == PurePosixPath("S/S1/007.mkv")


def test_values_cannot_add_path_components() -> None:
    path = render_movie_path("../../etc/passwd", 2000, "../x", "mkv")
    assert len(path.parts) == 2 and ".." not in path.parts
    with pytest.raises(UnsafePathError):
        render_movie_path("x", 2000, "q", "../sh")


def test_validate_template() -> None:
    assert validate_template(NamingTemplates().movie, "movie") == []
    assert validate_template(NamingTemplates().episode, "episode") == []
    assert validate_template(NamingTemplates().daily, "daily") == []
    problems = validate_template("{title} {series}/{nope.attr}.{ext}", "movie")
    assert any("{series}" in p for p in problems) and any("nope.attr" in p for p in problems)
    assert validate_template("{title!r}.{ext}", "movie")
    assert validate_template("{title}.mkv", "movie")  # no {ext}
    assert validate_template("/abs/{title}.{ext}", "movie")
    assert validate_template("../{title}.{ext}", "movie")
    assert validate_template("{title:%Y}.{ext}", "movie")  # bad format spec for a string
    assert validate_template("{title.{ext}", "movie")  # malformed braces
    assert validate_template("{title}.{ext}", "song")


@pytest.mark.parametrize("bad", ["", "/etc", "a/../b", "..", "a//b", "./a", "a\\b", "a\0b"])
def test_check_relative_rejects(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relative(bad)


def test_join_under() -> None:
    assert join_under("/srv/media", "A (1)/a.mkv") == PurePosixPath("/srv/media/A (1)/a.mkv")
    for root, rel in [("/srv", "../x"), ("relative", "a"), ("/srv/../etc", "a"), ("/srv", "/etc/x")]:
        with pytest.raises(UnsafePathError):
            join_under(root, rel)


def _assert_safe(path: PurePosixPath) -> None:
    assert not path.is_absolute()
    assert all(part not in ("", ".", "..") for part in path.parts)
    assert all(len(part.encode("utf-8")) <= 255 for part in path.parts)
    assert check_relative(path) == path
    assert check_sanitized(path) == path
    assert join_under("/root", path).is_relative_to("/root")


@settings(max_examples=300, deadline=None)
@given(title=st.text(), quality=st.text(max_size=30), year=st.none() | st.integers(0, 9999))
def test_any_movie_title_yields_a_safe_relative_path(title: str, quality: str, year: int | None) -> None:
    path = render_movie_path(title, year, quality, "mkv")
    _assert_safe(path)
    assert len(path.parts) == 2


@settings(max_examples=200, deadline=None)
@given(series=st.text(), title=st.text(), season=st.integers(0, 3000),
       episodes=st.lists(st.integers(0, 9999), min_size=1, max_size=4))
def test_any_episode_yields_a_safe_relative_path(series: str, title: str, season: int,
                                                  episodes: list[int]) -> None:
    _assert_safe(render_episode_path(series, season, episodes, episode_title=title, quality="1080p HEVC",
                                     ext="mkv"))


@given(st.text(min_size=1000, max_size=3000))
@settings(max_examples=30, deadline=None)
def test_long_titles_are_truncated_to_name_max(title: str) -> None:
    path = render_movie_path(title, 2000, "1080p HEVC", "mkv")
    _assert_safe(path)
    assert path.suffix == ".mkv"


@given(st.text())
def test_sanitize_is_idempotent_and_never_empty(raw: str) -> None:
    once = sanitize(raw)
    assert once and sanitize(once) == once
    assert not any(ch in once for ch in '/\\?*"<>|:\0')
