from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.quality import (
    ALL_QUALITIES,
    DEFAULT_PROFILE,
    QualityProfile,
    Release,
    SizeLimit,
    choose_for_season,
    dedupe,
    episode_matches,
    evaluate,
    is_upgrade,
    make_guid,
    meets_cutoff,
    movie_matches,
    quality_of,
    rank,
)
from annexd.domain.releases import ParsedRelease, parse_release

GB = 1_000_000_000


def PR(**kw) -> ParsedRelease:
    """A ParsedRelease with TV-episode defaults (1080p WEB-DL x264, S01E01 of "Show")."""
    defaults = dict(title="Show.S01E01.1080p.WEB-DL.x264-GRP", series_title="Show", season=1, seasons=(1,),
                    episodes=(1,), resolution=1080, source="webdl", codec="x264", group="GRP")
    return ParsedRelease(**{**defaults, **kw})


def movie_pr(**kw) -> PR:
    base = dict(title="The.Matrix.1999.1080p.WEB-DL", series_title="The Matrix", season=None, seasons=(),
                episodes=(), year=1999)
    return PR(**{**base, **kw})


def rel(guid: str, parsed: PR, size: int = 2 * GB, seeders: int = 50, title: str | None = None, **kw) -> Release:
    return Release(guid=guid, title=title or f"{parsed.title}.{guid}", size=size, indexer="idx", parsed=parsed,
                   seeders=seeders, **kw)


def parse_stub(title: str) -> ParsedRelease:
    return PR(title=title)


# --- quality_of / profile -----------------------------------------------------------------------------------

@pytest.mark.parametrize("res,src,expected", [
    (1080, "webdl", "1080p webdl"), (2160, "remux", "2160p remux"), (None, "dvd", "480p dvd"),
    (1080, None, "1080p hdtv"), (None, "bluray", "720p bluray"), (720, "cam", "480p cam"),
    (2160, "cam", "480p cam"), (576, "webdl", "480p webdl"), (480, None, "480p sdtv"), (None, "hdtv", "480p sdtv"),
    (720, "sdtv", "720p hdtv"), (720, "remux", "720p bluray"), (None, "remux", "1080p remux"),
    (None, "webdl", "480p webdl"), (1080, "screener", "480p screener"),
])
def test_quality_of(res, src, expected):
    assert quality_of(PR(resolution=res, source=src)) == expected


def test_quality_of_nothing_known_is_none():
    assert quality_of(PR(resolution=None, source=None, codec=None)) is None
    assert quality_of(PR(resolution=None, source=None, codec="x264")) == "480p sdtv"  # a bare SD-era encode


@pytest.mark.parametrize("name,expected", [
    # Servarr conventions: HDTV without a resolution is SD; a Matroska file of it is 720p.
    ("Show.S04E05.HDTV.XviD-LOL", "480p sdtv"), ("Show.S04E05.HDTV.x264-LOL.mkv", "720p hdtv"),
    ("Show.S02E15.avi", "480p sdtv"), ("Show.S02E15.mkv", "720p hdtv"), ("Show.S01E01.m2ts", "720p bluray"),
    ("Show.S12E17.HR.WS.PDTV.X264-DIMENSION", "720p hdtv"), ("Show S01E07 [TvRip][HEVC][1080p]", "1080p hdtv"),
    ("Show - S22E03 - Title - HD TV.mkv", "720p hdtv"), ("Show - S01E01 - Title [HDTV]", "720p hdtv"),
    # Blu-ray: a plain BluRay is 720p, a BDRip/BRRip or an XviD encode SD; a remux below 1080p is Blu-ray.
    ("Movie.2010.BluRay.x264-GRP", "720p bluray"), ("Movie.2010.BDRip.AC3-GRP", "480p bluray"),
    ("Movie.2010.BRRip.XviD-GRP", "480p bluray"), ("Movie.2010.1080p.BRRip.x264-GRP", "1080p bluray"),
    ("Show.S01.BluRay.480i.DD.2.0.AVC.REMUX-GRP", "480p bluray"), ("Movie.2010.1080p.BluRay.REMUX-GRP", "1080p remux"),
    ("Movie.2010.2160p.UHD.BluRay.REMUX-GRP", "2160p remux"), ("Show.S01E02.[Bluray720p].mkv", "720p bluray"),
    # Screeners, cams and telesyncs are never HD, whatever resolution they claim.
    ("Movie.2023.1080p.HDCAM.x264-GRP", "480p cam"), ("Movie.2023.720p.HDTS.x264-GRP", "480p telesync"),
    ("Movie.2023.HDTC.x264-GRP", "480p telesync"), ("Movie.2023.1080p.DVDSCR.x264-GRP", "480p screener"),
    # WEB without a resolution is SD, unless the container says Matroska; German streaming tags are WEB-DL.
    ("Show.S01E08.German.DL.AmazonHD.x264-TVS", "480p webdl"), ("Show.S01E08.German.DL.720p.NetflixHD.x264",
                                                                "720p webdl"),
    ("Show! S01 [Web][MKV][h264][AAC 2.0]", "720p webdl"), ("Show.1x04.ITA.720p.WEBMux.x264-NovaRip", "720p webrip"),
])
def test_quality_of_follows_servarr_conventions(name, expected):
    assert quality_of(parse_release(name)) == expected


def test_every_quality_quality_of_gives_is_ranked():
    # The profile ranking must know every quality the rules can produce, and junk sources stay last.
    produced = {quality_of(PR(resolution=r, source=s, codec=c, rip=rip, container=ct))
                for r in (None, 240, 480, 576, 720, 1080, 2160) for s in (None, "remux", "bluray", "webdl", "webrip",
                                                                         "hdtv", "sdtv", "dvd", "cam", "telesync",
                                                                         "screener")
                for c in (None, "xvid", "x264") for rip in (False, True) for ct in (None, "mkv", "avi")}
    produced.discard(None)
    assert produced <= set(ALL_QUALITIES)
    junk = [q for q in ALL_QUALITIES if q.split()[1] in ("cam", "telesync", "screener")]
    assert ALL_QUALITIES[-len(junk):] == tuple(junk) and all(q.startswith("480p ") for q in junk)


def test_profile_validates_qualities():
    with pytest.raises(ValueError, match="unknown"):
        QualityProfile(allowed=("1080p webdl", "999p magic"), cutoff="1080p webdl")
    with pytest.raises(ValueError, match="cutoff"):
        QualityProfile(allowed=("1080p webdl",), cutoff="720p webdl")


def test_cutoff_and_upgrade():
    p = DEFAULT_PROFILE  # cutoff 1080p webdl
    assert meets_cutoff("1080p bluray", p) and meets_cutoff("1080p webdl", p)
    assert not meets_cutoff("720p webdl", p) and not meets_cutoff(None, p)
    assert is_upgrade("720p webdl", "1080p webdl", p)
    assert is_upgrade(None, "720p hdtv", p)
    assert not is_upgrade("1080p webdl", "1080p bluray", p)  # cutoff met
    assert not is_upgrade("720p webdl", "2160p remux", p)  # not allowed


# --- evaluate -----------------------------------------------------------------------------------------------

def test_evaluate_accepts_and_reports_position():
    v = evaluate(rel("a", PR()))
    assert v.accepted and v.quality == "1080p webdl" and v.position == 1


def test_below_profile_and_above_profile():
    assert evaluate(rel("a", PR(resolution=480, source="dvd"), size=GB // 2)).status == "below_profile"
    above = evaluate(rel("b", PR(resolution=2160, source="remux"), size=40 * GB))
    assert above.status == "rejected" and "above profile" in above.reason


def test_cam_is_rejected_not_kept():
    v = evaluate(rel("a", PR(resolution=1080, source="cam")))
    assert v.status == "rejected"


def test_unknown_quality_rejected():
    assert evaluate(rel("a", PR(resolution=None, source=None, codec=None))).reason == "unknown quality"


def test_blocklist_by_hash_and_guid():
    r = rel("g1", PR(), info_hash="a" * 40)
    assert evaluate(r, blocklist={"a" * 40}).reason == "blocklisted"
    assert evaluate(r, blocklist={"g1"}).reason == "blocklisted"
    assert evaluate(r, blocklist={"other"}).accepted


def test_banned_words_groups_required_and_seeders():
    p = QualityProfile(banned_words=("hardsub",), banned_groups=("YIFY",), required_words=("multi",),
                       min_seeders=3)
    assert "banned word" in evaluate(rel("a", PR(), title="Show.S01E01.MULTI.HardSub.1080p"), p).reason
    assert "banned group" in evaluate(rel("b", PR(group="yify"), title="Show MULTI"), p).reason
    assert evaluate(rel("c", PR(), title="Show.S01E01.1080p"), p).reason == "none of the required words"
    assert "seeders" in evaluate(rel("d", PR(), title="Show MULTI", seeders=2), p).reason
    assert evaluate(rel("e", PR(), title="Show.MULTI.1080p", seeders=3), p).accepted


def test_banned_word_matches_whole_words_only():
    p = QualityProfile(banned_words=("cam",))
    assert evaluate(rel("a", PR(), title="Camelot.S01E01.1080p.WEB-DL"), p).accepted


def test_size_limits_per_episode_and_pack_scaling():
    p = QualityProfile(tv_sizes={"1080p webdl": SizeLimit(200, 4000)})
    assert "too small" in evaluate(rel("a", PR(), size=100_000_000), p).reason
    assert "too large" in evaluate(rel("b", PR(), size=5 * GB), p).reason
    pack = PR(episodes=(), full_season=True)
    assert "too large" in evaluate(rel("c", pack, size=30 * GB), p, episodes_wanted=1).reason
    assert evaluate(rel("c", pack, size=30 * GB), p, episodes_wanted=10).accepted  # 3 GB per episode
    multi = PR(episodes=(1, 2, 3))
    assert evaluate(rel("d", multi, size=9 * GB), p).accepted


def test_movie_size_limits():
    p = QualityProfile(movie_sizes={"1080p webdl": SizeLimit(1500, 20000)})
    assert "too small" in evaluate(rel("a", movie_pr(), size=GB), p).reason
    assert evaluate(rel("b", movie_pr(), size=8 * GB), p).accepted


# --- rank ---------------------------------------------------------------------------------------------------

def test_rank_orders_by_profile_then_score():
    p = QualityProfile(preferred_groups=("NTb",), preferred_words=("atmos",))
    releases = [
        rel("720", PR(resolution=720), size=GB),
        rel("web", PR(), seeders=500),
        rel("bluray", PR(source="bluray"), seeders=1),
        rel("web-ntb", PR(group="NTb"), seeders=5),
        rel("web-proper", PR(proper=True), seeders=5),
        rel("web-atmos", PR(), seeders=5, title="Show.S01E01.1080p.WEB-DL.ATMOS"),
        rel("dvd", PR(resolution=480, source="dvd"), size=GB // 2),
        rel("banned", PR(), title="Show.S01E01.1080p.WEB-DL.hardsub"),
    ]
    p = replace(p, banned_words=("hardsub",))
    ranked = rank(releases, p)
    assert [r.guid for r in ranked.accepted] == ["bluray", "web-proper", "web-atmos", "web-ntb", "web", "720"]
    assert [r.guid for r in ranked.below_profile] == ["dvd"]
    assert [(r.guid, reason) for r, reason in ranked.rejected] == [("banned", "banned word 'hardsub'")]
    assert ranked.best.guid == "bluray"
    assert ranked.verdicts["bluray"].quality == "1080p bluray"


def test_rank_dedupes_same_torrent_across_indexers():
    h = "b" * 40
    a = rel(h, PR(), seeders=5, info_hash=h)
    b = replace(a, indexer="other", seeders=50)
    assert [r.seeders for r in rank([a, b]).accepted] == [50]
    assert len(dedupe([a, b])) == 1


def test_release_dict_roundtrip():
    r = rel("g", PR(title="Show.S01E01"), title="Show.S01E01", info_hash="c" * 40, download_url="http://x/?apikey=K",
            magnet="magnet:?xt=urn:btih:" + "c" * 40, published=datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
            categories=(5000, 5040))
    data = r.to_dict()
    back = Release.from_dict(data, parse=parse_stub)
    assert back == r and back.parsed == PR(title="Show.S01E01")
    assert "apikey" not in repr(r)


def test_make_guid():
    assert make_guid("d" * 40, "x") == "d" * 40
    g = make_guid(None, "http://idx/dl?apikey=SECRET&id=1")
    assert g.startswith("sha1:") and "SECRET" not in g and g == make_guid("bad", "http://idx/dl?apikey=SECRET&id=1")


# --- properties -------------------------------------------------------------------------------------------------

sources = st.sampled_from(["webdl", "webrip", "bluray", "remux", "hdtv", "dvd", "sdtv", "cam", None])
resolutions = st.sampled_from([480, 576, 720, 1080, 2160, None])
WORDS = ["alpha", "beta", "hardsub", "atmos", "multi"]


@st.composite
def releases(draw, n_max=25):
    n = draw(st.integers(0, n_max))
    out = []
    for i in range(n):
        words = draw(st.lists(st.sampled_from(WORDS), max_size=3))
        parsed = PR(resolution=draw(resolutions), source=draw(sources),
                    codec=draw(st.sampled_from(["x264", "x265", "xvid", None])),
                    group=draw(st.sampled_from(["NTb", "YIFY", "GRP", None])), proper=draw(st.booleans()))
        info_hash = draw(st.none() | st.sampled_from(["e" * 40, "f" * 40, "1" * 40]))
        out.append(Release(guid=f"g{i}", title="Show.S01E01." + ".".join(words), size=draw(st.integers(0, 50 * GB)),
                           indexer=draw(st.sampled_from(["a", "b"])), parsed=parsed,
                           seeders=draw(st.integers(0, 1000)), info_hash=info_hash))
    return out


PROFILE = QualityProfile(banned_words=("hardsub",), banned_groups=("YIFY",), preferred_words=("atmos",))


@settings(max_examples=200, deadline=None)
@given(releases(), st.randoms(use_true_random=False))
def test_rank_is_independent_of_input_order(rs, rnd):
    shuffled = list(rs)
    rnd.shuffle(shuffled)
    assert rank(rs, PROFILE) == rank(shuffled, PROFILE)


@settings(max_examples=200, deadline=None)
@given(releases(), st.sets(st.sampled_from(["g0", "g1", "g2", "e" * 40, "f" * 40])))
def test_banned_and_blocklisted_never_accepted(rs, blocklist):
    ranked = rank(rs, PROFILE, blocklist=blocklist)
    for r in ranked.accepted + ranked.below_profile:
        assert "hardsub" not in r.title.lower()
        assert r.parsed.group != "YIFY"
        assert r.guid not in blocklist and r.info_hash not in blocklist
    assert len(ranked.accepted) + len(ranked.below_profile) + len(ranked.rejected) == len(dedupe(rs))


@settings(max_examples=200, deadline=None)
@given(releases())
def test_accepted_sorted_by_profile_position(rs):
    ranked = rank(rs, PROFILE)
    positions = [ranked.verdicts[r.guid].position for r in ranked.accepted]
    assert positions == sorted(positions)
    assert all(ranked.verdicts[r.guid].quality in ALL_QUALITIES for r in ranked.below_profile)


# --- choose_for_season ------------------------------------------------------------------------------------------

def ep(guid, *eps, season=1, **kw):
    return rel(guid, PR(season=season, seasons=(season,), episodes=tuple(eps), **kw))


def pack(guid, season=1, **kw):
    return rel(guid, PR(season=season, seasons=(season,), episodes=(), full_season=True, **kw), size=20 * GB)


def test_season_pack_preferred():
    ranked = [ep("e1", 1), pack("p"), ep("e2", 2)]
    choice = choose_for_season(1, {1, 2, 3}, ranked)
    assert choice.pack.guid == "p" and not choice.missing and set(choice.picks) == {1, 2, 3}
    assert [r.guid for r in choice.releases] == ["p"]


def test_pack_of_other_season_and_multi_season_skipped():
    multi = rel("m", PR(season=1, seasons=(1, 2), episodes=(), full_season=True))
    choice = choose_for_season(1, {1, 2}, [pack("p2", season=2), multi, ep("e1", 1)])
    assert choice.pack is None and choice.missing == {2} and choice.picks[1].guid == "e1"
    assert choose_for_season(1, {1, 2}, [multi], allow_multi_season=True).pack.guid == "m"


def test_per_episode_with_multi_episode_releases():
    ranked = [ep("e2", 2), ep("e1-3", 1, 2, 3), ep("e5", 5), ep("other", 4, season=2)]
    choice = choose_for_season(1, {1, 2, 3, 4, 5}, ranked)
    assert {k: v.guid for k, v in choice.picks.items()} == {1: "e1-3", 2: "e2", 3: "e1-3", 5: "e5"}
    assert choice.missing == {4} and choice.pack is None
    assert [r.guid for r in choice.releases] == ["e1-3", "e2", "e5"]


def test_multi_episode_covering_all_wanted_counts_as_pack():
    choice = choose_for_season(1, {1, 2}, [ep("e1", 1), ep("e1-2", 1, 2)])
    assert choice.pack.guid == "e1-2"


def test_empty_wanted():
    assert choose_for_season(1, set(), [pack("p")]).picks == {}


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(1, 12), max_size=12),
       st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 12), min_size=1, max_size=3),
                          st.integers(1, 2)), max_size=10))
def test_choice_covers_exactly_what_is_available(wanted, specs):
    ranked = [pack(f"p{i}", season=s) if is_pack else ep(f"e{i}", *sorted(eps), season=s)
              for i, (is_pack, eps, s) in enumerate(specs)]
    choice = choose_for_season(1, wanted, ranked)
    assert set(choice.picks) | choice.missing == wanted and not (set(choice.picks) & choice.missing)
    for number, r in choice.picks.items():
        assert r.parsed.season == 1 and (r.parsed.full_season or number in r.parsed.episodes)
    if any(is_pack and s == 1 for is_pack, _, s in specs):
        assert not choice.missing


def test_choice_is_deterministic():
    ranked = [ep(f"e{i}", i) for i in range(1, 6)]
    rnd = random.Random(1)
    assert choose_for_season(1, {1, 2, 3}, ranked) == choose_for_season(1, {3, 2, 1}, list(ranked))
    rnd.shuffle(ranked)


# --- sanity filters ---------------------------------------------------------------------------------------------

def test_movie_matches():
    assert movie_matches(movie_pr(series_title="The Matrix", year=1999), "The Matrix", 1999)
    assert movie_matches(movie_pr(series_title="The Matrix", year=2000), "the matrix", 1999)
    assert not movie_matches(movie_pr(series_title="The Matrix", year=2003), "The Matrix", 1999)
    assert not movie_matches(movie_pr(series_title="The Matrix Reloaded", year=2003), "The Matrix", None)
    assert movie_matches(movie_pr(series_title="Matrix", year=1999), "The Matrix", 1999, aliases=("Matrix",))
    assert movie_matches(parse_release("The.Matrix.1999.1080p.BluRay.x264-SPARKS"), "The Matrix", 1999)
    assert not movie_matches(parse_release("The.Matrix.S01E01.1080p.WEB-DL-X"), "The Matrix", 1999)


def test_episode_matches():
    p = PR(title="Severance", series_title="Severance", season=2, seasons=(2,), episodes=(3, 4))
    assert episode_matches(p, "Severance", 2, 3) and episode_matches(p, "severance", 2)
    assert not episode_matches(p, "Severance", 2, 5)
    assert not episode_matches(p, "Severance", 1, 3)
    assert not episode_matches(p, "Succession", 2, 3)
    full = replace(p, episodes=(), full_season=True)
    assert episode_matches(full, "Severance", 2, 7)
    daily = PR(series_title="The Daily Show", season=None, seasons=(), episodes=(), air_date=date(2024, 5, 1))
    assert episode_matches(daily, "The Daily Show", 2024, air_date=date(2024, 5, 1))
    assert not episode_matches(daily, "The Daily Show", 2024, air_date=date(2024, 5, 2))
    who = parse_release("Doctor.Who.2005.S01E01.720p.HDTV.x264-X")
    assert episode_matches(who, "Doctor Who", 1, 1, year=2005)
    assert not episode_matches(who, "Doctor Who", 1, 1, year=1963)
    assert episode_matches(parse_release("Severance.S02E03E04.1080p.WEB-DL.x264-X"), "Severance", 2, 4)


@pytest.mark.parametrize("title,quality", [
    ("Severance.S02E01.1080p.ATVP.WEB-DL.DDP5.1.H.264-NTb", "1080p webdl"),
    ("Dune.Part.Two.2024.2160p.UHD.BluRay.REMUX.HDR.HEVC.Atmos-FGT", "2160p remux"),
    ("Show.S01E01.DVDRip.XviD-X", "480p dvd"),
    ("Movie.2020.CAM.x264-X", "480p cam"),
])
def test_quality_of_real_titles(title, quality):
    assert quality_of(parse_release(title)) == quality


def test_release_from_dict_uses_real_parser_by_default():
    r = Release(guid="g", title="Severance.S02E01.1080p.WEB-DL.x264-NTb", size=GB, indexer="i",
                parsed=parse_release("Severance.S02E01.1080p.WEB-DL.x264-NTb"))
    back = Release.from_dict(r.to_dict())
    assert back == r and back.parsed == r.parsed
