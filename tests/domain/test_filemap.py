"""annexd.domain.filemap: classify a torrent's files and map them onto the wanted movie or episodes."""

from __future__ import annotations

import datetime

import pytest

from annexd.domain.filemap import (
    MOVIE_KEY,
    FileKind,
    WantedEpisode,
    WantedMovie,
    archive_first_volumes,
    classify,
    map_files,
)
from annexd.errors import UnsafePathError

MB = 1_000_000


def episodes(season: int, *numbers: int) -> list[WantedEpisode]:
    return [WantedEpisode(season, n) for n in numbers]


def test_season_pack_with_sample_and_nfo() -> None:
    files = [
        ("Show.S01.1080p.WEB-DL-GRP/Show.S01E01.1080p.WEB-DL-GRP.mkv", 700 * MB),
        ("Show.S01.1080p.WEB-DL-GRP/Show.S01E02.1080p.WEB-DL-GRP.mkv", 690 * MB),
        ("Show.S01.1080p.WEB-DL-GRP/Show.S01E03.1080p.WEB-DL-GRP.mkv", 710 * MB),
        ("Show.S01.1080p.WEB-DL-GRP/Sample/show.s01e01.sample.mkv", 20 * MB),
        ("Show.S01.1080p.WEB-DL-GRP/show.nfo", 2000),
        ("Show.S01.1080p.WEB-DL-GRP/Subs/Show.S01E01.en.srt", 40_000),
    ]
    m = map_files(files, episodes(1, 1, 2, 3))
    assert {k: v.path.rsplit("/", 1)[1] for k, v in m.matched.items()} == {
        (1, 1): "Show.S01E01.1080p.WEB-DL-GRP.mkv",
        (1, 2): "Show.S01E02.1080p.WEB-DL-GRP.mkv",
        (1, 3): "Show.S01E03.1080p.WEB-DL-GRP.mkv",
    }
    assert m.complete and not m.needs_extraction
    reasons = dict(m.ignored)
    assert reasons["Show.S01.1080p.WEB-DL-GRP/Sample/show.s01e01.sample.mkv"] == "sample"
    assert reasons["Show.S01.1080p.WEB-DL-GRP/show.nfo"].startswith("not a video")
    assert reasons["Show.S01.1080p.WEB-DL-GRP/Subs/Show.S01E01.en.srt"] == "subtitle"
    assert m.matched[(1, 2)].parsed is not None and m.matched[(1, 2)].parsed.resolution == 1080


def test_parent_directory_supplies_the_season() -> None:
    files = [("Show.S02.720p/Episode 3.mkv", 300 * MB), ("Show.S02.720p/Episode 4.mkv", 300 * MB)]
    m = map_files(files, episodes(2, 3, 4))
    assert set(m.matched) == {(2, 3), (2, 4)}


def test_partial_pack_reports_each_missing_episode() -> None:
    files = [("Show.S01/Show.S01E01.mkv", 500 * MB), ("Show.S01/Show.S01E05.mkv", 500 * MB)]
    m = map_files(files, episodes(1, 1, 2, 3))
    assert set(m.matched) == {(1, 1)}
    assert m.unmatched_expected == {(1, 2): "no file for S01E02", (1, 3): "no file for S01E03"}
    assert ("Show.S01/Show.S01E05.mkv", "not wanted (S01E05)") in m.ignored
    assert not m.complete


def test_multi_episode_files_map_every_episode_to_one_file() -> None:
    files = [("Show.S03E01E02.1080p.mkv", 1400 * MB), ("Show.S03E03-E05.1080p.mkv", 2100 * MB)]
    m = map_files(files, episodes(3, 1, 2, 3, 4, 5))
    assert m.complete
    assert m.matched[(3, 1)] is m.matched[(3, 2)] or m.matched[(3, 1)] == m.matched[(3, 2)]
    assert m.matched[(3, 1)].keys == ((3, 1), (3, 2))
    assert m.matched[(3, 4)].path == "Show.S03E03-E05.1080p.mkv" and m.matched[(3, 4)].keys == ((3, 3), (3, 4), (3, 5))


def test_daily_show_maps_by_air_date() -> None:
    wanted = [
        WantedEpisode(2024, 41, datetime.date(2024, 3, 5)),
        WantedEpisode(2024, 42, datetime.date(2024, 3, 6)),
    ]
    files = [("The.Daily.Show.2024.03.05.1080p.mkv", 900 * MB), ("The.Daily.Show.2024.03.07.1080p.mkv", 900 * MB)]
    m = map_files(files, wanted)
    assert m.matched[(2024, 41)].path == "The.Daily.Show.2024.03.05.1080p.mkv"
    assert set(m.unmatched_expected) == {(2024, 42)}


def test_multi_season_pack() -> None:
    files = [
        ("Show.S01-S02.Complete/Season 1/Show.S01E01.mkv", 500 * MB),
        ("Show.S01-S02.Complete/Season 1/Show.S01E02.mkv", 500 * MB),
        ("Show.S01-S02.Complete/Season 2/Show.S02E01.mkv", 500 * MB),
        ("Show.S01-S02.Complete/Season 2/Show.S02E02.mkv", 500 * MB),
    ]
    m = map_files(files, [*episodes(1, 1, 2), *episodes(2, 1, 2)])
    assert m.complete
    assert m.matched[(2, 1)].path.endswith("Season 2/Show.S02E01.mkv")


def test_duplicate_episode_keeps_the_larger_file() -> None:
    files = [("a/Show.S01E01.720p.mkv", 400 * MB), ("a/Show.S01E01.1080p.mkv", 900 * MB)]
    m = map_files(files, episodes(1, 1))
    assert m.matched[(1, 1)].path == "a/Show.S01E01.1080p.mkv"
    assert ("a/Show.S01E01.720p.mkv", "duplicate: a larger file was kept for the same episode") in m.ignored


def test_single_episode_with_an_unhelpful_name() -> None:
    m = map_files([("abc123.mkv", 500 * MB), ("abc123.nfo", 10)], episodes(4, 7))
    assert m.matched[(4, 7)].path == "abc123.mkv"


def test_movie_takes_the_largest_main_video() -> None:
    files = [
        ("Movie.2020.1080p.BluRay.x264-GRP/Movie.2020.1080p.BluRay.x264-GRP.mkv", 8000 * MB),
        ("Movie.2020.1080p.BluRay.x264-GRP/Featurettes/Making.Of.mkv", 1200 * MB),
        ("Movie.2020.1080p.BluRay.x264-GRP/Behind The Scenes/bts.mp4", 900 * MB),
        ("Movie.2020.1080p.BluRay.x264-GRP/movie-sample.mkv", 50 * MB),
        ("Movie.2020.1080p.BluRay.x264-GRP/trailer.mp4", 100 * MB),
        ("Movie.2020.1080p.BluRay.x264-GRP/poster.jpg", 1 * MB),
    ]
    m = map_files(files, WantedMovie("Movie", 2020))
    assert m.matched[MOVIE_KEY].path.endswith("GRP.mkv") and m.complete
    kinds = {c.path.rsplit("/", 1)[1]: c.kind for c in m.files}
    assert kinds == {
        "Movie.2020.1080p.BluRay.x264-GRP.mkv": FileKind.VIDEO, "Making.Of.mkv": FileKind.EXTRA,
        "bts.mp4": FileKind.EXTRA, "movie-sample.mkv": FileKind.SAMPLE, "trailer.mp4": FileKind.SAMPLE,
        "poster.jpg": FileKind.OTHER,
    }


def test_sample_is_a_word_not_a_substring() -> None:
    classified, _ = classify([("Samples.Of.Life.S01E01.mkv", 500 * MB), ("x/Show.S01E02.Sample.mkv", 500 * MB)])
    assert [c.kind for c in classified] == [FileKind.VIDEO, FileKind.SAMPLE]


def test_movie_without_video() -> None:
    m = map_files([("Movie/movie.nfo", 10)], WantedMovie())
    assert m.unmatched_expected == {MOVIE_KEY: "no main video file"}


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs/file.mkv", "a/../../b.mkv", "a//b.mkv", "a\x00.mkv"])
def test_unsafe_names_are_rejected(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        map_files([("ok/Show.S01E01.mkv", 10), (bad, 10)], episodes(1, 1))


def test_rar_sets_are_reported_for_extraction() -> None:
    files = [
        ("Show.S01E01.720p-GRP/show.rar", 50 * MB), ("Show.S01E01.720p-GRP/show.r00", 50 * MB),
        ("Show.S01E01.720p-GRP/show.r01", 50 * MB), ("Show.S01E01.720p-GRP/show.nfo", 10),
        ("Show.S01E01.720p-GRP/Sample/show.sample.mkv", 5 * MB),
    ]
    m = map_files(files, episodes(1, 1))
    assert m.needs_extraction and m.archives == ("Show.S01E01.720p-GRP/show.rar",)
    assert "extract them" in m.unmatched_expected[(1, 1)]
    assert archive_first_volumes(["a/x.part01.rar", "a/x.part02.rar", "b/y.part1.rar", "b/y.part2.rar"]) == (
        "a/x.part01.rar", "b/y.part1.rar",
    )


def test_accepts_objects_with_relative_path_and_size() -> None:
    class F:
        def __init__(self, relative_path: str, size: int):
            self.relative_path, self.size = relative_path, size

    m = map_files([F("Show.S01E01.mkv", 10)], episodes(1, 1))
    assert m.matched[(1, 1)].path == "Show.S01E01.mkv"
