"""Tests for annexd.domain.releases: a scored real-world-style corpus (vs guessit), per-category cases, properties."""

from __future__ import annotations

import datetime
import functools
import re
import string
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.quality import ALL_QUALITIES, quality_of
from annexd.domain.releases import ParsedRelease, normalize_title, parse_release

CORPUS_PATH = Path(__file__).resolve().parents[1] / "data" / "release_corpus.tsv"
ALWAYS_CHECKED = {"title": "", "s": None, "e": (), "full": False, "date": None}
OPTIONAL = {"year", "res", "src", "codec", "grp", "seasons", "proper", "repack"}
REQUIRED_SCORE = 0.97

Fields = dict[str, Any]


# --- corpus ---------------------------------------------------------------------------------------------------

def _value(key: str, raw: str) -> Any:
    if raw == "none":
        return None
    if key in ("s", "year", "res"):
        return int(raw)
    if key in ("e", "seasons"):
        return tuple(int(x) for x in raw.split(",") if x)
    if key in ("full", "proper", "repack"):
        return raw == "1"
    if key == "date":
        return datetime.date.fromisoformat(raw)
    if key == "title":
        return normalize_title(raw)
    return raw


def load_corpus(path: Path = CORPUS_PATH) -> list[tuple[str, str, Fields]]:
    """(category, name, expected fields) rows; unknown keys are an error so typos cannot silently pass."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, name, spec = line.split("\t")
        expected: Fields = dict(ALWAYS_CHECKED)
        for item in spec.split("|"):
            key, _, raw = item.partition("=")
            if key not in ALWAYS_CHECKED and key not in OPTIONAL:
                raise ValueError(f"unknown key {key!r} in corpus line {line!r}")
            expected[key] = _value(key, raw)
        rows.append((category, name, expected))
    return rows


def ours(name: str) -> Fields:
    p = parse_release(name)
    return {"title": normalize_title(p.series_title), "s": p.season, "e": p.episodes, "full": p.full_season,
            "date": p.air_date, "year": p.year, "res": p.resolution, "src": p.source, "codec": p.codec,
            "grp": p.group, "seasons": p.seasons, "proper": p.proper, "repack": p.repack}


# guessit's vocabulary mapped onto annexd's, so both are scored on the same fields.
_GUESSIT_SOURCE = {"Web": "webdl", "Blu-ray": "bluray", "HDTV": "hdtv", "Analog HDTV": "hdtv",
                   "Ultra HDTV": "hdtv", "DVD": "dvd", "TV": "sdtv", "Digital TV": "sdtv", "Satellite": "sdtv",
                   "Camera": "cam", "HD Camera": "cam", "Telesync": "telesync", "HD Telesync": "telesync",
                   "Telecine": "telesync", "HD Telecine": "telesync", "Screener": "screener", "HD-DVD": "bluray",
                   "Ultra HD Blu-ray": "bluray"}
_GUESSIT_CODEC = {"H.264": "x264", "H.265": "x265", "AV1": "av1", "Xvid": "xvid", "DivX": "xvid", "VC-1": "vc1",
                  "MPEG-2": "mpeg2", "VP9": "vp9"}
_RES = {"360p": 480, "480p": 480, "480i": 480, "540p": 480, "576p": 576, "576i": 576, "720p": 720,
        "1080p": 1080, "1080i": 1080, "1440p": 1080, "2160p": 2160, "4320p": 2160}


def _as_tuple(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


@functools.cache  # guessit takes milliseconds per name; two tests use the same results
def theirs(name: str) -> Fields:
    from guessit import guessit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = guessit(name)
    other = _as_tuple(g.get("other"))
    seasons = _as_tuple(g.get("season"))
    episodes = _as_tuple(g.get("episode"))
    source = _GUESSIT_SOURCE.get(str(g.get("source")))
    if "Screener" in other:
        source = "screener"
    elif source == "bluray" and "Remux" in other:
        source = "remux"
    elif source == "webdl" and "Rip" in other:
        source = "webrip"
    title = str(g.get("title", ""))
    if g.get("country") is not None:  # guessit splits "The.Office.US" into title + country; annexd keeps both
        title = f"{title} {getattr(g['country'], 'alpha2', g['country'])}"
    # guessit files REPACK/RERIP under "Proper" too; the name tells the two apart.
    repack_word = any(w in name.lower() for w in ("repack", "rerip"))
    full = not episodes and g.get("date") is None and (bool(seasons) or "Complete" in other) \
        and g.get("type") == "episode"
    return {"title": normalize_title(title), "s": seasons[0] if seasons else None,
            "e": tuple(e for e in episodes if isinstance(e, int)), "full": full, "date": g.get("date"),
            "year": g.get("year"), "res": _guessit_resolution(str(g.get("screen_size"))), "src": source,
            "codec": _GUESSIT_CODEC.get(str(g.get("video_codec"))), "grp": g.get("release_group"),
            "seasons": seasons, "proper": "Proper" in other and not repack_word,
            "repack": "Proper" in other and repack_word}


def _guessit_resolution(screen_size: str) -> int | None:
    if "x" in screen_size:  # "1920x800": same width-first rule as annexd, so only the parsing is compared
        width, _, height = screen_size.partition("x")
        if width.isdigit() and height.isdigit():
            w, h = int(width), int(height)
            return 2160 if w >= 3600 else 1080 if w >= 1800 else 720 if w >= 1200 else 576 if h >= 560 else 480
    return _RES.get(screen_size)


def mismatches(expected: Fields, actual: Fields) -> list[str]:
    return [f"{k}: want {v!r} got {actual.get(k)!r}" for k, v in expected.items() if actual.get(k) != v]


def score(parser: Callable[[str], Fields], rows: list[tuple[str, str, Fields]]) -> tuple[float, list[str]]:
    """Fraction of rows where every expected field matches, and one line per missed row."""
    failures = []
    for _category, name, expected in rows:
        try:
            bad = mismatches(expected, parser(name))
        except Exception as exc:  # a crash is a miss, not a test error: guessit does raise on odd names
            bad = [f"raised {exc!r}"]
        if bad:
            failures.append(f"{name}: {'; '.join(bad)}")
    return 1 - len(failures) / len(rows), failures


CORPUS = load_corpus()


# --- corpus score ---------------------------------------------------------------------------------------------

def test_corpus_is_large_and_varied() -> None:
    categories = Counter(category for category, _, _ in CORPUS)
    assert len(CORPUS) >= 400
    assert len({name for _, name, _ in CORPUS}) == len(CORPUS), "duplicate names"
    assert all(categories[c] >= 10 for c in ("scene", "numbers", "compact", "nxnn", "multi", "pack", "foreign",
                                             "multiseason", "daily", "anime", "movie", "path", "lower"))


def test_corpus_score(capsys: pytest.CaptureFixture[str]) -> None:
    result, failures = score(ours, CORPUS)
    with capsys.disabled():
        print(f"\nannexd.domain.releases corpus score: {result:.4f} ({len(CORPUS) - len(failures)}/{len(CORPUS)})")
        for failure in failures:
            print("  MISS", failure)
    assert result >= REQUIRED_SCORE


def test_guessit_score_for_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    ours_score, _ = score(ours, CORPUS)
    guessit_score, failures = score(theirs, CORPUS)
    missed_fields: Counter[str] = Counter()
    for _category, name, expected in CORPUS:
        actual = theirs(name)
        missed_fields.update(k for k, v in expected.items() if actual.get(k) != v)
    with capsys.disabled():
        print(f"\nguessit corpus score: {guessit_score:.4f} ({len(CORPUS) - len(failures)}/{len(CORPUS)}); "
              f"misses by field: {dict(missed_fields.most_common())}")
    assert 0.0 <= guessit_score < ours_score


def test_scoring_detects_a_wrong_parser() -> None:
    # The score must be able to fail: a parser that returns nothing scores near zero.
    result, failures = score(lambda name: {}, CORPUS)
    assert result < 0.05 and len(failures) > 0.95 * len(CORPUS)


# --- per-category unit tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "season", "episodes"), [
    ("Show.Name.S01E02.720p", 1, (2,)),
    ("show.name.s1e2.hdtv", 1, (2,)),
    ("Show.Name.1x02.HDTV", 1, (2,)),
    ("Show.Name.102.HDTV.XviD-LOL", 1, (2,)),
    ("Show.Name.1013.HDTV.x264-LOL", 10, (13,)),
    ("Show.Name.S01E01-E03.720p", 1, (1, 2, 3)),
    ("Show.Name.S01E01-03.720p", 1, (1, 2, 3)),
    ("Show.Name.S01E01E02.720p", 1, (1, 2)),
    ("Show.Name.2x04x05.HDTV", 2, (4, 5)),
    ("Show.Name.S01.E01.720p", 1, (1,)),
    ("Show Name S01 E01 720p", 1, (1,)),
])
def test_episode_numbering(name: str, season: int, episodes: tuple[int, ...]) -> None:
    p = parse_release(name)
    assert (p.season, p.episodes, p.full_season, p.seasons) == (season, episodes, False, (season,))
    assert normalize_title(p.series_title) == "show name"


@pytest.mark.parametrize("name", ["Movie.Name.2019.1080p.BluRay", "Show.Name.1080.HDTV", "Show.Name.720.HDTV",
                                  "Room.237.2012.DVDRip"])
def test_compact_numbers_that_are_years_or_resolutions_are_not_episodes(name: str) -> None:
    assert parse_release(name).episodes == ()


@pytest.mark.parametrize(("name", "seasons"), [
    ("Show.Name.S01.1080p.WEB-DL", (1,)),
    ("Show Name Season 4 1080p", (4,)),
    ("Show.Name.Season.1-3.720p", (1, 2, 3)),
    ("Show Name Saison 3 FRENCH 720p", (3,)),
    ("Show.Name.Stagione.3.ITA.720p", (3,)),
    ("Show.Name.Temporada.2.1080p", (2,)),
    ("Show.Name.Staffel.2.GERMAN.DL.1080p", (2,)),
    ("Show.Name.S01-S05.1080p.BluRay", (1, 2, 3, 4, 5)),
])
def test_season_packs(name: str, seasons: tuple[int, ...]) -> None:
    p = parse_release(name)
    assert (p.full_season, p.seasons, p.season, p.episodes) == (True, seasons, seasons[0], ())
    assert p.is_tv


def test_complete_series_is_a_pack_without_season_numbers() -> None:
    p = parse_release("Friends.The.Complete.Series.1080p.BluRay.x265-GRP")
    assert (p.series_title, p.full_season, p.season, p.seasons, p.is_tv) == ("Friends", True, None, (), True)


@pytest.mark.parametrize("name", ["The.Daily.Show.2011.04.18.720p.HDTV", "The Daily Show 2011 04 18 HDTV",
                                  "The.Daily.Show.2011-04-18.HDTV"])
def test_daily_air_dates(name: str) -> None:
    p = parse_release(name)
    assert p.air_date == datetime.date(2011, 4, 18)
    assert (p.series_title, p.season, p.episodes, p.year, p.is_tv) == ("The Daily Show", None, (), None, True)


def test_invalid_date_is_not_an_air_date() -> None:
    assert parse_release("Show.Name.2011.02.30.HDTV").air_date is None


@pytest.mark.parametrize(("name", "resolution"), [
    ("Movie.2019.720p.WEB", 720), ("Movie.2019.1080i.HDTV", 1080), ("Movie.2019.2160p.WEB", 2160),
    ("Movie.2019.4K.WEB", 2160), ("Movie.2019.UHD.BluRay", 2160), ("Movie.2019.1280x720.WEB", 720),
    ("Movie.2019.1920x1080.WEB", 1080), ("Movie.2019.3840x2160.WEB", 2160), ("Movie.2019.576p.WEB", 576),
    ("Movie.2019.480p.WEB", 480), ("Movie.2019.WEB", None),
])
def test_resolution(name: str, resolution: int | None) -> None:
    assert parse_release(name).resolution == resolution


@pytest.mark.parametrize(("tag", "source"), [
    ("WEB-DL", "webdl"), ("WEBDL", "webdl"), ("WEB", "webdl"), ("WEBRip", "webrip"), ("BluRay", "bluray"),
    ("BDRip", "bluray"), ("BRRip", "bluray"), ("BluRay.REMUX", "remux"), ("HDTV", "hdtv"), ("PDTV", "sdtv"),
    ("DVDRip", "dvd"), ("DVD", "dvd"), ("SDTV", "sdtv"), ("CAM", "cam"), ("TS", "telesync"), ("SCR", "screener"),
    ("DVDSCR", "screener"), ("HDCAM", "cam"), ("TELESYNC", "telesync"),
])
def test_source(tag: str, source: str) -> None:
    assert parse_release(f"Movie.Name.2019.{tag}.x264-GRP").source == source


@pytest.mark.parametrize(("tag", "codec"), [
    ("x264", "x264"), ("h264", "x264"), ("H.264", "x264"), ("AVC", "x264"), ("x265", "x265"), ("h265", "x265"),
    ("H.265", "x265"), ("HEVC", "x265"), ("AV1", "av1"), ("XviD", "xvid"), ("VC-1", "vc1"), ("MPEG2", "mpeg2"),
    ("VP9", "vp9"),
])
def test_codec(tag: str, codec: str) -> None:
    assert parse_release(f"Show.S01E01.1080p.WEB-DL.{tag}-GRP").codec == codec


def test_title_words_are_not_quality_tags() -> None:
    p = parse_release("Charlotte's.Web.2006.720p.BluRay.x264-GRP")
    assert (p.series_title, p.year, p.source) == ("Charlotte's Web", 2006, "bluray")
    assert parse_release("Show.S01E02.The.Web.Episode.720p.HDTV.x264-GRP").source == "hdtv"


@pytest.mark.parametrize(("name", "title", "year"), [
    ("2001.A.Space.Odyssey.1968.1080p.BluRay.x264-AMIABLE", "2001 A Space Odyssey", 1968),
    ("Blade.Runner.2049.2017.2160p.UHD.BluRay.REMUX-EPSiLON", "Blade Runner 2049", 2017),
    ("1917.2019.1080p.BluRay.x264-SPARKS", "1917", 2019),
    ("Movie Name (2019) [1080p]", "Movie Name", 2019),
])
def test_movie_titles_and_years(name: str, title: str, year: int) -> None:
    p = parse_release(name)
    assert (p.series_title, p.year, p.is_tv) == (title, year, False)


@pytest.mark.parametrize(("name", "group"), [
    ("Show.S01E01.720p.HDTV.x264-KILLERS", "KILLERS"),
    ("Show.S01E01.720p.HDTV.x264-GRP[rarbg]", "GRP"),
    ("[HorribleSubs] Show - 05 [720p].mkv", "HorribleSubs"),
    ("Show.S01E01.720p.WEB-DL", None),
    ("Spider-Man.2002", None),
])
def test_group(name: str, group: str | None) -> None:
    assert parse_release(name).group == group


def test_anime_absolute_number_has_no_season() -> None:
    p = parse_release("[HorribleSubs] Show Name - 05 [720p].mkv")
    assert (p.series_title, p.season, p.episodes, p.resolution) == ("Show Name", None, (5,), 720)


@pytest.mark.parametrize(("path", "season", "episodes", "title"), [
    ("Show.S02.1080p.WEB/show.205.mkv", 2, (5,), "show"),
    ("Show.S01.1080p/Episode 3.mkv", 1, (3,), "show"),
    ("Show Name/Season 02/Episode 04.mkv", 2, (4,), "show name"),
    ("Show.Name.S01.1080p.WEB-DL-GRP/abcdef123456.mkv", 1, (), "show name"),
])
def test_paths_fall_back_to_parent_directory(path: str, season: int, episodes: tuple[int, ...], title: str) -> None:
    p = parse_release(path)
    assert (p.season, p.episodes, normalize_title(p.series_title), p.title) == (season, episodes, title, path)


def test_proper_and_repack() -> None:
    assert (parse_release("Show.S01E01.PROPER.720p").proper, parse_release("Show.S01E01.PROPER.720p").repack) == \
        (True, False)
    assert parse_release("Show.S01E01.REPACK.720p").repack and parse_release("Show.S01E01.RERIP.720p").repack
    assert not parse_release("Show.S01E01.720p").proper


def test_quality_label() -> None:
    assert parse_release("Show.S01E01.1080p.WEB-DL.x264-GRP").quality == "1080p webdl"
    assert parse_release("Movie.2019.2160p.BluRay.REMUX-GRP").quality == "2160p remux"
    assert parse_release("Movie.2019.720p-GRP").quality == "720p"
    assert parse_release("Movie.2019").quality == "unknown"


@pytest.mark.parametrize(("a", "b"), [
    ("Grey's Anatomy", "greys anatomy"), ("Law & Order", "law and order"), ("S.W.A.T.", "SWAT"),
    ("Pokémon", "pokemon"), ("  The   Office  ", "the office"), ("Marvel's Agents of S.H.I.E.L.D.", "marvels agents of shield"),
])
def test_normalize_title(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)


def test_normalize_title_keeps_distinct_titles_apart() -> None:
    assert normalize_title("The Office US") != normalize_title("The Office UK")
    assert normalize_title("Lost") != normalize_title("Lost Girl")


def test_hostile_long_input_stays_fast() -> None:
    started = time.perf_counter()
    for text in ("Show" + " - " * 5000, "." * 20000, "[a]" * 5000, "/".join(["a" * 400] * 50)):
        assert parse_release(text).title == text
    assert time.perf_counter() - started < 1.0  # before the length cap, the first alone took over a second


# Pieces of the shapes the numbering, date, anime, group and tag rules look for, repeated or mixed into 100 KB
# names: none may make a regex backtrack catastrophically.
_HOSTILE_PIECES = ["S01E01", "1x01", " - ", "-", ".", "_", "[", "]", "(", ")", "{", "}", "01", "2019", "2019.01.01",
                   "Part", "of", "E", "Season 1 ", "x", "#1", "Cap.1", "afl.", "Se.1", " VOSTFR", "BDRip", "WEB-DL",
                   "/", "\\", "www.a.com", "[ www.a.com ] -", "1080p", "Bölüm", "v2", "S1 - 01", "01-02", "é", "\u0300",
                   "\U0001f600", "Directors Cut ", "multi ", "HD TV", "-GRP", "-A-B-C", "20161024", "(2024/S01E07/"]


@pytest.mark.parametrize("piece", _HOSTILE_PIECES)
def test_hostile_100kb_names_stay_fast(piece: str) -> None:
    text = piece * (100_000 // len(piece))
    started = time.perf_counter()
    parsed = parse_release(text)
    assert parsed.title == text and quality_of(parsed) in (None, *ALL_QUALITIES)
    assert time.perf_counter() - started < 0.25


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_HOSTILE_PIECES), max_size=400))
def test_mixed_hostile_names_never_raise_and_stay_fast(pieces: list[str]) -> None:
    text = "".join(pieces)
    started = time.perf_counter()
    parsed = parse_release(text)
    assert parsed.title == text and all(isinstance(n, int) for n in (*parsed.episodes, *parsed.absolute_episodes))
    assert time.perf_counter() - started < 0.25


def test_parsed_release_is_frozen() -> None:
    p = parse_release("Show.S01E01.720p")
    with pytest.raises(AttributeError):
        p.season = 2  # type: ignore[misc]
    assert isinstance(p, ParsedRelease)


# --- properties -----------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_never_raises_and_keeps_the_input(text: str) -> None:
    p = parse_release(text)
    assert p.title == text
    assert p.season is None or p.season >= 0
    assert "  " not in p.series_title
    assert quality_of(p) in (None, *ALL_QUALITIES)
    assert all(isinstance(x, str) for x in p.languages) and (p.edition is None or p.edition.strip())


# Words that are release tags cannot be title words of a round-trippable name; everything else must be.
_TAG_WORD = re.compile(
    r"(?i)^(?:web\w*|blu\w*|bd\w*|br\w*rip|dvd\w*|[ap]?hdtv\w*|pdtv|sdtv|dsr\w*|tvrip|satrip|dvb\w*|hd\w*|"
    r"remux|cam\w*|hqcam|ts|tsrip|tc|telesync|telecine|pdvd|scr|screener|ntsc|pal|uhd|xvid|divx|hevc|avc|vp9|av1|"
    r"the|complete|seasons?|series|saison|stagione|temporada|staffel|seizoen|sezon|kausi|sasong|episode|episodio|"
    r"ep|folge|proper|repack|rerip|cap|integrale)$")
# Suffixes that are tags, not groups ("-DL" of WEB-DL, "-Man" of Spider-Man): parse_release ignores them.
_NOT_GROUP = re.compile(r"(?i)^(?:[xh]26[456]|\d{3,4}[pi]|s\d+(?:e\d+)?|e\d+|dl|rip|web|hevc|avc|xvid|hdtv|bluray|"
                        r"dts|hd|ma|ac3|aac|atmos|man|ray|in|it|one|cut|cam|ts|remux|repack|proper|uhd|sdr|hdr|"
                        r"xpost|postbot|obfuscated|scrambled|rakuten|asrequested|rp|sample|whiterev|buymore|"
                        r"chamele0n|4p|4planet|altezachen|vacation|pre|nzbgeek|bit|subs?|dub|subbed|dubbed|multi|vostfr|eng|raw|"
                        r"sdtv|webdl|dvd|dvdrip|bdrip|internal|\d+ch|mkv|mp4|avi|sbs|hsbs|ou|hou|3d|4k|8k)$")
_WORD = st.text(alphabet=string.ascii_letters, min_size=2, max_size=8).filter(lambda w: not _TAG_WORD.match(w))


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORD, min_size=1, max_size=4), season=st.integers(1, 99), episode=st.integers(1, 99),
       res=st.sampled_from([480, 720, 1080, 2160]),
       group=st.text(alphabet=string.ascii_letters + string.digits, min_size=2, max_size=10).filter(
           lambda g: not g.isdigit() and not _NOT_GROUP.match(g) and not _TAG_WORD.match(g)))
def test_generated_scene_names_round_trip(words: list[str], season: int, episode: int, res: int,
                                          group: str) -> None:
    name = f"{'.'.join(words)}.S{season:02}E{episode:02}.{res}p.WEB-DL.x264-{group}"
    p = parse_release(name)
    assert normalize_title(p.series_title) == normalize_title(" ".join(words))
    assert (p.season, p.episodes, p.resolution, p.source, p.codec, p.group) == \
        (season, (episode,), res, "webdl", "x264", group)
