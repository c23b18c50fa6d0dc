"""Vocabulary of release-name tags: languages, editions, file containers (pure: no I/O; standard library only).

annexd.domain.releases finds the numbering and the title; this module names what the tags after the title mean:
``languages("MULTi.FRENCH.VOSTFR")`` -> ``("multi", "french")``, ``edition("Directors.Cut")`` -> ``"Directors Cut"``.
Language names are lower-case English (``"french"``, ``"german"``); ``"multi"`` marks MULTi releases (several
audio tracks, named or not). Two-letter codes (``FR``, ``NL``, ``PL``...) count only in capitals, because in
lower case they are ordinary words.
"""

from __future__ import annotations

import re

__all__ = ["CONTAINERS", "RES_VALUES", "codec", "container_of", "edition", "edition_span", "languages", "words_of", "resolution", "source"]

_B = r"(?<![^\W_])"  # not preceded by a letter or digit (any script)
_E = r"(?![^\W_])"

# language -> the tags that name it (compared lower-case, separators removed, so "PT-BR" is "ptbr").
_LANGUAGE_TAGS: dict[str, tuple[str, ...]] = {
    "multi": ("multi", "multiaudio", "multilang", "multilanguage", "multilangs"),
    "english": ("english", "eng"),
    "french": ("french", "truefrench", "vff", "vfq", "vfi", "vf2", "vostfr", "subfrench", "francais", "français"),
    "german": ("german", "deutsch", "ger"),
    "italian": ("italian", "ita"),
    "spanish": ("spanish", "castellano", "espanol", "español", "esp", "latino", "spa"),
    "portuguese": ("portuguese", "portugues", "português", "dublado", "ptbr", "brazilian"),
    "dutch": ("dutch", "flemish", "nlsub", "nlsubs"),
    "russian": ("russian", "rus"),
    "ukrainian": ("ukrainian", "ukr"),
    "polish": ("polish", "pldub", "plsub"),
    "czech": ("czech", "cze"),
    "hungarian": ("hungarian", "hun"),
    "romanian": ("romanian", "rom"),
    "bulgarian": ("bulgarian", "bul"),
    "greek": ("greek",),
    "turkish": ("turkish",),
    "swedish": ("swedish", "swe"),
    "danish": ("danish",),
    "norwegian": ("norwegian",),
    "finnish": ("finnish",),
    "icelandic": ("icelandic",),
    "nordic": ("nordic",),
    "japanese": ("japanese", "jpn", "jap"),
    "korean": ("korean", "kor"),
    "chinese": ("chinese", "mandarin", "cantonese", "chs", "cht"),
    "hindi": ("hindi",),
    "tamil": ("tamil",),
    "telugu": ("telugu",),
    "arabic": ("arabic",),
    "hebrew": ("hebrew", "heb"),
    "thai": ("thai",),
    "vietnamese": ("vietnamese",),
    "persian": ("persian", "farsi"),
    "lithuanian": ("lithuanian", "lit"),
    "latvian": ("latvian",),
    "estonian": ("estonian",),
}
# Capital-only codes: "FR", "NL" are tags; "fr", "nl" could be anything. ("NO", "DE", "ES" are left out:
# capitalised episode titles are full of them.)
_CASED: dict[str, tuple[str, ...]] = {"french": ("FR", "VF", "VOF"), "dutch": ("NL",), "polish": ("PL",),
                                      "czech": ("CZ",)}
_BY_TAG = {tag: name for name, tag_list in _LANGUAGE_TAGS.items() for tag in tag_list}
_BY_CASED_TAG = {tag: name for name, tag_list in _CASED.items() for tag in tag_list}
_WORD = re.compile(r"[^\W_]+")
_JOINED = ("multi", "pt", "nl", "pl")  # first halves of two-word tags: "MULTi-Audio", "PT-BR", "NL.Subs"


def words_of(tail: str) -> list[str]:
    """The words of a name's tags, as :func:`languages` and :func:`edition` take them (computed once per name)."""
    return _WORD.findall(tail)


def languages(tail: str, words: list[str] | None = None) -> tuple[str, ...]:
    """Languages named in the tags (the part of a name after its title), in the order they appear, each once."""
    words = _WORD.findall(tail) if words is None else words
    out: list[str] = []
    for i, word in enumerate(words):
        lower = word.lower()
        name = _BY_TAG.get(lower) or _BY_CASED_TAG.get(word)
        if lower in _JOINED and i + 1 < len(words):
            name = _BY_TAG.get(lower + words[i + 1].lower()) or name
        if name is not None and name not in out:
            out.append(name)
    return tuple(out)


# Editions as Radarr users see them. The words are kept as written, separators turned into spaces. Words that
# are also ordinary title words ("Final", "Special") count only before Cut/Edition/Version; "LIMITED" (a release
# tag for a small theatrical run) is no edition.
_STANDALONE_EDITION = (r"(?:extended|unrated|uncensored|uncut|remastered|restored|redux|imax(?:[ ._-]enhanced)?|"
                       r"open[ ._-]matte|despecialized|theatrical)")
_QUALIFIED_EDITION = (
    r"(?:director'?s|collector'?s|ultimate|special|final|diamond|deluxe|definitive|criterion|signature|fan|rogue|"
    r"international|alternate|assembly|producer'?s|super[ ._-]duper|black[ ._-]and[ ._-]white|noir|chrome|"
    r"(?:\d{1,3}(?:st|nd|rd|th)[ ._-])?anniversary|" + _STANDALONE_EDITION[3:-1] + ")")
_EDITION_SUFFIX = r"[ ._-](?:cut|edition|version)"
_EDITION = re.compile(
    _B + r"(?:" + _QUALIFIED_EDITION + r"(?:[ ._-]" + _QUALIFIED_EDITION + r")*" + _EDITION_SUFFIX
    + r"|" + _STANDALONE_EDITION + r"(?:[ ._-]" + _STANDALONE_EDITION + r")*(?:" + _EDITION_SUFFIX + r")?)" + _E,
    re.IGNORECASE)
# Every edition has one of these words: a cheap test before the costly pattern.
_EDITION_HINTS = frozenset((
    "cut", "edition", "version", "release", "unrated", "uncensored", "remastered", "restored", "redux", "imax",
    "matte", "despecialized", "anniversary", "extended", "theatrical", "criterion", "limited", "noir", "chrome",
    "black", "ultimate", "special", "collector", "collectors", "director", "directors", "definitive", "fan", "final",
    "diamond", "deluxe", "signature", "rogue", "international", "alternate", "assembly", "producer", "producers",
    "super", "open", "uncut"))
_EDITION_BRACES = re.compile(r"\{edition-([^{}]{1,60})\}", re.IGNORECASE)
# Before the year only the phrases that cannot be the end of a title ("The.Final.Cut.2004" is a film).
_EDITION_BEFORE_YEAR = re.compile(
    _B + r"(?:director'?s[ ._-]cut|extended[ ._-](?:cut|edition)|theatrical[ ._-](?:cut|edition)|"
    r"(?:collector'?s|special|ultimate|anniversary|criterion|deluxe|definitive)[ ._-]edition|unrated|uncut|"
    r"remastered)" + _E + r"[ ._\-\[(]*$",
    re.IGNORECASE)


def edition(tail: str, words: list[str] | None = None) -> str | None:
    """The edition named in the tags (``"Director's Cut"``, ``"Extended"``, ``"IMAX"``), None when there is none."""
    braces = _EDITION_BRACES.search(tail) if "{" in tail else None
    if braces is not None:
        return braces.group(1).strip() or None
    if _EDITION_HINTS.isdisjoint(word.lower() for word in (_WORD.findall(tail) if words is None else words)):
        return None
    m = _EDITION.search(tail)
    return _words(m.group(0)) if m is not None else None


def edition_span(head: str) -> int | None:
    """Where an edition that ends the title part starts (``"Movie.Directors.Cut."`` before the year), else None."""
    m = _EDITION_BEFORE_YEAR.search(head)
    return m.start() if m is not None and m.start() > 0 else None


def _words(text: str) -> str:
    return " ".join(re.split(r"[ ._]+", text.strip(" ._-")))


# Containers: the file extension, or a "[MKV]"-style tag. What each says about quality is annexd.domain.quality's call.
CONTAINERS = ("mkv", "mk3d", "mp4", "m4v", "avi", "divx", "xvid", "wmv", "mov", "mpg", "mpeg", "webm", "flv",
              "m2ts", "ts", "iso", "img", "vob", "ogm", "rmvb", "3gp")
_CONTAINER_TAG = re.compile(_B + r"(mkv|mp4|avi|m2ts)" + _E, re.IGNORECASE)


def container_of(extension: str | None, tail: str) -> str | None:
    """The container: the file extension when there is one, else a container tag among the tags."""
    if extension:
        return extension.lower()
    lower = tail.lower()
    if "mkv" not in lower and "mp4" not in lower and "avi" not in lower and "m2ts" not in lower:
        return None
    m = _CONTAINER_TAG.search(tail)
    return m.group(1).lower() if m is not None else None


# --- quality tags -----------------------------------------------------------------------------------------------
# B / E: token boundaries. Release names separate words with ".", "_", " ", "-", brackets, so "not a letter or
# digit" is the boundary; \b would treat "_" as a word character. Source tags may be glued to a resolution
# ("Bluray720p", "BD1080p"), so their end also accepts a resolution right after them.
B = r"(?<![A-Za-z0-9])"
E = r"(?![A-Za-z0-9])"
_SRC_E = r"(?=\d{3,4}[pi](?![A-Za-z])|[^A-Za-z0-9]|$)"
_I = re.IGNORECASE

RES_VALUES = {240: 480, 360: 480, 480: 480, 540: 480, 576: 576, 720: 720, 900: 720, 960: 720, 1080: 1080,
              1440: 1080, 2160: 2160, 4320: 2160}
# A number before "p"/"i" may be glued to a tag ("Bluray720p", "4Kto1080p") but not to other digits.
_RESOLUTION = re.compile(r"(\d{3,4})[pi](?![a-z])", _I)
_DIMENSIONS = re.compile(B + r"(\d{3,4})[x×*](\d{3,4})" + E, _I)
_NAMED_RESOLUTION = re.compile(B + r"(?:(4k|uhd|8k)|(fhd))" + E, _I)
# "HR.PDTV" / "HR.WS.PDTV": the scene's high-resolution TV captures, rated 720p by the Servarr apps.
_HR_TV = re.compile(B + r"HR[ ._-](?:WS[ ._-])?(?:PDTV|HDTV)" + E, _I)
# Renamer labels (Sick Beard, Sonarr): "HD TV" and a bare "[HDTV]"/"[WEBDL]" mean 720p; SD says "SD TV"/"[SDTV]".
_HD_LABEL = re.compile(B + r"HD[ ._]TV" + E + r"|\[(?:HDTV|WEB-?DL)\]", _I)


def resolution(tail: str) -> int | None:
    """Vertical resolution named in the tags, as one of 480, 576, 720, 1080, 2160 (None when not named)."""
    for m in _RESOLUTION.finditer(tail):
        if m.start() > 0 and tail[m.start() - 1].isdigit():
            continue
        value = int(m.group(1))
        if value in RES_VALUES:
            return RES_VALUES[value]
    dims = _DIMENSIONS.search(tail)
    if dims is not None:
        width, height = int(dims.group(1)), int(dims.group(2))
        # Width first: cropped films are 1920x800 and still 1080p.
        for min_width, res in ((3600, 2160), (1800, 1080), (1200, 720)):
            if width >= min_width:
                return res
        return 576 if height >= 560 else 480
    named = _NAMED_RESOLUTION.search(tail)
    if named is not None:
        return 2160 if named.group(1) else 1080
    if _HR_TV.search(tail) or _HD_LABEL.search(tail):
        return 720
    return None


_STREAM_HD = r"(?:amazon|netflix|nf|maxdome|hbomax|disney|dsnp|itunes|hulu|atvp|amzn|sky|web)(?:u?hd|sd)"
# (source, is a rip, substrings one of which must be in the lower-cased tags for the pattern to be tried,
# pattern), in priority order: "BluRay.REMUX" is a remux, "DVDSCR" a screener, "WEB-Rip" a webrip not a "WEB".
# ``rip`` marks re-encodes named "...Rip": a BDRip without a resolution is SD by convention.
_SOURCE_TABLE: tuple[tuple[str, bool, tuple[str, ...], str], ...] = (
    ("remux", False, ("remux",), r"(?:BD|UHD)?[ ._-]?REMUX"),
    ("screener", False, ("scr",), r"(?:DVD|BD|BR|WEB|HD)?[ ._-]?SCR(?:EENER)?|SCREENER"),
    ("cam", False, ("cam",), r"(?:HD|HQ)?CAM(?:RIP)?|HD[ ._-]?CAM"),
    ("telesync", False, ("ts", "tc", "tele", "pdvd"), r"(?:HD)?TS(?:RIP)?|TELESYNC|(?:HD)?TC|TELECINE|PDVD"),
    ("webrip", True, ("web", "hdrip"), r"WEB[ ._-]?RIP|WEB[ ._-]?CAP|HDRIP|WEB[ ._-]?MUX"),
    ("webdl", False, ("web", "hd", "sd"), r"WEB[ ._-]?DL(?:RIP|MUX)?|WEB[ ._-]?HD|" + _STREAM_HD),
    ("bluray", True, ("rip",), r"BD[ ._-]?RIP|BR[ ._-]?RIP"),
    ("bluray", False, ("blu", "bd", "dvd"), r"BLU[ ._-]?RAY|BD(?:25|50|5|9|MV|MUX|LIGHT)?|HD[ ._-]?DVD"),
    ("hdtv", False, ("tv",), r"(?:A|U|HR[ ._-]?)?HDTV(?:RIP)?|HD[ ._]TV"),
    ("dvd", True, ("dvd",), r"DVD[ ._-]?RIP|XVIDVD"),
    ("dvd", False, ("dvd", "ntsc", "pal"), r"DVD(?:[ ._-]?R|5|9)?|NTSC|PAL"),
    ("sdtv", True, ("rip", "dsr"), r"TV[ ._-]?RIP|SAT[ ._-]?RIP|DTH[ ._-]?RIP|DSR(?:IP)?"),
    ("sdtv", False, ("tv", "dvb"), r"PDTV|SDTV|SD[ ._]TV|DVB(?:RIP)?"),
    # Bare "WEB" last: it is also an English word ("S01E02.The.Web.Episode.HDTV"), so any other source wins.
    ("webdl", False, ("web",), r"WEB"),
)
_SOURCES = tuple((name, rip, hints, re.compile(B + r"(?:" + pattern + r")" + _SRC_E, _I))
                 for name, rip, hints, pattern in _SOURCE_TABLE)


def source(tail: str) -> tuple[str | None, bool]:
    """(source, rip) named in the tags: the first source of :data:`_SOURCE_TABLE`'s priority order that appears."""
    lower = tail.lower()
    for name, rip, hints, pattern in _SOURCES:
        for hint in hints:
            if hint in lower:
                if pattern.search(tail):
                    return name, rip
                break
    return None, False


_CODECS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, hints, re.compile(B + r"(?:" + pattern + r")" + E, _I)) for name, hints, pattern in (
        ("x265", ("265", "hevc"), r"[xh][ ._]?265|HEVC"),
        ("x264", ("264", "avc"), r"[xh][ ._]?264|AVC"),
        ("x266", ("266", "vvc"), r"[xh][ ._]?266|VVC"),
        ("av1", ("av1",), r"AV1"),
        ("xvid", ("vid", "divx"), r"X-?VID|DIVX|XVIDVD"),
        ("vc1", ("vc",), r"VC[ ._-]?1"),
        ("mpeg2", ("mpeg",), r"MPEG[ ._-]?2"),
        ("vp9", ("vp9",), r"VP9"),
    ))


def codec(tail: str) -> str | None:
    lower = tail.lower()
    for name, hints, pattern in _CODECS:
        for hint in hints:
            if hint in lower:
                if pattern.search(tail):
                    return name
                break
    return None
