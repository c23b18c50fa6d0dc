"""Release-name parser (pure: no I/O; the only clock use is the upper bound for plausible years).

``parse_release("Show.Name.S01E02.1080p.WEB-DL.x264-GRP")`` returns a frozen :class:`ParsedRelease` with the
series title, season/episode numbering (or an air date for daily shows, or anime absolute numbers), year,
resolution, source, codec, release group, languages, edition and PROPER/REPACK flags. ``normalize_title`` turns
titles into a comparable key. What the tags mean (languages, editions, sources) is annexd.domain.release_tags' part.

How a name is read (the conventions are those of scene, P2P and fansub names as Sonarr and Radarr read them):

1. Paths: the base name is parsed; when it carries no season and no air date, the nearest folder with one
   supplies the season and the series title (``Show.S01.1080p/Episode 3.mkv`` -> S1E3; a bare leading number
   ``05 - Title.mkv`` in a season folder is the episode), but never ``full_season``: one file is not a pack.
   A file with its own season takes the title of a folder of that season (file names in packs are often
   abbreviated). Quality fields the base name lacks come from the folders. "A / B" with spaces, and slashes
   inside brackets (``Title (2024/S01E07/WEB-DL)``), are not paths.
2. Known file extensions, website prefixes (``[ www.site.com ] - ``) and a leading ``[Group]`` (anime style, taken
   as the release group) are removed.
3. The numbering is looked for in a fixed priority order, strongest evidence first: ``S01E02`` (ranges and lists
   ``E01-E03``, ``E01E02`` fill the span between first and last), ``1x02`` (``2x04.2x05``, ``1x01-03``), Spanish
   ``Cap.102``, Dutch ``Se.1 afl.2``, ``S01-S05``, a bare ``S01`` (anime ``S2 - 07``),
   ``Season 4`` (not after an ordinal: ``Show 2nd Season`` is an anime title) in several languages, ``Complete Series``, Turkish ``12. Bölüm``, a date, anime ``Show - 05`` /
   ``[Grp] Show 05`` / ``#957``, a bare ``E05``/``Episode 5``, a compact ``102``/``1013``/``10708``/``140722``,
   and last the mini-series ``Part 2`` / ``5of9``. A compact number counts only when a tag, a group or the end
   of the name follows (or, in ``_``/``.`` names, when no year does), never when it looks like 19xx/20xx or a
   resolution. A full date anywhere beside another numbering is kept too (``air_date``).
4. The series title is what precedes the numbering; for movies it is what precedes the release year (the last
   plausible year before the first quality tag, so ``2001.A.Space.Odyssey.1968`` keeps its leading 2001), less
   an edition right before the year (``Movie.Directors.Cut.2001``).
5. Tags are only looked for after the title, so a title word such as "Web" in ``Charlotte's.Web`` never becomes
   a source, nor "French" in ``The.French.Connection.1971`` a language.

Numbers without a season: anime absolute numbers (``[Group] Show - 05 [720p]``) give ``absolute_episodes=(5,)``
and ``episodes=(5,)`` with ``season=None``: the number counts from the first episode of the series, so inventing
season 1 would mis-map later seasons. A bare ``E05``/``Episode 5``/``Part 2`` is season 1 (a mini-series, the way
the Servarr apps read it) and, for ``E05``/``Episode 5``, also absolute number 5: which reading holds depends on
the show, not the name. Fansub names with a season (``S2 - 07``) keep both readings as well.

One file, although over 400 lines: the steps above run in that order over one shared set of patterns, and each
step's patterns only make sense next to the ones that run before it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import unicodedata
from dataclasses import dataclass

from annexd.domain import release_tags as tags
from annexd.domain.release_tags import B, E

__all__ = ["ParsedRelease", "normalize_title", "parse_release"]


@dataclass(frozen=True)
class ParsedRelease:
    """What a release name says. ``title`` is the input unchanged; ``series_title`` the cleaned show or movie title.

    ``season`` is the first season covered (so ``S01-S05`` gives 1, with ``seasons`` (1, 2, 3, 4, 5)) and None
    for anime absolute numbers, daily shows and ``Complete Series`` packs without numbers. ``full_season`` marks
    packs: it is never set together with ``episodes``. ``absolute_episodes`` are anime absolute numbers (see the
    module docs). ``resolution`` is one of 480, 576, 720, 1080, 2160 (1440p counts as 1080, 540p and lower as 480);
    ``source`` and ``codec`` use annexd's lower-case vocabulary (see module docs of annexd.domain.quality); ``rip`` is set
    when the source tag names a re-encode (``BDRip``, ``WEBRip``...); ``container`` is the file extension (or a
    ``[MKV]`` tag), lower-case; ``languages`` are lower-case English language names (``"multi"`` for MULTi);
    ``edition`` is the edition as written (``"Directors Cut"``). Missing information is None, never guessed."""

    title: str
    series_title: str = ""
    season: int | None = None
    seasons: tuple[int, ...] = ()
    episodes: tuple[int, ...] = ()
    full_season: bool = False
    air_date: datetime.date | None = None
    year: int | None = None
    resolution: int | None = None
    source: str | None = None
    codec: str | None = None
    group: str | None = None
    proper: bool = False
    repack: bool = False
    absolute_episodes: tuple[int, ...] = ()
    edition: str | None = None
    languages: tuple[str, ...] = ()
    rip: bool = False
    container: str | None = None

    @property
    def is_tv(self) -> bool:
        # full_season counts too: "Show.Complete.Series" names no season number but is still TV.
        return self.season is not None or bool(self.episodes) or self.air_date is not None or self.full_season \
            or bool(self.absolute_episodes)

    @property
    def quality(self) -> str:
        """``"1080p webdl"``; ``"1080p"`` or ``"webdl"`` when only one half is known; ``"unknown"`` otherwise.

        No defaults are invented here (annexd.domain.quality.quality_of does that for ranking)."""
        parts = []
        if self.resolution is not None:
            parts.append(f"{self.resolution}p")
        if self.source is not None:
            parts.append(self.source)
        return " ".join(parts) if parts else "unknown"


# --- normalisation --------------------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[\W_]+")
_SINGLE_LETTER_RUN = re.compile(r"(?<!\S)(?:[^\W\d_] ){1,}[^\W\d_](?!\S)")


def normalize_title(s: str) -> str:
    """Comparable key of a title: lower-case, no diacritics or punctuation, "&" -> "and", single spaces.

    Apostrophes vanish ("Grey's" == "Greys") and runs of single letters are joined ("S.W.A.T." == "SWAT"),
    because release names spell both ways."""
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = s.replace("&", " and ")
    s = _APOSTROPHES.sub("", s)
    s = _NON_WORD.sub(" ", s).strip()
    return _SINGLE_LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), s)


# --- patterns -------------------------------------------------------------------------------------------------
_I = re.IGNORECASE

_EXTENSIONS = frozenset((*tags.CONTAINERS, "srt", "sub", "idx", "ass", "ssa", "nfo"))
_DOMAIN = r"(?:[A-Za-z0-9-]+\.)+(?:com|org|net|to|io|cd|me|tv|se|mx|re|ws|info|xyz|ph|nz|lol|li|ag|hu|ru|tw|cc)"
# Only unmistakable prefixes: bracketed, "www."-led, or followed by " - ". "Back.To.the.Future" is not a site.
_WEBSITE_PREFIX = re.compile(
    r"^\s*(?:[\[(【]\s*(?:www\.)?" + _DOMAIN + r"\s*[\])】]|www\." + _DOMAIN + r"|" + _DOMAIN + r"(?=\s+-\s))"
    r"[\s_]*(?:-\s*)?", _I)
_LEADING_BRACKET = re.compile(r"^\s*[\[【]([^\]】]*)[\]】][\s._-]*")

# Numbering, strongest first.
# "S02 - E06" is an episode too, but "S03 - EP14" is the fansub form read by _season_only.
# (The letter comes before the boundary test so the regex engine can scan for it: three times faster.)
_SXXEYY = re.compile(r"[Ss](?<![A-Za-z0-9][Ss])(\d{1,4})(?:[ ._-]?|[ ]-[ ](?=[Ee]\d))[Ee][Pp]?[ ._]?(\d{1,5})(?!\d)")
# "grp-zoos01e11": glued to the word before, so only the full two-digit form counts.
_SXXEYY_GLUED = re.compile(r"(?<=[A-Za-z])S(\d{2})E(\d{2,3})(?!\d)", _I)
_EP_RANGE = re.compile(r"[ ._]?(?:-|to)[ ._]?(?:S\d{1,3})?(?:E[Pp]?)?[ ._]?(\d{1,5})" + E, _I)
_EP_LIST = re.compile(r"(?:[ ._-]?\+?[ ._-]?)(?:S\d{1,4})?E[Pp]?[ ._]?(\d{1,5})(?!\d)", _I)
_NXNN = re.compile(r"(?<![A-Za-z0-9])(\d{1,2}|(?:19|20)\d\d)x(\d{1,3})(?=[xX]\d|[^A-Za-z0-9]|$)", _I)
# After "2x04": "x05", "-05", "-x05", "_05", or another "2x05" after "-", " - " or ".".
_NXNN_MORE = re.compile(r"(?:x|-x?|_(?=\d\d(?![0-9A-Za-z]))|(?:[ ]?-[ ]?|[._])(?=\d{1,4}x\d))(?:(\d{1,4})x)?"
                        r"(\d{1,3})(?=[xX]\d|[^A-Za-z0-9]|$)", _I)
_CAP = re.compile(B + r"cap[ ._]*(\d{1,2})(\d{2})(?:_(?:\d{1,2})?(\d{2}))?" + E, _I)
_DUTCH = re.compile(B + r"se(?:izoen)?[ ._]?(\d{1,2})[ ._]+afl(?:evering)?[ ._]?(\d{1,3})"
                    r"((?:(?:[ ._]?-[ ._]?|[ ._]+en[ ._]+)\d{1,3})*)" + E, _I)
# "S01-05" only without spaces: "Show S2 - 05" is an anime episode, not seasons 2 to 5.
_MULTI_SEASON = re.compile(B + r"S(\d{1,2})(?:[ ._]?(?:-|to)[ ._]?S(\d{1,2})|-(\d{1,2}))" + E, _I)
_MORE_SEASONS = re.compile(r"(?:[ ._+&]+S\d{1,2}(?![0-9A-Za-z]))+", _I)
_SEASON_ONLY = re.compile(B + r"S(?:(\d{1,2})|[ ](\d{2})|((?:19|20)\d\d))" + E, _I)
# What may follow a bare season: a fansub episode ("S3 - 12", "S03 - EP14", "S2 [05]"), "s06.01", or an
# absolute number ("S21 999").
_AFTER_SEASON_DASH = re.compile(r"[)\]]?\s*-\s*(?:(?:EP?|Episode)[ ._]?)?(\d{1,4})(?:v\d)?(?=$|[ _.\[(])", _I)
_AFTER_SEASON_BRACKET = re.compile(r"[ ._]*\[(\d{1,4})(?:v\d)?\]")
_AFTER_SEASON_DOT = re.compile(r"\.(\d{2})(?=[ ._])")
_AFTER_SEASON_NUMBER = re.compile(r"[ ._]+(\d{3,4})" + E)
_SEASON_WORD = re.compile(
    B + r"(?:the[ ._-]+)?(?:complete[ ._-]+)?(?:seasons?|saison|stagione|temporada|staffel|series|seizoen|sezon|"
    r"kausi|s[äa]song)(?:[ ._]*|-)(\d{1,2})(?!\d)"
    r"(?:[ ._]*(?:-|to|&|and|a|à|,)[ ._]*(?:(?:seasons?|saison|stagione|temporada|staffel|series)[ ._-]*)?"
    r"(\d{1,2})(?!\d))?"
    r"(?:[ ._-]*(?:episodes?|episodio|[ée]pisode|ep|e|folge|capitulo|cap[ií]tulo|aflevering|afl)[ ._-]*(\d{1,3})"
    r"(?:[ ._]?-[ ._]?(\d{1,3}))?" + E + ")?", _I)
# "Show 2nd Season 05": an ordinal season is part of an anime's title (its own series on AniDB), not a season.
_ORDINAL_BEFORE = re.compile(B + r"\d{1,2}(?:st|nd|rd|th)[ ._-]+$", _I)
_COMPLETE_SERIES = re.compile(
    B + r"(?:the[ ._-]+)?(?:complete[ ._-]+(?:series|collection|box[ ._-]?set)|integrale|int[ée]grale)" + E, _I)
_COMPLETE = re.compile(B + r"complete(?:[ ._-]?season)?" + E, _I)
_TURKISH = re.compile(r"(?<![0-9])(\d{1,4})\.?[ ]?(?:B[öo]l[üu]m|BLM)(?![^\W\d_])", _I)
_DATE_YMD = re.compile(r"(?<!\d)((?:19|20)\d\d)([ ._-])(\d\d)\2(\d\d)(?!\d)")
_DATE_XXY = re.compile(r"(?<!\d)(\d\d)([ ._-])(\d\d)\2((?:19|20)\d\d)(?!\d)")
_DATE_COMPACT = re.compile(r"(?<![\d\[])((?:19|20)\d\d)(\d\d)(\d\d)(?![\d\]])")
_ANIME_DASH = re.compile(r"(?<=\S)[ _.]+-[ _.]+(?:#|(?:EP?|Episode)[ ._]?)?(\d{1,4})(?:v\d)?"
                         r"(?:[ ]?[-~][ ]?(\d{1,4})(?:v\d)?)?(?=$|[ _.\[(])", _I)
# What may follow an anime " - 05": the end, a bracket, another " - ", a version, or a tag ("- 01 DVD").
_ANIME_DASH_END = re.compile(r"$|[ _.]*[\[({]|[ _.]+-[ _.]|[ _.]+(?:v\d|VOSTFR|VF|VOST|DVD|BD|WEB|HDTV|\d{3,4}p)"
                             r"(?![A-Za-z])", _I)
_ANIME_BATCH = re.compile(r"[\[(](\d{1,4})[ ]?[-~][ ]?(\d{1,4})[\])]")
_ANIME_SINGLE_BRACKET = re.compile(r"(?<=[ _.])[\[{](\d{2,4})[\]}]")
_ANIME_HASH = re.compile(r"(?<=[ _.])#(\d{1,4})" + E)
_ANIME_BARE = re.compile(r"(?<=\S)[ _.\-:](\d{2,4})(?:v\d)?[ _.]*(?=[\[(]|$)")
_ANIME_PADDED = re.compile(r"(?<=[ _.])(0\d{1,2})(?:v\d)?(?=[ _.])")
# French fansubs: "Title 484 VOSTFR" is absolute episode 484, not season 4 episode 84.
_ANIME_FRENCH = re.compile(r"(?<=[ _.])(\d{1,4})[ _.]+(?:VOSTFR|VF|VOST)" + E, _I)
_COMPACT = re.compile(r"(?<![A-Za-z0-9])(\d{3,6})" + E)
_COMPACT_NEXT = re.compile(r"[ ._-](\d{3,4})" + E)
_DECIMAL_BEFORE = re.compile(r"(?:^|\D)\d[.,]$")
_TAG_START = re.compile(r"(?:\d{3,4}[pi]|[ap]?hdtv|pdtv|sdtv|web|blu|bd|br[ ._-]?rip|dvd|[xh][ ._]?26|xvid|divx|hevc|"
                        r"remux|dsr|proper|repack|internal|ws)", _I)
_GROUP_ONLY_REST = re.compile(r"-[^\W_][\w]*$")
_PADDED_BEFORE_TAG = re.compile(r"(?<=[ _.])(0\d{1,2})[ _.]+(?=\d{3,4}p|[xh]26|hdtv|web|bluray)", _I)
_EPISODE_ONLY = re.compile(
    B + r"(?:episode|episodio|[ée]pisode|ep|e|folge)[ ._-]?(\d{1,4})(?!\d)"
    r"(?:[ ._]?-[ ._]?(?:ep?)?(\d{1,4})(?!\d))?", _I)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8,
                 "ix": 9, "x": 10}
_PART_BEFORE = re.compile(B + r"(?:part|pt)[ ._]?$", _I)
_PART = re.compile(B + r"(?:part|pt)[ ._]?(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")" + E, _I)
_N_OF_M = re.compile(B + r"(\d{1,2})[ ._]?of[ ._]?(\d{1,2})" + E, _I)
_OF_TOTAL = re.compile(r"[ ._]?of[ ._]?(\d{1,3})" + E, _I)

_YEAR = re.compile(r"(?<![A-Za-z0-9])[\[(]?((?:19|20)\d\d)[\])]?(?![A-Za-z0-9])")
_YEAR_DIGITS = re.compile(r"(?:19|20)\d\d")
_ANY_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_MAX_YEAR = datetime.date.today().year + 1

# Tags that end a movie title even without a year. The ambiguous ones ("WEB", "TS", "CAM", "DVD") are missing on
# purpose: they are ordinary words in titles.
_STRONG_TAG = re.compile(
    B + r"(?:\d{3,4}[pi]|4k|uhd|\d{3,4}x\d{3,4}|web[ ._-]?(?:dl|rip)|blu[ ._-]?ray|bd[ ._-]?rip|br[ ._-]?rip|"
    r"remux|hdtv|pdtv|dvd[ ._-]?rip|dvdscr|hdcam|hdts|telesync|[xh][ ._]?26[456]|hevc|xvid|divx|"
    r"(?:bd|blu[ ._-]?ray|hdtv|web)\d{3,4}p|(?:hr[ ._-])?ws[ ._-](?:pdtv|hdtv|dsr)|hr[ ._-](?:pdtv|hdtv))" + E
    # A source alone in brackets: "Title (BD)(640x480)".
    + r"|(?<=[\[(])(?:BD|DVD|WEB|HDTV|TV)(?=[\])])", _I)
_WEAK_TAG = re.compile(
    B + r"(?:proper|repack|rerip|internal|limited|unrated|extended|remastered|imax|uncut|theatrical|"
    r"multi|dual|dubbed|subbed|truefrench|french|vostfr|vff|german|ita|italian|spanish|castellano|latino|"
    r"nordic|danish|swedish|norwegian|finnish|dutch|flemish|polish|russian|korean|japanese|hindi|"
    r"10bit|8bit|hdr|hdr10|dv|dovi|sdr|aac|ac3|dts|dd|ddp|eac3|truehd|atmos|flac|amzn|nf|dsnp|hmax|atvp|"
    r"hulu|pcok|webrip|web|dvd|cam|ts|scr|dvdr|bdrip|bluray)" + E, _I)

_TRAILING_JUNK = frozenset((
    "xpost", "postbot", "obfuscated", "scrambled", "rakuten", "asrequested", "rp", "sample", "whiterev", "buymore",
    "chamele0n", "4p", "4planet", "altezachen", "vacation", "pre", "nzbgeek"))
# Tags trackers and indexers append ("-GRP[rarbg]", "[eztv]"): never the group.
_TRACKER_TAG = re.compile(r"^(?:rarbg|rartv|eztv|ettv|tgx|publichd|vtv|eztv\.re|ethd|rbg|\w+\.(?:com|org|net|to|"
                          r"re|ws|info|xyz))$", _I)
_TRAILING_BRACKET = re.compile(r"[\[(]([^\[\]()]*)[\])][)\]]*\s*$")
_GROUP_IN_BRACKET = re.compile(r"-\s*[\[(]([^\[\]()]+)[\])]\s*$")

_GROUP_WORD = re.compile(r"^[^\W_][\w&@]*$")
_CRC = re.compile(r"^[0-9A-Fa-f]{8}$")
_NOT_A_GROUP_WORDS = frozenset((
    "dl", "rip", "web", "hevc", "avc", "xvid", "hdtv", "bluray", "bit", "dts", "hd", "ma", "ac3", "aac", "atmos",
    "man", "ray", "in", "it", "one", "cut", "cam", "ts", "remux", "repack", "proper", "uhd", "sdr", "hdr", "sub",
    "subs", "dub", "subbed", "dubbed", "multi", "vostfr", "eng", "raw", "sdtv", "webdl", "dvd", "dvdrip", "bdrip",
    "internal", "mkv", "mp4", "avi", "sbs", "hsbs", "ou", "hou", "3d"))
_NOT_A_GROUP = re.compile(r"^(?:\d+|[xh]26[456]|\d{3,4}[pi]|s\d+(?:e\d+)?|e\d+|\d+ch)$", _I)


# --- internal results -----------------------------------------------------------------------------------------

@dataclass
class _Numbering:
    start: int
    end: int
    season: int | None = None
    seasons: tuple[int, ...] = ()
    episodes: tuple[int, ...] = ()
    full_season: bool = False
    air_date: datetime.date | None = None
    absolute: tuple[int, ...] = ()
    season_assumed: bool = False  # season 1 of a mini-series ("Part 2", "E05"): a folder's season overrides it


# What parse_release hands out of the working fields (all of ParsedRelease but the input title).
_PUBLIC_FIELDS = tuple(f.name for f in dataclasses.fields(ParsedRelease) if f.name != "title")


@dataclass
class _Fields:
    series_title: str = ""
    season: int | None = None
    seasons: tuple[int, ...] = ()
    episodes: tuple[int, ...] = ()
    full_season: bool = False
    air_date: datetime.date | None = None
    year: int | None = None
    resolution: int | None = None
    source: str | None = None
    codec: str | None = None
    group: str | None = None
    proper: bool = False
    repack: bool = False
    absolute_episodes: tuple[int, ...] = ()
    edition: str | None = None
    languages: tuple[str, ...] = ()
    rip: bool = False
    container: str | None = None
    leading_number: int | None = None  # "05 - Title.mkv": an episode number only inside a season folder
    season_assumed: bool = False
    is_file: bool = False

    @property
    def has_season(self) -> bool:
        return (self.season is not None and not self.season_assumed) or self.air_date is not None \
            or bool(self.seasons and not self.season_assumed)


# --- numbering ------------------------------------------------------------------------------------------------

def _range(a: int, b: int) -> tuple[int, ...]:
    # A "range" running backwards or spanning more than a season's worth is noise (S01E05-2019), not a range.
    if a < b <= a + 60:
        return tuple(range(a, b + 1))
    return (a,)


def _episode(start: int, end: int, season: int, episodes: tuple[int, ...]) -> _Numbering:
    return _Numbering(start, end, season, (season,), episodes)


def _sxxeyy(s: str) -> _Numbering | None:
    m = _SXXEYY.search(s) or _SXXEYY_GLUED.search(s)
    if m is None:
        return None
    season, first, end = int(m.group(1)), int(m.group(2)), m.end()
    last = first
    while (more := _EP_RANGE.match(s, end) or _EP_LIST.match(s, end)) is not None and int(more.group(1)) > last:
        last, end = int(more.group(1)), more.end()
    # "E01-E03", "E01E02E03" and even "E01E03" all mean every episode from the first to the last.
    episodes = _range(first, last)
    total = _OF_TOTAL.match(s, end)
    if first == 1 and total is not None and int(total.group(1)) == last > 1:
        # "S1E1-8 of 8": every episode of the season, i.e. the season pack.
        return _Numbering(m.start(), total.end(), season, (season,), (), True)
    return _episode(m.start(), end, season, episodes)


def _nxnn(s: str) -> _Numbering | None:
    for m in _NXNN.finditer(s):
        season, first = int(m.group(1)), int(m.group(2))
        if season == 0 and len(m.group(2)) < 2 or len(m.group(1)) == 4 and 1.2 * first <= season <= 2.8 * first:
            continue  # "0x1" is no episode, "1920x800" a frame size
        last, end = first, m.end()
        while (more := _NXNN_MORE.match(s, end)) is not None and int(more.group(2)) > last \
                and (more.group(1) is None or int(more.group(1)) == season):
            last, end = int(more.group(2)), more.end()
        return _episode(m.start(), end, season, _range(first, last))
    return None


def _cap(s: str) -> _Numbering | None:
    # Spanish trackers: "[Cap.102]" is season 1 episode 2, "[Cap.111_120]" episodes 11 to 20 of season 1.
    m = _CAP.search(s)
    if m is None:
        return None
    season, first = int(m.group(1)), int(m.group(2))
    episodes = _range(first, int(m.group(3))) if m.group(3) else (first,)
    return _episode(m.start(), m.end(), season, episodes)


def _dutch(s: str) -> _Numbering | None:
    m = _DUTCH.search(s)
    if m is None:
        return None
    numbers = [int(m.group(2)), *(int(n) for n in re.findall(r"\d+", m.group(3)))]
    return _episode(m.start(), m.end(), int(m.group(1)), _range(numbers[0], max(numbers)))


def _multi_season(s: str) -> _Numbering | None:
    m = _MULTI_SEASON.search(s)
    if m is None:
        return None
    seasons = _range(int(m.group(1)), int(m.group(2) or m.group(3)))
    return _Numbering(m.start(), m.end(), seasons[0], seasons, (), True)


def _season_only(s: str) -> _Numbering | None:
    m = _SEASON_ONLY.search(s)
    if m is None:
        return None
    season = int(m.group(1) or m.group(2) or m.group(3))
    # Anime fansubs write the season as "Show S2 - 05" or "Show S2 [05]": that number is the episode, and may
    # also be an absolute number (groups differ), so both readings are kept.
    anime = _AFTER_SEASON_DASH.match(s, m.end()) or _AFTER_SEASON_BRACKET.match(s, m.end())
    if anime is not None:
        episode = int(anime.group(1))
        return _Numbering(m.start(), anime.end(), season, (season,), (episode,), absolute=(episode,))
    dotted = _AFTER_SEASON_DOT.match(s, m.end())
    if dotted is not None and int(dotted.group(1)) > 0:
        return _episode(m.start(), dotted.end(), season, (int(dotted.group(1)),))
    number = _AFTER_SEASON_NUMBER.match(s, m.end())
    if number is not None and not _is_year(number.group(1)) and int(number.group(1)) not in tags.RES_VALUES:
        # "Anime Title S21 999": a season label followed by the absolute number.
        return _Numbering(m.start(), number.end(), season, (season,), absolute=(int(number.group(1)),))
    listed = _MORE_SEASONS.match(s, m.end())
    if listed is not None:  # "Show.S01.S02.S03": a pack of every season from the first to the last
        seasons = _range(season, int(re.findall(r"\d+", listed.group(0))[-1]))
        return _Numbering(m.start(), listed.end(), season, seasons, (), True)
    # "(Show s03 e - "Show Season 3 Episode 10"": a later spelled-out episode of the same season wins.
    spelled = _season_word(s[m.end():])
    if spelled is not None and spelled.season == season and spelled.episodes:
        return _episode(m.start(), m.end() + spelled.end, season, spelled.episodes)
    return _Numbering(m.start(), m.end(), season, (season,), (), True)


_SEASON_WORD_HINTS = ("season", "saison", "stagione", "temporada", "staffel", "series", "seizoen", "sezon", "kausi",
                      "song")


def _season_word(s: str, anime_style: bool = False) -> _Numbering | None:
    lower = s.lower()
    if not any(hint in lower for hint in _SEASON_WORD_HINTS):
        return None
    m = _SEASON_WORD.search(s)
    if m is None or _ORDINAL_BEFORE.search(s, 0, m.start()):
        return None
    first = int(m.group(1))
    anime = _AFTER_SEASON_DASH.match(s, m.end(1))
    if anime_style and anime is not None and not m.group(3):
        # Fansubs: "[Grp] Vinland Saga Season 2 - 24" is episode 24, not seasons 2 to 24.
        episode = int(anime.group(1))
        return _Numbering(m.start(), anime.end(), first, (first,), (episode,), absolute=(episode,))
    seasons = _range(first, int(m.group(2))) if m.group(2) else (first,)
    if m.group(3):
        episodes = _range(int(m.group(3)), int(m.group(4))) if m.group(4) else (int(m.group(3)),)
        return _episode(m.start(), m.end(), first, episodes)
    return _Numbering(m.start(), m.end(), first, seasons, (), True)


def _complete_series(s: str) -> _Numbering | None:
    lower = s.lower()
    m = _COMPLETE_SERIES.search(s) if "complete" in lower or "int" in lower else None
    if m is None or m.start() == 0:
        return None
    return _Numbering(m.start(), m.end(), full_season=True)


def _turkish(s: str) -> _Numbering | None:
    # Turkish TV: "Show 12. Bölüm" (also "Bolum", "BLM") is episode 12 counted from the first.
    m = _TURKISH.search(s)
    if m is None or m.start() == 0:
        return None
    number = int(m.group(1))
    return _Numbering(m.start(), m.end(), episodes=(number,), absolute=(number,))


def _date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day) if 1900 <= year <= _MAX_YEAR else None
    except ValueError:
        return None


def _dates(s: str) -> list[tuple[int, int, datetime.date]]:
    """Every full date in ``s`` as (start, end, date): Y-M-D (or Y-D-M when the month is impossible), D-M-Y or
    M-D-Y (US order when the first number cannot be a month... or the second cannot be a day otherwise),
    and YYYYMMDD outside brackets (a bracketed 8-digit number is a checksum)."""
    found: list[tuple[int, int, datetime.date]] = []
    if _YEAR_DIGITS.search(s) is None:
        return found
    for m in _DATE_YMD.finditer(s):
        year, a, b = int(m.group(1)), int(m.group(3)), int(m.group(4))
        day = _date(year, a, b) or _date(year, b, a)
        if day is not None:
            found.append((m.start(), m.end(), day))
    for m in _DATE_XXY.finditer(s):
        a, b, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        day = _date(year, b, a) or _date(year, a, b)
        if day is not None:
            found.append((m.start(), m.end(), day))
    for m in _DATE_COMPACT.finditer(s):
        day = _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if day is not None:
            found.append((m.start(), m.end(), day))
    return sorted(found, key=lambda f: f[0])


def _air_date(s: str) -> _Numbering | None:
    for start, end, day in _dates(s):
        # A date that is the whole name says nothing; one at the start followed by more is a daily show's file.
        if start > 0 or s[end:].strip(" ._-"):
            return _Numbering(start, end, air_date=day)
    return None


def _anime_dash(s: str) -> re.Match[str] | None:
    # "Show - 100 Years Quest - 01": the first " - 100" is part of the title because words follow it.
    for m in _ANIME_DASH.finditer(s):
        if not _is_year(m.group(1)) and _ANIME_DASH_END.match(s, m.end()):
            return m
    return None


def _absolute(start: int, end: int, first: int, last: int | None = None) -> _Numbering:
    numbers = _range(first, last) if last is not None else (first,)
    return _Numbering(start, end, episodes=numbers, absolute=numbers)


def _anime(s: str, has_prefix_group: bool) -> _Numbering | None:
    m = _anime_dash(s)
    if m is not None:
        return _absolute(m.start(), m.end(), int(m.group(1)), int(m.group(2)) if m.group(2) else None)
    batch = _ANIME_BATCH.search(s)
    if batch is not None and batch.start() > 0 and not _is_year(batch.group(1)):
        return _absolute(batch.start(), batch.end(), int(batch.group(1)), int(batch.group(2)))
    for pattern in (_ANIME_SINGLE_BRACKET, _ANIME_HASH, _ANIME_FRENCH, _PADDED_BEFORE_TAG):
        m = pattern.search(s)
        if m is not None and m.start() > 0 and not _is_year(m.group(1)) and int(m.group(1)) not in tags.RES_VALUES \
                and not _PART_BEFORE.search(s, 0, m.start()):
            return _absolute(m.start(), m.end(), int(m.group(1)))
    if has_prefix_group:
        # "[Group] Show 05 [720p]", "[Group] Show 01 Title": only trusted with the fansub-style group prefix,
        # else "Movie 2" would match.
        for pattern in (_ANIME_BARE, _ANIME_PADDED):
            m = pattern.search(s)
            if m is not None and not _is_year(m.group(1)) and int(m.group(1)) not in tags.RES_VALUES:
                return _absolute(m.start(), m.end(), int(m.group(1)))
    return None


def _compact_reading(digits: str) -> tuple[int, tuple[int, ...]] | datetime.date | None:
    """"102" -> S1E2, "1013"/"0308" -> S10E13/S3E8, "10708" -> S1E7-8, "010910" -> S1E9-10, "140722" -> 2014-07-22."""
    if len(digits) <= 4:
        season, episode = (int(digits[0]), int(digits[1:])) if len(digits) == 3 else (int(digits[:2]),
                                                                                       int(digits[2:]))
        if season == 0 or episode == 0 or (len(digits) == 3 and digits[0] == "0"):
            return None
        return season, (episode,)
    cut = len(digits) - 4
    season, first, second = int(digits[:cut]), int(digits[cut:cut + 2]), int(digits[cut + 2:])
    if season > 0 and first > 0 and second == first + 1:
        return season, (first, second)
    if len(digits) == 6:
        year = 2000 + int(digits[:2]) if int(digits[:2]) <= _MAX_YEAR % 100 else 1900 + int(digits[:2])
        return _date(year, int(digits[2:4]), int(digits[4:]))
    return None


def _compact_accepted(s: str, m: re.Match[str], season: int | None) -> bool:
    """A compact number is numbering only when what follows says so: a tag, a "-GROUP", the end of the name,
    another compact number of the same season, or (in "_"/"." names) title words with no year after them."""
    rest = s[m.end():].lstrip(" ._-[(")
    if rest == "" or _TAG_START.match(rest) or _GROUP_ONLY_REST.match(s, m.end()):
        return True
    more = _COMPACT_NEXT.match(s, m.end())
    if more is not None:
        following = _compact_reading(more.group(1))
        return isinstance(following, tuple) and following[0] == season and not _is_year(more.group(1))
    if _WEAK_TAG.match(rest):
        return _YEAR.match(rest) is None
    return s[m.end():m.end() + 1] in "._" and " " not in s and _ANY_YEAR.search(s, m.end()) is None


def _compact(s: str) -> _Numbering | None:
    for m in _COMPACT.finditer(s):
        digits = m.group(1)
        # Every 19xx/20xx is left alone, even a future one ("Blade.Runner.2049"), and so is the "1" of "5.1".
        if m.start() == 0 or re.fullmatch(r"(?:19|20)\d\d", digits) or int(digits) in tags.RES_VALUES \
                or digits in ("264", "265", "266") or _DECIMAL_BEFORE.search(s, 0, m.start()):
            continue
        reading = _compact_reading(digits)
        if reading is None or not _compact_accepted(s, m, reading[0] if isinstance(reading, tuple) else None):
            continue
        if isinstance(reading, datetime.date):
            return _Numbering(m.start(), m.end(), air_date=reading)
        season, episodes = reading
        end = m.end()
        # "103.104": a second compact number of the same season makes a multi-episode file.
        while (more := _COMPACT_NEXT.match(s, end)) is not None:
            following = _compact_reading(more.group(1))
            if not isinstance(following, tuple) or following[0] != season or following[1][0] <= episodes[-1]:
                break
            episodes, end = _range(episodes[0], following[1][-1]), more.end()
        return _episode(m.start(), end, season, episodes)
    return None


def _episode_only(s: str) -> _Numbering | None:
    m = _EPISODE_ONLY.search(s)
    if m is None:
        return None
    first = int(m.group(1))
    episodes = _range(first, int(m.group(2))) if m.group(2) else (first,)
    return _Numbering(m.start(), m.end(), 1, (1,), episodes, absolute=episodes, season_assumed=True)


def _part(s: str) -> _Numbering | None:
    # Mini-series: "Part 2", "Part.Two", "5of9" are season 1. A year after it makes it a film's title
    # ("Dune.Part.Two.2024", "Back.to.the.Future.Part.II.1989").
    m = _N_OF_M.search(s) or _PART.search(s)
    if m is None or m.start() == 0 or _ANY_YEAR.search(s, m.end()) and m.re is _PART:
        return None
    word = m.group(1).lower()
    number = int(word) if word.isdigit() else _NUMBER_WORDS[word]
    if number == 0:
        return None
    part = _PART_BEFORE.search(s, 0, m.start())  # "Part 1 of 3"
    start = part.start() if part is not None and m.re is _N_OF_M else m.start()
    return _Numbering(start, m.end(), 1, (1,), (number,), season_assumed=True)


def _numbering(s: str, has_prefix_group: bool) -> _Numbering | None:
    finders = (_sxxeyy, _nxnn, _cap, _dutch, _multi_season, _season_only,
               lambda text: _season_word(text, has_prefix_group), _complete_series, _turkish, _air_date,
               lambda text: _anime(text, has_prefix_group), _episode_only, _compact, _part)
    for finder in finders:
        found = finder(s)
        if found is not None:
            return found
    return None


def _with_air_date(s: str, num: _Numbering) -> _Numbering:
    """A daily show's full date beside other numbering ("Show 2015 02 09 s01e13") is the air date too; the
    title ends at whichever comes first."""
    if num.air_date is not None:
        return num
    for start, end, day in _dates(s):
        if end <= num.start or start >= num.end:
            return dataclasses.replace(num, air_date=day, start=min(start, num.start))
    return num


def _with_absolute(s: str, num: _Numbering, has_prefix_group: bool) -> _Numbering:
    """Fansub names that carry both "S01E05" and the absolute number ("[Grp] Show - 05 - S01E05",
    "[Grp] Show S10E14 214"): keep the absolute one too."""
    if num.absolute or num.season is None or not num.episodes:
        return num
    dash = _anime_dash(s) if "-" in s and (" -" in s or "_-" in s or ".-" in s) else None
    if dash is not None and (dash.end() <= num.start or dash.start() >= num.end) and not dash.group(2):
        number = int(dash.group(1))
        return dataclasses.replace(num, absolute=(number,), start=min(num.start, dash.start()))
    if not has_prefix_group:
        return num
    after = re.compile(r"[ ._]+\(?(\d{2,4})" + E).match(s, num.end)
    before = re.search(r"(?<=[ ._])(\d{2,4})[ ._]+$", s[:num.start])
    for m, start in ((after, num.start), (before, num.start - len(before.group(0)) if before else 0)):
        if m is not None and not _is_year(m.group(1)) and int(m.group(1)) not in tags.RES_VALUES:
            return dataclasses.replace(num, absolute=(int(m.group(1)),), start=start)
    return num


# --- title and year -------------------------------------------------------------------------------------------

def _is_year(digits: str) -> bool:
    return len(digits) == 4 and 1900 <= int(digits) <= _MAX_YEAR


_ACRONYM = re.compile(B + r"(?:[A-Za-z]\.){2,}(?:[A-Za-z](?![A-Za-z0-9]))?")
_SEPARATORS = re.compile(r"[._\s]+")
_EDGE_JUNK = " \t\n\r\f\v-–([{:,~/"
_EMPTY_BRACKETS = re.compile(r"[(\[{]\s*[)\]}]")
_TRAILING_THE = re.compile(r"\s+the$", _I)


def _clean_title(raw: str) -> str:
    # "S.W.A.T." is one word; joining its letters first keeps "." -> " " from splitting it into four.
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), raw)
    text = _SEPARATORS.sub(" ", text)
    if "(" in text or "[" in text or "{" in text:
        text = _EMPTY_BRACKETS.sub(" ", text)
    return " ".join(text.strip(_EDGE_JUNK).split())


def _split_title_year(segment: str) -> tuple[str, int | None]:
    """Peel the last plausible year off a title segment ("Show.2019" -> "Show", 2019) unless it is the whole
    title ("1917", "2012")."""
    best = None
    for m in _YEAR.finditer(segment):
        if _is_year(m.group(1)) and segment[:m.start()].strip(" ._-[(") != "":
            best = m
    if best is None:
        return segment, None
    return segment[:best.start()], int(best.group(1))


# --- group ----------------------------------------------------------------------------------------------------

def _is_tag(word: str) -> bool:
    return word.lower() in _NOT_A_GROUP_WORDS or bool(_NOT_A_GROUP.match(word) or _STRONG_TAG.fullmatch(word))


def _dash_group(core: str, title_end: int) -> str | None:
    """"...x264-GRP" -> "GRP"; "x264-D-Z0N3" -> "D-Z0N3" (a hyphenated group runs back to the last tag)."""
    token = core.rsplit(".", 1)[-1].rsplit(None, 1)[-1] if core.strip() else ""
    if "-" not in token or token != token.strip(" ._"):
        return None
    pieces = token.split("-")
    taken: list[str] = []
    for piece in reversed(pieces[1:]):
        if not _GROUP_WORD.match(piece) or _is_tag(piece):
            break
        taken.insert(0, piece)
    if not taken:
        return None
    reached_tag = len(taken) < len(pieces) - 1 or _is_tag(pieces[0]) or not _GROUP_WORD.match(pieces[0])
    group = "-".join(taken) if reached_tag else taken[-1]
    start = len(core) - len(group) - 1
    return group if start >= title_end else None


def _group(s: str, title_end: int) -> str | None:
    core = s.rstrip(" ._-")
    while (dash := core.rfind("-")) >= 0 and core[dash + 1:].lower() in _TRAILING_JUNK:
        core = core[:dash]
    # Tracker tags and checksums at the end are not part of the release name: "-GRP[rarbg]", "[eztv]-[x.com]".
    while core.endswith((")", "]")) and (m := _TRAILING_BRACKET.search(core)) is not None \
            and m.start() >= title_end:
        content = m.group(1).strip()
        if _TRACKER_TAG.match(content) or _CRC.match(content) or not content:
            core = core[:m.start()].rstrip(" ._-")
            continue
        if _GROUP_WORD.match(content) and not _is_tag(content) and not tags.languages(content):
            # "-TheSickle[TAoE])", "Title [RlsGroup]": a lone word in the last bracket names the group.
            return content
        break
    bracket = _GROUP_IN_BRACKET.search(core) if core.endswith((")", "]")) else None
    if bracket is not None and bracket.start() >= title_end:
        return bracket.group(1).strip() or None
    return _dash_group(core.rstrip(" ._"), title_end)


# --- one name -------------------------------------------------------------------------------------------------

def _strip_prefixes(s: str) -> tuple[str, str | None]:
    """Remove website prefixes and leading bracket tags; the first bracket that is not a quality tag is the group."""
    group = None
    for _ in range(4):
        before = s
        if s[:1] in "[(【" or s[:4].lower() == "www." or " - " in s:  # cheap test before the costly pattern
            site = _WEBSITE_PREFIX.match(s)
            s = s[site.end():] if site is not None else s
        m = _LEADING_BRACKET.match(s)
        if m is not None and s[m.end():].strip():
            content = m.group(1).strip()
            if group is None and content and not _STRONG_TAG.search(content) and not _WEBSITE_PREFIX.match(content):
                group = content
            s = s[m.end():]
        if s == before:
            break
    return s, group


_LEADING_NUMBER = re.compile(r"^(\d{1,3})(?=\s*[-._ ]\s*\D|$)")


# Real names are well under this; the cap bounds the cost of a few regexes that are quadratic on hostile input
# (a 15,000-character run of " - " took over a second).
_MAX_NAME = 300


_STRONG_HINTS = ("web", "blu", "bd", "br", "remux", "tv", "dvd", "cam", "ts", "sync", "26", "hevc", "xvid", "divx",
                 "4k", "uhd", "ws")
_THREE_DIGITS = re.compile(r"\d{3}")


def _strong_tag(text: str) -> re.Match[str] | None:
    """The first strong tag after the first character; cheap tests first, because most titles have none."""
    lower = text.lower()
    if not any(hint in lower for hint in _STRONG_HINTS) and _THREE_DIGITS.search(text) is None:
        return None
    return _STRONG_TAG.search(text, 1)


def _read_numbering(s: str, num: _Numbering, out: _Fields) -> int:
    """Fill the numbering fields and the title from ``num``; return where the title ends."""
    head = s[:num.start]
    strong = _strong_tag(head)
    segment, out.year = _split_title_year(head[:strong.start()] if strong else head)
    low = segment.lower()
    complete = _COMPLETE_SERIES.search(segment) if "complete" in low or "int" in low else None
    if complete is not None and complete.start() > 0:  # "Show Complete Series S01-S07"
        segment = segment[:complete.start()]
    if num.full_season and _COMPLETE_SERIES.match(s, num.start):
        segment = _TRAILING_THE.sub("", segment.rstrip(" ._-"))
    season_word = _SEASON_WORD.search(segment)
    if season_word is not None and season_word.start() > 0 and not segment[season_word.end():].strip(" ._-[("):
        segment = segment[:season_word.start()]  # "Show - Temporada 2 [HDTV][Cap.201]"
    out.series_title = _clean_title(segment)
    out.season, out.seasons, out.episodes = num.season, num.seasons, num.episodes
    out.full_season, out.air_date = num.full_season, num.air_date
    out.absolute_episodes, out.season_assumed = num.absolute, num.season_assumed
    if out.episodes or out.absolute_episodes:
        out.full_season = False
    elif num.season is not None and _COMPLETE.search(s, num.end):
        out.full_season = True
    return len(segment) if strong else num.start


def _read_movie_title(s: str, out: _Fields) -> int:
    """Title and year of a name without numbering; an edition right before the year leaves the title."""
    strong = _strong_tag(s)
    limit = strong.start() if strong else len(s)
    segment, out.year = _split_title_year(s[:limit])
    if out.year is None:
        weak = _WEAK_TAG.search(s, 1, limit)
        segment = s[:weak.start()] if weak else s[:limit]
    edition_at = tags.edition_span(segment)
    out.series_title = _clean_title(segment[:edition_at] if edition_at is not None else segment)
    return edition_at if edition_at is not None else len(segment)


def _parse_name(name: str) -> _Fields:
    s = name.strip()[:_MAX_NAME]
    base, dot, ext = s.rpartition(".")
    extension = ext.lower() if dot and ext.lower() in _EXTENSIONS else None
    s = base if extension else s
    s, prefix_group = _strip_prefixes(s)
    out = _Fields(is_file=extension is not None)
    num = _numbering(s, prefix_group is not None)
    if num is not None:
        num = _with_absolute(s, _with_air_date(s, num), prefix_group is not None)
        title_end = _read_numbering(s, num, out)
    else:
        title_end = _read_movie_title(s, out)
    _read_tags(s[title_end:], out)
    out.container = tags.container_of(extension, s[title_end:])
    out.group = prefix_group or _group(s, title_end)
    lead = _LEADING_NUMBER.match(s)
    out.leading_number = int(lead.group(1)) if lead and not out.episodes else None
    return out


_PROPER = re.compile(B + r"PROPER" + E, _I)
_REPACK = re.compile(B + r"(?:REPACK\d?|RERIP)" + E, _I)


def _read_tags(tail: str, out: _Fields) -> None:
    out.resolution = tags.resolution(tail)
    out.source, out.rip = tags.source(tail)
    out.codec = tags.codec(tail)
    lower = tail.lower()
    out.proper = "proper" in lower and _PROPER.search(tail) is not None
    out.repack = ("repack" in lower or "rerip" in lower) and _REPACK.search(tail) is not None
    words = tags.words_of(tail)
    out.languages = tags.languages(tail, words)
    out.edition = tags.edition(tail, words)


# --- paths ----------------------------------------------------------------------------------------------------

_PATH_SPLIT = re.compile(r"[\\/]+")
# "A / B" with spaces (tracker style) and slashes inside brackets ("Title (2024/S01E07/WEB-DL)") are one name.
_NOT_A_PATH = re.compile(r"\s[\\/]\s|[(\[][^)\]]*[\\/]")


def _path_parts(title: str) -> list[str]:
    if ("/" not in title and "\\" not in title) or _NOT_A_PATH.search(title):
        return [title]
    return [p for p in _PATH_SPLIT.split(title) if p.strip()] or [title]


def _inherit(base: _Fields, parents: list[_Fields]) -> _Fields:
    """Fill what the file name lacks from its directories (nearest first)."""
    season_dir = next((p for p in parents if p.has_season), None)
    if season_dir is not None:
        titled = season_dir if season_dir.series_title else next((p for p in parents if p.series_title), season_dir)
        base.series_title = titled.series_title or base.series_title
        base.season, base.seasons, base.air_date = season_dir.season, season_dir.seasons, season_dir.air_date
        base.season_assumed = False
        if base.episodes and base.absolute_episodes == base.episodes:
            base.absolute_episodes = ()  # "Show.S03/Episode 07.mkv": the folder says which season it counts in
        if not base.episodes and base.leading_number is not None and not season_dir.episodes:
            # "Show Season 2/05 - Title.mkv": inside a season folder a leading number is the episode.
            base.episodes, base.full_season = (base.leading_number,), False
        elif not base.episodes:
            # One file of a season pack is one (unknown) episode, never the whole season itself; a folder
            # inside a pack folder ("Show.S03.720p.BluRay-GRP/GRP") is still the pack.
            base.episodes = season_dir.episodes
            base.full_season = season_dir.full_season and not base.is_file
        elif len(season_dir.seasons) > 1:
            # An episode file inside a multi-season pack: which season it belongs to is unknown.
            base.season, base.seasons = None, ()
    elif not base.episodes and base.year is None and parents[0].year is not None and parents[0].series_title:
        # A movie folder holding an obfuscated or abbreviated file ("grp-moviename-1080p.mkv"): the folder's
        # name is the release name.
        base.series_title, base.year = parents[0].series_title, parents[0].year
    elif not base.series_title:
        base.series_title = next((p.series_title for p in parents if p.series_title), "")
    return base


def _title_from_folder(base: _Fields, parents: list[_Fields]) -> _Fields:
    """A file that has its own season still takes the show's title from a folder of the same season:
    file names inside packs are often abbreviated or untitled ("Show.S01.1080p/s01e04.mkv",
    "Show.Name.S01.BluRay-GRP/grp-showname-s01e02.mkv")."""
    folder = next((p for p in parents if p.series_title and base.season in p.seasons), None)
    if folder is not None:
        base.series_title = folder.series_title
    elif not base.series_title:
        base.series_title = next((p.series_title for p in parents if p.series_title), "")
    return base


def _inherit_quality(base: _Fields, parents: list[_Fields]) -> _Fields:
    for p in parents:
        base.year = base.year or p.year
        base.resolution = base.resolution or p.resolution
        if base.source is None:
            base.source, base.rip = p.source, p.rip
        base.codec = base.codec or p.codec
        base.group = base.group or p.group
        base.proper = base.proper or p.proper
        base.repack = base.repack or p.repack
        base.edition = base.edition or p.edition
        base.languages = base.languages or p.languages
    return base


def parse_release(title: str) -> ParsedRelease:
    """Parse a release name, torrent title, file name or path. Never raises on text input.

    For paths only the file name and its two nearest folders are read (the file's end of an overlong path)."""
    parts = _path_parts(title[-4 * _MAX_NAME:])
    fields = _parse_name(parts[-1])
    if len(parts) > 1:
        parents = [_parse_name(p) for p in reversed(parts[-3:-1])]
        fields = _inherit(fields, parents) if not fields.has_season else _title_from_folder(fields, parents)
        fields = _inherit_quality(fields, parents)
    return ParsedRelease(title=title, **{name: getattr(fields, name) for name in _PUBLIC_FIELDS})
