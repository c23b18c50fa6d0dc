"""annexd.domain.releases on names of the families the Servarr apps read (written here, not taken from their tests).

Movies as Radarr users see them (editions, language tags, years in brackets, site prefixes), anime (absolute
numbers, versions, batches, seasons with fansub numbering), daily shows, mini-series ("Part 2", "3of6") and
multi-season packs. Each row names only the fields it checks; titles compare after normalize_title, editions
case-insensitively. The expectations were written from the naming conventions before the parser saw the names.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from annexd.domain.quality import quality_of
from annexd.domain.releases import ParsedRelease, normalize_title, parse_release

D = datetime.date

MOVIES: list[tuple[str, dict[str, Any]]] = [
    ("The.Matrix.1999.1080p.BluRay.x264-SiNNERS",
     dict(title="The Matrix", year=1999, group="SiNNERS", quality="1080p bluray", tv=False)),
    ("Blade Runner 2049 (2017) [2160p] [4K] [WEB] [5.1] [YTS.MX]",
     dict(title="Blade Runner 2049", year=2017, quality="2160p webdl", tv=False)),
    ("[ www.Torrenting.com ] - Oppenheimer.2023.1080p.WEB-DL.DDP5.1.Atmos.H.264-FLUX",
     dict(title="Oppenheimer", year=2023, group="FLUX", quality="1080p webdl")),
    ("www.TamilBlasters.xyz - Leo (2023) Tamil HQ HDRip - 1080p - x264 - (DD+5.1 - 640Kbps & AAC) - 2.6GB - ESub.mkv",
     dict(title="Leo", year=2023, languages=("tamil",), quality="1080p webrip")),
    ("[www.1TamilMV.pics] - Movie Title (2023) Telugu 1080p WEB-DL x264",
     dict(title="Movie Title", year=2023, languages=("telugu",))),
    ("Aliens.1986.Special.Edition.1080p.BluRay.x264-GRP", dict(title="Aliens", year=1986, edition="Special Edition")),
    ("Apocalypse.Now.1979.Final.Cut.2160p.UHD.BluRay.REMUX.HDR.HEVC.Atmos-EPSiLON",
     dict(title="Apocalypse Now", year=1979, edition="Final Cut", quality="2160p remux", group="EPSiLON")),
    ("Kingdom.of.Heaven.2005.Directors.Cut.1080p.BluRay.x264-GRP",
     dict(title="Kingdom of Heaven", edition="Directors Cut")),
    ("The.Lord.of.the.Rings.The.Fellowship.of.the.Ring.2001.EXTENDED.1080p.BluRay.x264-GRP",
     dict(title="The Lord of the Rings The Fellowship of the Ring", year=2001, edition="Extended")),
    ("Movie.Title.Directors.Cut.2005.1080p.BluRay.x264-GRP",
     dict(title="Movie Title", year=2005, edition="Directors Cut")),
    ("Movie Title (2019) {edition-Director's Cut} [Bluray-1080p].mkv",
     dict(title="Movie Title", year=2019, edition="Director's Cut", quality="1080p bluray")),
    ("The.Thing.1982.REMASTERED.1080p.BluRay.x264-GRP", dict(title="The Thing", edition="Remastered")),
    ("Movie.Title.2019.IMAX.2160p.WEB-DL.DDP5.1-GRP", dict(edition="IMAX", quality="2160p webdl")),
    ("Movie.Title.2019.Open.Matte.1080p.WEB-DL", dict(title="Movie Title", edition="Open Matte")),
    ("Movie.Title.1979.Theatrical.Cut.1080p.BluRay", dict(edition="Theatrical Cut")),
    ("Amelie.2001.FRENCH.1080p.BluRay.x264-GRP", dict(title="Amelie", languages=("french",))),
    ("Das.Boot.1981.GERMAN.DL.1080p.BluRay.x264-GRP", dict(title="Das Boot", languages=("german",))),
    ("Movie.Title.2019.MULTi.TRUEFRENCH.1080p.WEB.H264-GRP", dict(languages=("multi", "french"))),
    ("Movie Title 2019 ITA ENG 1080p BluRay x264-GRP", dict(title="Movie Title", languages=("italian", "english"))),
    ("The.French.Connection.1971.1080p.BluRay", dict(title="The French Connection", languages=())),
    ("Parasite (2019) [1080p] [BluRay] [5.1] [YTS.MX]", dict(title="Parasite", year=2019, quality="1080p bluray")),
    ("Movie Title [2019] 1080p WEB-DL", dict(title="Movie Title", year=2019)),
    ("Dune Part Two (2024) 2160p WEB-DL DV HDR", dict(title="Dune Part Two", year=2024, tv=False)),
    ("Harry.Potter.and.the.Deathly.Hallows.Part.1.2010.1080p.BluRay.x264-GRP",
     dict(title="Harry Potter and the Deathly Hallows Part 1", year=2010, tv=False)),
    ("Star.Wars.Episode.V.The.Empire.Strikes.Back.1980.1080p.BluRay", dict(year=1980, tv=False)),
    ("2012.2009.1080p.BluRay.x264-GRP", dict(title="2012", year=2009, tv=False)),
    ("Terminator.2.Judgment.Day.1991.REMASTERED.1080p.BluRay", dict(title="Terminator 2 Judgment Day", year=1991)),
    ("Se7en.1995.1080p.BluRay", dict(title="Se7en", year=1995)),
    ("Movie.Title.2020.720p.HDCAM.x264-GRP", dict(quality="480p cam")),
    ("Movie.Title.2020.HDTS.x264-GRP", dict(quality="480p telesync")),
    ("Movie.Title.2021.DVDSCR.XviD-GRP", dict(quality="480p screener")),
    ("Movie.Title.2019.1080p.BluRay.REMUX.AVC.DTS-HD.MA.5.1-GRP", dict(quality="1080p remux", group="GRP")),
    ("Movie.Title.2019.720p.BRRip.x264-GRP", dict(quality="720p bluray")),
    ("Movie.Title.2019.BRRip.XviD-GRP", dict(quality="480p bluray")),
    ("Movie.Title.2019.DVDRip.x264-GRP", dict(quality="480p dvd")),
    # Added after the first pass (regressions of fixes, not blind):
    ("Movie.Title.2019.LIMITED.1080p.BluRay.x264-GRP", dict(edition=None, group="GRP")),
    ("Movie.Title.3D.2019.1080p.BluRay.Half-SBS", dict(title="Movie Title 3D", group=None)),
]

ANIME: list[tuple[str, dict[str, Any]]] = [
    ("[SubsPlease] Sousou no Frieren - 12 (1080p) [ABCD1234].mkv",
     dict(title="Sousou no Frieren", absolute=(12,), season=None, group="SubsPlease", quality="1080p hdtv")),
    ("[Erai-raws] Kimetsu no Yaiba - Katanakaji no Sato Hen - 05 [1080p][Multiple Subtitle]",
     dict(absolute=(5,), group="Erai-raws")),
    ("[HorribleSubs] One Piece - 1000 [720p].mkv", dict(title="One Piece", absolute=(1000,))),
    ("[Judas] Shingeki no Kyojin - S04E16 [1080p][HEVC x265 10bit].mkv",
     dict(season=4, episodes=(16,), group="Judas")),
    ("[SubsPlease] Spy x Family - 25 (1080p) [12345678].mkv", dict(title="Spy x Family", absolute=(25,))),
    ("[Golumpa] Fairy Tail - 214 [FuniDub 720p x264 AAC] [5E46AC39]", dict(title="Fairy Tail", absolute=(214,))),
    ("[DeadFish] Show Name - 09v2 [720p][AAC]", dict(title="Show Name", absolute=(9,))),
    ("Show Name - 05 VOSTFR 1080p", dict(title="Show Name", absolute=(5,), languages=("french",))),
    ("[Group] Show Name S2 - 03 [1080p]", dict(title="Show Name", season=2, episodes=(3,), absolute=(3,))),
    ("[Group] Show Name (2019) - 13 [BD 1080p]", dict(title="Show Name", absolute=(13,), quality="1080p bluray")),
    ("Show.Name.E1021.1080p.WEB.H264-GRP", dict(title="Show Name", absolute=(1021,))),
    ("[Group] Show Name - 01-12 [BD 1080p]", dict(title="Show Name", absolute=tuple(range(1, 13)))),
    ("[Group] Show Name 3rd Season - 07 [720p]", dict(title="Show Name 3rd Season", absolute=(7,), season=None)),
    ("[Group] Show Name 2nd Season 05 [1080p]", dict(title="Show Name 2nd Season", absolute=(5,), season=None)),
    ("[Group] Show Name - 100 [1080p][Multi-Subs]", dict(absolute=(100,), quality="1080p hdtv")),
    ("[Group]_Show_Name_-_24_[720p][ABCD1234].mkv", dict(title="Show Name", absolute=(24,))),
]

DAILY: list[tuple[str, dict[str, Any]]] = [
    ("The.Daily.Show.2024.03.14.Guest.Name.720p.WEB.h264-GRP", dict(title="The Daily Show", date=D(2024, 3, 14))),
    ("Jimmy.Kimmel.Live.2023.11.02.Guest.1080p.HEVC.x265-MeGusta", dict(date=D(2023, 11, 2), group="MeGusta")),
    ("The Tonight Show Starring Jimmy Fallon 2024 01 15 720p HDTV x264-SYNCOPY",
     dict(title="The Tonight Show Starring Jimmy Fallon", date=D(2024, 1, 15))),
    ("Last.Week.Tonight.with.John.Oliver.2024.04.21.1080p.WEB.h264-GRP", dict(date=D(2024, 4, 21))),
    ("WWE.Monday.Night.Raw.2024.03.11.720p.HDTV.x264-NWCHD", dict(title="WWE Monday Night Raw", date=D(2024, 3, 11))),
    ("Coronation.Street.15.03.2024.720p.HDTV", dict(title="Coronation Street", date=D(2024, 3, 15))),
    ("The.View.03.15.2024.720p.HDTV", dict(title="The View", date=D(2024, 3, 15))),
    ("EastEnders.2024-01-02.HDTV", dict(title="EastEnders", date=D(2024, 1, 2))),
    ("Show.Name.20240114.720p.WEB", dict(title="Show Name", date=D(2024, 1, 14))),
    ("Late.Night.with.Seth.Meyers.2024.02.29.1080p.WEB", dict(date=D(2024, 2, 29))),
    ("Show.Name.S2024E45.720p.HDTV", dict(season=2024, episodes=(45,))),
    ("The.Late.Show.with.Stephen.Colbert.2023.12.05.Guest.Name.720p.WEB.h264-EDITH",
     dict(title="The Late Show with Stephen Colbert", date=D(2023, 12, 5), group="EDITH")),
]

MINISERIES: list[tuple[str, dict[str, Any]]] = [
    ("Chernobyl.Part.2.720p.HDTV.x264-GRP", dict(title="Chernobyl", season=1, episodes=(2,))),
    ("Band.of.Brothers.Part.Five.1080p.BluRay", dict(title="Band of Brothers", season=1, episodes=(5,))),
    ("The.Night.Of.Part.3.1080p.WEB-DL", dict(title="The Night Of", season=1, episodes=(3,))),
    ("Planet.Earth.II.3of6.Jungles.1080p.BluRay", dict(title="Planet Earth II", season=1, episodes=(3,))),
    ("Show.Name.Pt.II.720p.HDTV.x264-GRP", dict(title="Show Name", season=1, episodes=(2,))),
    ("Show Name Part 1 of 3 720p HDTV", dict(title="Show Name", season=1, episodes=(1,))),
    ("Show.Name.E03.720p.WEB-DL", dict(title="Show Name", season=1, episodes=(3,))),
]

PACKS: list[tuple[str, dict[str, Any]]] = [
    ("Friends.S01-S10.COMPLETE.1080p.BluRay.x264-GRP", dict(title="Friends", seasons=tuple(range(1, 11)), full=True)),
    ("The.Wire.Season.1-5.720p.BluRay", dict(title="The Wire", seasons=(1, 2, 3, 4, 5), full=True)),
    ("Breaking Bad Seasons 1 to 5 1080p", dict(title="Breaking Bad", seasons=(1, 2, 3, 4, 5), full=True)),
    ("Show.Name.S01-05.1080p.WEB-DL", dict(title="Show Name", seasons=(1, 2, 3, 4, 5), full=True)),
    ("Show Name (2010) Season 1-3 1080p", dict(title="Show Name", year=2010, seasons=(1, 2, 3), full=True)),
    ("Seinfeld.Complete.Series.S01-S09.720p", dict(title="Seinfeld", seasons=tuple(range(1, 10)), full=True)),
    ("Show Name Saison 1 à 3 FRENCH 1080p", dict(title="Show Name", seasons=(1, 2, 3), languages=("french",))),
    ("Show.Name.Staffel.1-4.German.DL.1080p", dict(seasons=(1, 2, 3, 4), languages=("german",))),
    ("Show.Name.S03.1080p.WEB-DL.DDP5.1.H.264-GRP", dict(season=3, seasons=(3,), full=True, episodes=())),
    ("Show.Name.S01E01.German.DL.1080p.WEB.x264-GRP", dict(season=1, episodes=(1,), languages=("german",))),
    ("Show.Name.S03E05E06.720p.HDTV.x264-GRP", dict(season=3, episodes=(5, 6))),
    # Added after the first pass (regressions of fixes, not blind):
    ("Show.Name.S01.S02.S03.720p.BluRay-GRP", dict(seasons=(1, 2, 3), full=True, group="GRP")),
    ("Show.Name.S01E10.The.Final.720p.HDTV.x264-GRP", dict(season=1, episodes=(10,), edition=None)),
]

ALL = [(family, name, expected) for family, rows in (("movie", MOVIES), ("anime", ANIME), ("daily", DAILY),
                                                     ("miniseries", MINISERIES), ("pack", PACKS))
       for name, expected in rows]


def actual(r: ParsedRelease, key: str) -> Any:
    return {
        "title": lambda: normalize_title(r.series_title), "year": lambda: r.year, "season": lambda: r.season,
        "episodes": lambda: r.episodes, "absolute": lambda: r.absolute_episodes, "full": lambda: r.full_season,
        "seasons": lambda: r.seasons, "date": lambda: r.air_date, "languages": lambda: r.languages,
        "edition": lambda: (r.edition or "").lower() or None, "quality": lambda: quality_of(r),
        "group": lambda: r.group, "tv": lambda: r.is_tv,
    }[key]()


def wanted(key: str, value: Any) -> Any:
    if key == "title":
        return normalize_title(value)
    if key == "edition":
        return value.lower() if value else None
    return value


@pytest.mark.parametrize(("family", "name", "expected"), ALL, ids=[f"{f}:{n[:50]}" for f, n, _ in ALL])
def test_family_case(family: str, name: str, expected: dict[str, Any]) -> None:
    r = parse_release(name)
    misses = {k: (wanted(k, v), actual(r, k)) for k, v in expected.items() if actual(r, k) != wanted(k, v)}
    assert not misses, f"{family} {name!r}: (want, got) {misses}"


def test_families_are_covered() -> None:
    assert len(MOVIES) >= 30 and len(ANIME) >= 15 and len(DAILY) >= 10 and len(MINISERIES) >= 6 and len(PACKS) >= 10
