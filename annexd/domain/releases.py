"""Release-name parser (pure: no I/O; the only clock use is the upper bound for plausible years).

``parse_release("Show.Name.S01E02.1080p.WEB-DL.x264-GRP")`` returns a frozen :class:`ParsedRelease` with the
series title, season/episode numbering (or an air date for daily shows), year, resolution, source, codec,
release group and PROPER/REPACK flags. ``normalize_title`` turns titles into a comparable key.

How a name is read:

1. Paths: the base name is parsed; when it carries no season and no air date, the nearest folder with one
   supplies the season and the series title (``Show.S01.1080p/Episode 3.mkv`` -> S1E3; a bare leading number
   ``05 - Title.mkv`` in a season folder is the episode), but never ``full_season``: one file is not a pack.
   A file with its own season takes the title of a folder of that season (file names in packs are often
   abbreviated). Quality fields the base name lacks come from the folders. "A / B" with spaces is not a path.
2. Known file extensions, website prefixes (``www.site.com - ``) and a leading ``[Group]`` (anime style, taken
   as the release group) are removed.
3. The numbering is looked for in a fixed priority order: ``S01E02`` (with ``-E03``/``-03`` ranges and
   ``E02E03`` lists), ``1x02``, ``S01-S05``, ``Season 4`` in several languages, a bare ``S01`` pack,
   ``Complete Series``, a date, an anime ``Show - 05``, a compact ``102``/``1013``, a bare ``E05``/``Episode 5``.
   Earlier patterns are stronger evidence, so the first one found wins. A compact number counts only when a
   quality tag or the end of the name follows it, and never when it looks like 19xx/20xx or a resolution.
4. The series title is what precedes the numbering; for movies it is what precedes the release year (the last
   plausible year before the first quality tag, so ``2001.A.Space.Odyssey.1968`` keeps its leading 2001).
5. Quality tags are only looked for after the title, so a title word such as "Web" in ``Charlotte's.Web``
   never becomes a source.

Anime absolute numbers (``[Group] Show - 05 [720p]``) give ``episodes=(5,)`` with ``season=None``: the number
counts from the first episode of the series, not of a season, so inventing season 1 would mis-map later seasons.

One file, although over 400 lines: the steps above run in that order over one shared set of patterns, and each
step's patterns only make sense next to the ones that run before it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["ParsedRelease", "normalize_title", "parse_release"]


@dataclass(frozen=True)
class ParsedRelease:
    """What a release name says. ``title`` is the input unchanged; ``series_title`` the cleaned show or movie title.

    ``season`` is the first season covered (so ``S01-S05`` gives 1, with ``seasons`` (1, 2, 3, 4, 5)) and None
    for anime absolute numbers, daily shows and ``Complete Series`` packs without numbers. ``full_season`` marks
    packs: it is never set together with ``episodes``. ``resolution`` is one of 480, 576, 720, 1080, 2160 (1440p
    counts as 1080, 540p and lower as 480); ``source`` and ``codec`` use annexd's lower-case vocabulary (see
    module docs of annexd.domain.quality); missing information is None, never guessed."""

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

    @property
    def is_tv(self) -> bool:
        # full_season counts too: "Show.Complete.Series" names no season number but is still TV.
        return self.season is not None or bool(self.episodes) or self.air_date is not None or self.full_season

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
# B / E: token boundaries. Release names separate words with ".", "_", " ", "-", brackets, so "not a letter or
# digit" is the boundary; \b would treat "_" as a word character.
B = r"(?<![A-Za-z0-9])"
E = r"(?![A-Za-z0-9])"
_I = re.IGNORECASE

_VIDEO_EXT = re.compile(
    r"\.(?:mkv|mp4|avi|m4v|wmv|mov|mpe?g|webm|flv|m2ts|iso|srt|sub|idx|ass|ssa|nfo|vob|divx|ogm|rmvb|3gp)$", _I)
_DOMAIN = r"(?:[A-Za-z0-9-]+\.)+(?:com|org|net|to|io|cd|me|tv|se|mx|re|ws|info|xyz|ph|nz|lol|li|ag)"
# Only unmistakable prefixes: bracketed, "www."-led, or followed by " - ". "Back.To.the.Future" is not a site.
_WEBSITE_PREFIX = re.compile(
    r"^\s*(?:[\[(]\s*(?:www\.)?" + _DOMAIN + r"\s*[\])]|www\." + _DOMAIN + r"|" + _DOMAIN + r"(?=\s+-\s))"
    r"\s*(?:-\s*)?", _I)
_LEADING_BRACKET = re.compile(r"^\s*[\[【]([^\]】]*)[\]】][\s._-]*")
_TRAILING_BRACKETS = re.compile(r"(?:\s*[\[(][^\[\]()]*[\])])+\s*$")
_TRAILING_JUNK = re.compile(
    r"(?:-(?:xpost|postbot|obfuscated|scrambled|rakuten|asrequested|rp|sample|WhiteRev|BUYMORE|Chamele0n|"
    r"4P|4Planet|AlteZachen|Rakuten|VACATiON))+$", _I)

# Numbering, strongest first.
_SXXEYY = re.compile(B + r"S(\d{1,4})[ ._-]?E[Pp]?[ ._]?(\d{1,4})(?!\d)", _I)
_EP_RANGE = re.compile(r"[ ._]?(?:-|to)[ ._]?(?:S\d{1,3})?(?:E[Pp]?)?[ ._]?(\d{1,4})" + E, _I)
_EP_LIST = re.compile(r"(?:[ ._-]?\+?[ ._-]?)(?:S\d{1,4})?E[Pp]?[ ._]?(\d{1,4})(?!\d)", _I)
_NXNN_END = r"(?=[xX]\d|-\d|[^A-Za-z0-9]|$)"
_NXNN = re.compile(r"(?<![A-Za-z0-9])(\d{1,2})x(\d{2,3})" + _NXNN_END, _I)
_NXNN_MORE = re.compile(r"(?:x|[ ._]?-[ ._]?(?:\d{1,2}x)?)(\d{2,3})" + _NXNN_END, _I)
# "S01-05" only without spaces: "Show S2 - 05" is an anime episode, not seasons 2 to 5.
_MULTI_SEASON = re.compile(B + r"S(\d{1,2})(?:[ ._]?(?:-|to)[ ._]?S(\d{1,2})|-(\d{1,2}))" + E, _I)
_SEASON_WORD = re.compile(
    B + r"(?:the[ ._-]+)?(?:complete[ ._-]+)?(?:seasons?|saison|stagione|temporada|staffel|series|seizoen|sezon|"
    r"kausi|s[äa]song)(?:[ ._]*|-)(\d{1,2})(?!\d)"
    r"(?:[ ._]*(?:-|to|&|and|a|à|,)[ ._]*(?:(?:seasons?|saison|stagione|temporada|staffel|series)[ ._-]*)?"
    r"(\d{1,2})(?!\d))?"
    r"(?:[ ._-]*(?:episode|episodio|[ée]pisode|ep|e|folge|capitulo|cap[ií]tulo|aflevering|afl)[ ._-]*(\d{1,3})"
    + E + ")?", _I)
_SEASON_ONLY = re.compile(B + r"S(\d{1,2})" + E, _I)
_ANIME_AFTER_SEASON = re.compile(r"\s*-\s*(\d{1,4})(?:v\d)?" + E)
_COMPLETE_SERIES = re.compile(
    B + r"(?:the[ ._-]+)?(?:complete[ ._-]+(?:series|collection|box[ ._-]?set)|integrale|int[ée]grale)" + E, _I)
_COMPLETE = re.compile(B + r"complete(?:[ ._-]?season)?" + E, _I)
_DATE_YMD = re.compile(r"(?<!\d)((?:19|20)\d\d)([ ._-])(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)")
_DATE_DMY = re.compile(r"(?<!\d)(0[1-9]|[12]\d|3[01])([ ._-])(0[1-9]|1[0-2])\2((?:19|20)\d\d)(?!\d)")
_ANIME_ABSOLUTE = re.compile(r"(?<=\S)[ _.]+-[ _.]+(?:#|EP?[ ._]?)?(\d{1,4})(?:v\d)?"
                             r"(?:[ ]?[-~][ ]?(\d{1,4})(?:v\d)?)?(?=$|[ _.\[(])", _I)
_ANIME_BATCH = re.compile(r"[\[(](\d{1,4})[ ]?[-~][ ]?(\d{1,4})[\])]")
_ANIME_BARE = re.compile(r"(?<=\S)[ _](\d{2,4})(?:v\d)?[ _]*(?=[\[(]|$)")
_COMPACT = re.compile(r"(?<![A-Za-z0-9])(\d{3,4})" + E)
_DECIMAL_BEFORE = re.compile(r"(?:^|\D)\d[.,]$")
_CAP_COMPACT = re.compile(B + r"cap[ ._]?(\d{1,2})(\d{2})" + E, _I)
_EPISODE_ONLY = re.compile(
    B + r"(?:episode|episodio|[ée]pisode|ep|e|folge)[ ._-]?(\d{1,4})(?!\d)"
    r"(?:[ ._]?-[ ._]?(?:ep?)?(\d{1,4})(?!\d))?", _I)

_YEAR = re.compile(r"(?<![A-Za-z0-9])[\[(]?((?:19|20)\d\d)[\])]?(?![A-Za-z0-9])")
_MAX_YEAR = datetime.date.today().year + 1

_RESOLUTION = re.compile(B + r"(\d{3,4})[pi](?![a-z])|" + B + r"(4k|uhd|8k)" + E, _I)
_DIMENSIONS = re.compile(B + r"(\d{3,4})[x×](\d{3,4})" + E, _I)
_RES_VALUES = {240: 480, 360: 480, 480: 480, 540: 480, 576: 576, 720: 720, 900: 720, 1080: 1080, 1440: 1080,
               2160: 2160, 4320: 2160}

# Priority matters: "BluRay.REMUX" is a remux, "DVDSCR" a screener, "WEB-Rip" a webrip not a "WEB".
_SOURCES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(B + r"(?:" + pattern + r")" + E, _I)) for name, pattern in (
        ("remux", r"(?:BD|UHD)?[ ._-]?REMUX"),
        ("screener", r"(?:DVD|BD|BR|WEB|HD)?[ ._-]?SCR(?:EENER)?|SCREENER"),
        ("cam", r"(?:HD|HQ)?CAM(?:RIP)?|HD[ ._-]?CAM"),
        ("telesync", r"(?:HD)?TS(?:RIP)?|TELESYNC|(?:HD)?TC|TELECINE|PDVD"),
        ("webrip", r"WEB[ ._-]?RIP|WEBCAP|HDRIP"),
        ("webdl", r"WEB[ ._-]?DL(?:RIP)?|WEBHD|iTunesHD"),
        ("bluray", r"BLU[ ._-]?RAY|BD[ ._-]?RIP|BR[ ._-]?RIP|BD(?:25|50|5|9)?|BDMV|HD[ ._-]?DVD"),
        ("hdtv", r"(?:A|U|HR[ ._-]?)?HDTV(?:RIP)?"),
        ("dvd", r"DVD(?:[ ._-]?RIP|[ ._-]?R|5|9)?|NTSC|PAL"),
        ("sdtv", r"PDTV|SDTV|DSR(?:IP)?|SAT[ ._-]?RIP|TV[ ._-]?RIP|DTH[ ._-]?RIP|DVB(?:RIP)?"),
        # Bare "WEB" last: it is also an English word ("S01E02.The.Web.Episode.HDTV"), so any other source wins.
        ("webdl", r"WEB"),
    ))
_CODECS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(B + r"(?:" + pattern + r")" + E, _I)) for name, pattern in (
        ("x265", r"[xh][ ._]?265|HEVC"),
        ("x264", r"[xh][ ._]?264|AVC"),
        ("av1", r"AV1"),
        ("xvid", r"XVID|DIVX"),
        ("vc1", r"VC[ ._-]?1"),
        ("mpeg2", r"MPEG[ ._-]?2"),
        ("vp9", r"VP9"),
    ))
_PROPER = re.compile(B + r"PROPER" + E, _I)
_REPACK = re.compile(B + r"(?:REPACK\d?|RERIP)" + E, _I)

# Tags that end a movie title even without a year. The ambiguous ones ("WEB", "TS", "CAM", "DVD") are missing on
# purpose: they are ordinary words in titles.
_STRONG_TAG = re.compile(
    B + r"(?:\d{3,4}[pi]|4k|uhd|\d{3,4}x\d{3,4}|web[ ._-]?(?:dl|rip)|blu[ ._-]?ray|bd[ ._-]?rip|br[ ._-]?rip|"
    r"remux|hdtv|pdtv|dvd[ ._-]?rip|dvdscr|hdcam|hdts|telesync|[xh][ ._]?26[45]|hevc|xvid|divx)" + E, _I)
_WEAK_TAG = re.compile(
    B + r"(?:proper|repack|rerip|internal|limited|unrated|extended|remastered|imax|uncut|theatrical|"
    r"multi|dual|dubbed|subbed|truefrench|french|vostfr|vff|german|ita|italian|spanish|castellano|latino|"
    r"nordic|danish|swedish|norwegian|finnish|dutch|flemish|polish|russian|korean|japanese|hindi|"
    r"10bit|8bit|hdr|hdr10|dv|dovi|sdr|aac|ac3|dts|dd|ddp|eac3|truehd|atmos|flac|amzn|nf|dsnp|hmax|atvp|"
    r"hulu|pcok|webrip|web|dvd|cam|ts|scr|dvdr|bdrip|bluray)" + E, _I)

_GROUP_SUFFIX = re.compile(r"-([A-Za-z0-9][A-Za-z0-9_&@]*)$")
_GROUP_IN_BRACKET = re.compile(r"-\s*[\[(]([^\[\]()]+)[\])]\s*$")
_NOT_A_GROUP = re.compile(
    r"^(?:\d+|dl|rip|web|x26[45]|h26[45]|hevc|avc|xvid|hdtv|bluray|\d{3,4}[pi]|s\d+(?:e\d+)?|e\d+|"
    r"dts|hd|ma|ac3|aac|atmos|man|ray|in|it|one|cut|cam|ts|remux|repack|proper|uhd|sdr|hdr)$", _I)


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
    leading_number: int | None = None  # "05 - Title.mkv": an episode number only inside a season folder

    @property
    def has_season(self) -> bool:
        return self.season is not None or self.air_date is not None or bool(self.seasons)


# --- numbering ------------------------------------------------------------------------------------------------

def _range(a: int, b: int) -> tuple[int, ...]:
    # A "range" running backwards or spanning more than a season's worth is noise (S01E05-2019), not a range.
    if a < b <= a + 60:
        return tuple(range(a, b + 1))
    return (a,)


def _sxxeyy(s: str) -> _Numbering | None:
    m = _SXXEYY.search(s)
    if m is None:
        return None
    season, episodes, end = int(m.group(1)), [int(m.group(2))], m.end()
    while True:
        rng = _EP_RANGE.match(s, end)
        if rng is not None and int(rng.group(1)) > episodes[-1]:
            episodes = [*episodes[:-1], *_range(episodes[-1], int(rng.group(1)))]
            end = rng.end()
            continue
        more = _EP_LIST.match(s, end)
        if more is not None and int(more.group(1)) > episodes[-1]:
            episodes.append(int(more.group(1)))
            end = more.end()
            continue
        break
    return _Numbering(m.start(), end, season, (season,), tuple(episodes))


def _nxnn(s: str) -> _Numbering | None:
    m = _NXNN.search(s)
    if m is None or int(m.group(1)) == 0:
        return None
    season, episodes, end = int(m.group(1)), [int(m.group(2))], m.end()
    while (more := _NXNN_MORE.match(s, end)) is not None and int(more.group(1)) > episodes[-1]:
        if more.group(0).lstrip(" ._").startswith("-"):
            episodes = [*episodes[:-1], *_range(episodes[-1], int(more.group(1)))]
        else:
            episodes.append(int(more.group(1)))
        end = more.end()
    return _Numbering(m.start(), end, season, (season,), tuple(episodes))


def _multi_season(s: str) -> _Numbering | None:
    m = _MULTI_SEASON.search(s)
    if m is None:
        return None
    seasons = _range(int(m.group(1)), int(m.group(2) or m.group(3)))
    return _Numbering(m.start(), m.end(), seasons[0], seasons, (), True)


def _season_word(s: str, anime_style: bool = False) -> _Numbering | None:
    m = _SEASON_WORD.search(s)
    if m is None:
        return None
    first = int(m.group(1))
    anime = _ANIME_AFTER_SEASON.match(s, m.end(1))
    if anime_style and anime is not None and not m.group(3):
        # Fansubs: "[Grp] Vinland Saga Season 2 - 24" is episode 24, not seasons 2 to 24.
        return _Numbering(m.start(), anime.end(), first, (first,), (int(anime.group(1)),))
    seasons = _range(first, int(m.group(2))) if m.group(2) else (first,)
    if m.group(3):
        return _Numbering(m.start(), m.end(), first, (first,), (int(m.group(3)),))
    return _Numbering(m.start(), m.end(), first, seasons, (), True)


def _season_only(s: str) -> _Numbering | None:
    m = _SEASON_ONLY.search(s)
    if m is None:
        return None
    season = int(m.group(1))
    # Anime fansubs write the season as "Show S2 - 05": the number after the dash is the episode.
    anime = _ANIME_AFTER_SEASON.match(s, m.end())
    if anime is not None:
        return _Numbering(m.start(), anime.end(), season, (season,), (int(anime.group(1)),))
    return _Numbering(m.start(), m.end(), season, (season,), (), True)


def _complete_series(s: str) -> _Numbering | None:
    m = _COMPLETE_SERIES.search(s)
    if m is None or m.start() == 0:
        return None
    return _Numbering(m.start(), m.end(), full_season=True)


def _air_date(s: str) -> _Numbering | None:
    for pattern, order in ((_DATE_YMD, (1, 3, 4)), (_DATE_DMY, (4, 3, 1))):
        for m in pattern.finditer(s):
            try:
                day = datetime.date(*(int(m.group(i)) for i in order))
            except ValueError:
                continue
            if m.start() > 0:
                return _Numbering(m.start(), m.end(), air_date=day)
    return None


def _anime(s: str, has_prefix_group: bool) -> _Numbering | None:
    m = _ANIME_ABSOLUTE.search(s)
    if m is not None and not _is_year(m.group(1)):
        first = int(m.group(1))
        episodes = _range(first, int(m.group(2))) if m.group(2) else (first,)
        return _Numbering(m.start(), m.end(), episodes=episodes)
    batch = _ANIME_BATCH.search(s)
    if batch is not None and batch.start() > 0 and not _is_year(batch.group(1)):
        return _Numbering(batch.start(), batch.end(), episodes=_range(int(batch.group(1)), int(batch.group(2))))
    if has_prefix_group:
        # "[Group] Show 05 [720p]": only trusted with the fansub-style group prefix, else "Movie 2" would match.
        m = _ANIME_BARE.search(s)
        if m is not None and not _is_year(m.group(1)) and int(m.group(1)) not in _RES_VALUES:
            return _Numbering(m.start(), m.end(), episodes=(int(m.group(1)),))
    return None


def _compact(s: str) -> _Numbering | None:
    cap = _CAP_COMPACT.search(s)
    if cap is not None:
        season, episode = int(cap.group(1)), int(cap.group(2))
        return _Numbering(cap.start(), cap.end(), season, (season,), (episode,))
    for m in _COMPACT.finditer(s):
        digits = m.group(1)
        # Every 19xx/20xx is left alone, even a future one ("Blade.Runner.2049"), and so is the "1" of "5.1".
        if m.start() == 0 or re.fullmatch(r"(?:19|20)\d\d", digits) or int(digits) in _RES_VALUES \
                or digits in ("264", "265") or _DECIMAL_BEFORE.search(s, 0, m.start()):
            continue
        season, episode = (int(digits[0]), int(digits[1:])) if len(digits) == 3 else (int(digits[:2]),
                                                                                       int(digits[2:]))
        if season == 0 or episode == 0 or digits[0] == "0":
            continue
        # Only unambiguous when a quality tag or the end of the name follows: "Room.237.2012" is a movie.
        rest = s[m.end():].lstrip(" ._-[(")
        if rest == "" or _STRONG_TAG.match(rest) or _WEAK_TAG.match(rest) and not _YEAR.match(rest):
            return _Numbering(m.start(), m.end(), season, (season,), (episode,))
    return None


def _episode_only(s: str) -> _Numbering | None:
    m = _EPISODE_ONLY.search(s)
    if m is None:
        return None
    first = int(m.group(1))
    episodes = _range(first, int(m.group(2))) if m.group(2) else (first,)
    return _Numbering(m.start(), m.end(), episodes=episodes)


def _numbering(s: str, has_prefix_group: bool) -> _Numbering | None:
    finders = (_sxxeyy, _nxnn, _multi_season, lambda text: _season_word(text, has_prefix_group), _season_only,
               _complete_series, _air_date)
    for finder in finders:
        found = finder(s)
        if found is not None:
            return found
    return _anime(s, has_prefix_group) or _compact(s) or _episode_only(s)


# --- title and year -------------------------------------------------------------------------------------------

def _is_year(digits: str) -> bool:
    return len(digits) == 4 and 1900 <= int(digits) <= _MAX_YEAR


_ACRONYM = re.compile(B + r"(?:[A-Za-z]\.){2,}(?:[A-Za-z](?![A-Za-z0-9]))?")
_SEPARATORS = re.compile(r"[._\s]+")
_EDGE_JUNK = re.compile(r"^[\s\-–(\[{:,~]+|[\s\-–(\[{:,~]+$")
_EMPTY_BRACKETS = re.compile(r"[(\[{]\s*[)\]}]")
_TRAILING_THE = re.compile(r"\s+the$", _I)


def _clean_title(raw: str) -> str:
    # "S.W.A.T." is one word; joining its letters first keeps "." -> " " from splitting it into four.
    text = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), raw)
    text = _SEPARATORS.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    for _ in range(3):
        text = _EDGE_JUNK.sub("", text).strip()
    return " ".join(text.split())


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


# --- quality --------------------------------------------------------------------------------------------------

def _resolution(tail: str) -> int | None:
    for m in _RESOLUTION.finditer(tail):
        if m.group(2):
            return 2160
        value = int(m.group(1))
        if value in _RES_VALUES:
            return _RES_VALUES[value]
    dims = _DIMENSIONS.search(tail)
    if dims is not None:
        width, height = int(dims.group(1)), int(dims.group(2))
        # Width first: cropped films are 1920x800 and still 1080p.
        for min_width, res in ((3600, 2160), (1800, 1080), (1200, 720)):
            if width >= min_width:
                return res
        return 576 if height >= 560 else 480
    return None


def _first(patterns: tuple[tuple[str, re.Pattern[str]], ...], tail: str) -> str | None:
    for name, pattern in patterns:
        if pattern.search(tail):
            return name
    return None


def _group(s: str, title_end: int) -> str | None:
    bracket = _GROUP_IN_BRACKET.search(s)
    if bracket is not None and bracket.start() >= title_end:
        return bracket.group(1).strip() or None
    core = _TRAILING_JUNK.sub("", _TRAILING_BRACKETS.sub("", s).rstrip(" ._"))
    m = _GROUP_SUFFIX.search(core)
    if m is None or m.start() < title_end or _NOT_A_GROUP.match(m.group(1)):
        return None
    return m.group(1)


# --- one name -------------------------------------------------------------------------------------------------

def _strip_prefixes(s: str) -> tuple[str, str | None]:
    """Remove website prefixes and leading bracket tags; the first bracket that is not a quality tag is the group."""
    group = None
    for _ in range(4):
        before = s
        s = _WEBSITE_PREFIX.sub("", s, count=1)
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


def _parse_name(name: str) -> _Fields:
    s = _VIDEO_EXT.sub("", name.strip()[:_MAX_NAME])
    s, prefix_group = _strip_prefixes(s)
    out = _Fields()
    num = _numbering(s, prefix_group is not None)
    if num is not None:
        head = s[:num.start]
        strong = _STRONG_TAG.search(head, 1)
        segment, out.year = _split_title_year(head[:strong.start()] if strong else head)
        complete = _COMPLETE_SERIES.search(segment)
        if complete is not None and complete.start() > 0:  # "Show Complete Series S01-S07"
            segment = segment[:complete.start()]
        if num.full_season and _COMPLETE_SERIES.match(s, num.start):
            segment = _TRAILING_THE.sub("", segment.rstrip(" ._-"))
        title_end = len(segment) if strong else num.start
        out.season, out.seasons, out.episodes = num.season, num.seasons, num.episodes
        out.full_season, out.air_date = num.full_season, num.air_date
        if out.episodes:
            out.full_season = False
        elif num.season is not None and _COMPLETE.search(s, num.end):
            out.full_season = True
    else:
        strong = _STRONG_TAG.search(s, 1)
        limit = strong.start() if strong else len(s)
        segment, out.year = _split_title_year(s[:limit])
        if out.year is None:
            weak = _WEAK_TAG.search(s, 1, limit)
            segment = s[:weak.start()] if weak else s[:limit]
        title_end = len(segment)
    out.series_title = _clean_title(segment)
    tail = s[title_end:]
    out.resolution = _resolution(tail)
    out.source = _first(_SOURCES, tail)
    out.codec = _first(_CODECS, tail)
    out.proper = _PROPER.search(tail) is not None
    out.repack = _REPACK.search(tail) is not None
    out.group = prefix_group or _group(s, title_end)
    lead = _LEADING_NUMBER.match(s)
    out.leading_number = int(lead.group(1)) if lead and not out.episodes else None
    return out


# --- paths ----------------------------------------------------------------------------------------------------

_PATH_SPLIT = re.compile(r"[\\/]+")


def _path_parts(title: str) -> list[str]:
    # "Show / Alt Title / S01" (tracker style, spaces around the slash) is one name, not a path.
    if ("/" not in title and "\\" not in title) or re.search(r"\s[\\/]\s", title):
        return [title]
    return [p for p in _PATH_SPLIT.split(title) if p.strip()] or [title]


def _inherit(base: _Fields, parents: list[_Fields]) -> _Fields:
    """Fill what the file name lacks from its directories (nearest first)."""
    season_dir = next((p for p in parents if p.has_season), None)
    if season_dir is not None:
        titled = season_dir if season_dir.series_title else next((p for p in parents if p.series_title), season_dir)
        base.series_title = titled.series_title or base.series_title
        base.season, base.seasons, base.air_date = season_dir.season, season_dir.seasons, season_dir.air_date
        if not base.episodes and base.leading_number is not None and not season_dir.episodes:
            # "Show Season 2/05 - Title.mkv": inside a season folder a leading number is the episode.
            base.episodes, base.full_season = (base.leading_number,), False
        elif not base.episodes:
            # One file of a season pack is one (unknown) episode, never the whole season itself.
            base.episodes, base.full_season = season_dir.episodes, False
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
        base.source = base.source or p.source
        base.codec = base.codec or p.codec
        base.group = base.group or p.group
        base.proper = base.proper or p.proper
        base.repack = base.repack or p.repack
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
