"""Quality profiles and release ranking (pure: no I/O, no clocks).

Qualities are strings ``"<resolution>p <source>"`` (``"1080p webdl"``, ``"2160p remux"``, ``"480p dvd"``), built
from a parsed release by :func:`quality_of` the way the Servarr apps (Sonarr, Radarr) rate names:

* TV without an HD resolution is SD: ``HDTV`` alone, ``480p`` without a source and a ``TVRip`` are
  ``"480p sdtv"``; any TV source at 720p or more is ``hdtv`` (``"720p hdtv"`` for ``HR.PDTV`` too).
* A name with a resolution but no source gets ``hdtv`` (``sdtv`` below 720p); one with a source but no resolution
  gets that source's usual one: 720 for Blu-ray, but 480 for a ``BDRip``/``BRRip`` or an XviD/DivX encode; 480 for
  WEB, DVD and TV; 1080 for a remux. A Matroska container (``.mkv``, ``[MKV]``) makes an unresolved TV or WEB
  release 720p; a name with nothing but ``.avi``/XviD/DivX/x264 is ``"480p sdtv"``, ``.mkv`` ``"720p hdtv"``,
  ``.m2ts`` ``"720p bluray"``.
* A remux below 1080p is rated as the Blu-ray it came from (``"720p bluray"``).
* ``cam``, ``telesync`` and ``screener`` are never HD whatever pixels they claim: always ``"480p cam"`` etc.,
  ranked below every real source and rejected unless a profile lists them.

A :class:`QualityProfile` lists the allowed qualities best-first; the position in that list is the first
ranking key. Releases with a quality the profile does not allow, but not better than its best allowed quality,
are *below profile*: kept as alternatives (``ProcessingItem.available_releases``) while upgrades are watched.

One file, although over 400 lines: the quality of a release, the profile and the ranking are one ordering, and
splitting them would scatter the rules that must agree (what counts as allowed, below profile or rejected).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from annexd.domain.releases import ParsedRelease

# Every quality annexd knows, best first. Profiles pick and order a subset of these.
# Every quality quality_of can give, best first. Profiles pick and order a subset of these.
ALL_QUALITIES: tuple[str, ...] = (
    "2160p remux", "2160p bluray", "2160p webdl", "2160p webrip", "2160p hdtv",
    "1080p remux", "1080p bluray", "1080p webdl", "1080p webrip", "1080p hdtv",
    "720p bluray", "720p webdl", "720p webrip", "720p hdtv",
    "576p bluray", "576p dvd", "480p bluray", "480p webdl", "480p webrip", "480p dvd", "480p sdtv",
    "480p screener", "480p telesync", "480p cam",
)
_GLOBAL_POSITION = {q: i for i, q in enumerate(ALL_QUALITIES)}
_JUNK_SOURCES = frozenset({"cam", "telesync", "screener"})
_DEFAULT_RESOLUTION = {"dvd": 480, "sdtv": 480, "bluray": 720, "remux": 1080, "hdtv": 480, "webdl": 480,
                       "webrip": 480}
_SD_CODECS = frozenset({"xvid"})
# What a container alone says: (source, resolution) for names that name neither.
_CONTAINER_QUALITY = {"avi": ("sdtv", 480), "divx": ("sdtv", 480), "xvid": ("sdtv", 480), "wmv": ("sdtv", 480),
                      "mpg": ("sdtv", 480), "mpeg": ("sdtv", 480), "m4v": ("sdtv", 480), "flv": ("sdtv", 480),
                      "rmvb": ("sdtv", 480), "3gp": ("sdtv", 480), "mkv": ("hdtv", 720), "mk3d": ("hdtv", 720),
                      "m2ts": ("bluray", 720), "vob": ("dvd", 480)}
_HD_CONTAINERS = frozenset({"mkv", "mk3d"})
_CODEC_BONUS = {"x265": 3, "av1": 3, "x264": 2, "xvid": -5, "mpeg2": -5}
_HEX40 = re.compile(r"^[0-9a-f]{40}$")

Status = Literal["accepted", "below_profile", "rejected"]
# Sonarr's "Download Propers and Repacks" (shared/reference/arr-api.md section 6): a higher revision of the held
# quality is an upgrade and ranks first (the default); ranks first but is no upgrade; is ignored altogether.
PREFER_AND_UPGRADE, DO_NOT_UPGRADE, DO_NOT_PREFER = "preferAndUpgrade", "doNotUpgrade", "doNotPrefer"
PROPER_POLICIES = (PREFER_AND_UPGRADE, DO_NOT_UPGRADE, DO_NOT_PREFER)


@dataclass(frozen=True)
class SizeLimit:
    """Size bounds in MB (10**6 bytes), per episode for TV and per film for movies; None = unbounded."""

    min_mb: float | None = None
    max_mb: float | None = None


def _default_tv_sizes() -> dict[str, SizeLimit]:
    return {
        "2160p remux": SizeLimit(2000, 40000), "2160p bluray": SizeLimit(1500, 25000),
        "2160p webdl": SizeLimit(800, 15000), "2160p webrip": SizeLimit(800, 15000),
        "1080p remux": SizeLimit(1000, 20000), "1080p bluray": SizeLimit(300, 8000),
        "1080p webdl": SizeLimit(200, 6000), "1080p webrip": SizeLimit(200, 6000),
        "1080p hdtv": SizeLimit(200, 5000), "720p bluray": SizeLimit(150, 4000),
        "720p webdl": SizeLimit(100, 3000), "720p webrip": SizeLimit(100, 3000), "720p hdtv": SizeLimit(100, 3000),
    }


def _default_movie_sizes() -> dict[str, SizeLimit]:
    return {
        "2160p remux": SizeLimit(15000, 120000), "2160p bluray": SizeLimit(8000, 80000),
        "2160p webdl": SizeLimit(4000, 40000), "2160p webrip": SizeLimit(4000, 40000),
        "1080p remux": SizeLimit(10000, 60000), "1080p bluray": SizeLimit(3000, 30000),
        "1080p webdl": SizeLimit(1500, 20000), "1080p webrip": SizeLimit(1500, 20000),
        "1080p hdtv": SizeLimit(1000, 15000), "720p bluray": SizeLimit(1000, 12000),
        "720p webdl": SizeLimit(600, 8000), "720p webrip": SizeLimit(600, 8000), "720p hdtv": SizeLimit(600, 8000),
    }


@dataclass(frozen=True)
class QualityProfile:
    """What an item should get.

    ``allowed``: qualities (see :data:`ALL_QUALITIES`) best-first. ``cutoff``: stop upgrading once a release of
    this quality or better (earlier in ``allowed``) is held. Words match case-insensitively on word boundaries
    of the title; groups match the parsed release group case-insensitively. ``required_words``: at least one
    must appear (empty = no requirement). ``propers``: Sonarr's "Download Propers and Repacks" policy, one of
    :data:`PROPER_POLICIES` (see :func:`upgrade_reason`).
    """

    name: str = "default-1080p"
    allowed: tuple[str, ...] = (
        "1080p bluray", "1080p webdl", "1080p webrip", "720p bluray", "720p webdl", "720p webrip", "1080p hdtv",
        "720p hdtv",
    )
    cutoff: str = "1080p webdl"
    tv_sizes: Mapping[str, SizeLimit] = field(default_factory=_default_tv_sizes)
    movie_sizes: Mapping[str, SizeLimit] = field(default_factory=_default_movie_sizes)
    preferred_words: tuple[str, ...] = ()
    preferred_groups: tuple[str, ...] = ()
    banned_words: tuple[str, ...] = ()
    banned_groups: tuple[str, ...] = ()
    required_words: tuple[str, ...] = ()
    min_seeders: int = 1
    propers: str = "preferAndUpgrade"

    def __post_init__(self) -> None:
        unknown = [q for q in (*self.allowed, self.cutoff) if q not in _GLOBAL_POSITION]
        if unknown:
            raise ValueError(f"quality profile {self.name!r}: unknown qualities {unknown}")
        if not self.allowed:
            raise ValueError(f"quality profile {self.name!r}: allowed is empty")
        if self.cutoff not in self.allowed:
            raise ValueError(f"quality profile {self.name!r}: cutoff {self.cutoff!r} is not allowed")
        if self.propers not in PROPER_POLICIES:
            raise ValueError(f"quality profile {self.name!r}: propers {self.propers!r} is not one of "
                             f"{', '.join(PROPER_POLICIES)}")

    def position(self, quality: str | None) -> int | None:
        """Index in ``allowed`` (0 = best) or None when not allowed."""
        try:
            return self.allowed.index(quality) if quality else None
        except ValueError:
            return None


DEFAULT_PROFILE = QualityProfile()


@dataclass(frozen=True)
class Release:
    """One search result. ``guid`` is a stable id: the info hash when known, else ``sha1:<hash of guid/link>``.

    ``download_url`` and ``magnet`` carry no credentials: the indexer client removes them
    (:mod:`annexd.domain.release_links`) and names what it removed in ``credentials_removed``; the link is
    rebuilt with the key of ``indexer`` at grab time. They are still kept out of ``repr``.
    ``announce`` is set on a release from an IRC announce (annexd.domain.announce.grab): the network and the
    announce's vars, from which the download link is built at grab time (it holds a passkey, so it is not kept).
    """

    guid: str
    title: str
    size: int
    indexer: str
    parsed: ParsedRelease = field(compare=False)
    seeders: int = 0
    peers: int = 0
    info_hash: str | None = None
    download_url: str | None = field(default=None, repr=False)
    magnet: str | None = field(default=None, repr=False)
    published: datetime | None = None
    categories: tuple[int, ...] = ()
    credentials_removed: tuple[str, ...] = ()
    announce: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Identity of the underlying torrent across indexers (info hash, else guid); used for blocklists."""
        return self.info_hash or self.guid

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; ``parsed`` is not stored but re-derived from the title by :meth:`from_dict`."""
        out: dict[str, Any] = {
            "guid": self.guid, "title": self.title, "size": self.size, "indexer": self.indexer,
            "seeders": self.seeders, "peers": self.peers, "info_hash": self.info_hash,
            "download_url": self.download_url, "magnet": self.magnet,
            "published": self.published.isoformat() if self.published else None,
            "categories": list(self.categories),
        }
        if self.credentials_removed:
            out["credentials_removed"] = list(self.credentials_removed)
        if self.announce is not None:
            out["announce"] = dict(self.announce)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], parse: Callable[[str], ParsedRelease] | None = None) -> Release:
        if parse is None:
            from annexd.domain.releases import parse_release

            parse = parse_release
        title = str(data["title"])
        published = data.get("published")
        return cls(
            guid=str(data["guid"]), title=title, size=int(data.get("size") or 0), indexer=str(data["indexer"]),
            parsed=parse(title), seeders=int(data.get("seeders") or 0), peers=int(data.get("peers") or 0),
            info_hash=data.get("info_hash"), download_url=data.get("download_url"), magnet=data.get("magnet"),
            published=datetime.fromisoformat(published) if published else None,
            categories=tuple(int(c) for c in data.get("categories") or ()),
            credentials_removed=tuple(str(n) for n in data.get("credentials_removed") or ()),
            announce=data.get("announce") if isinstance(data.get("announce"), Mapping) else None,
        )


def make_guid(info_hash: str | None, fallback: str) -> str:
    """Stable release id: the info hash if valid, else a hash of the indexer guid or link (never the raw link,
    which may contain an API key)."""
    if info_hash and _HEX40.match(info_hash):
        return info_hash
    return "sha1:" + hashlib.sha1(fallback.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    quality: str | None
    position: int | None = None  # index in profile.allowed (accepted only)
    score: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Ranked:
    release: Release
    verdict: Verdict


@dataclass(frozen=True)
class RankedResults:
    accepted: tuple[Release, ...]
    below_profile: tuple[Release, ...]
    rejected: tuple[tuple[Release, str], ...]
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)  # by Release.guid

    @property
    def best(self) -> Release | None:
        return self.accepted[0] if self.accepted else None


# --- quality -------------------------------------------------------------------------------------------------

def quality_of(parsed: ParsedRelease) -> str | None:
    """``"1080p webdl"`` style quality of a parsed release (rules in the module docs); None when the name says
    nothing about it."""
    source, resolution = parsed.source, parsed.resolution
    container = getattr(parsed, "container", None)
    if source is None and resolution is None:
        source, resolution = _CONTAINER_QUALITY.get(container or "", (None, None))
        if source is None and parsed.codec in ("xvid", "x264"):
            source, resolution = "sdtv", 480  # a bare SD-era encode: "Show.S01E13.x264-GRP"
        if source is None:
            return None
    if source in _JUNK_SOURCES:
        return f"480p {source}"
    if resolution is None:
        resolution = _default_resolution(source, parsed, container)
    if source is None or source in ("hdtv", "sdtv"):
        source = "hdtv" if resolution >= 720 else "sdtv"
    elif source == "remux" and resolution < 1080:
        source = "bluray"
    quality = f"{resolution}p {source}"
    if quality in _GLOBAL_POSITION:
        return quality
    return _nearest_known(resolution, source)


def _default_resolution(source: str | None, parsed: ParsedRelease, container: str | None) -> int:
    if source == "bluray" and (getattr(parsed, "rip", False) or parsed.codec in _SD_CODECS):
        return 480
    if source in ("hdtv", "webdl", "webrip") and container in _HD_CONTAINERS:
        return 720
    return _DEFAULT_RESOLUTION.get(source or "", 480)


def _nearest_known(resolution: int, source: str) -> str | None:
    candidates = [q for q in ALL_QUALITIES if q.endswith(" " + source)]
    if not candidates:
        return None
    return min(candidates, key=lambda q: (abs(int(q.split("p")[0]) - resolution), _GLOBAL_POSITION[q]))


def meets_cutoff(quality: str | None, profile: QualityProfile) -> bool:
    """True when ``quality`` is allowed and at least as good as the cutoff (no more upgrades wanted)."""
    pos = profile.position(quality)
    return pos is not None and pos <= profile.allowed.index(profile.cutoff)


def is_upgrade(current: str | None, candidate: str | None, profile: QualityProfile) -> bool:
    """True when ``candidate`` is allowed, strictly better than ``current``, and ``current`` is below cutoff."""
    cand = profile.position(candidate)
    if cand is None or meets_cutoff(current, profile):
        return False
    cur = profile.position(current)
    return cur is None or cand < cur


def revision(parsed: ParsedRelease) -> int:
    """The release's revision, as the Servarr apps count it: 1, or 2 for a PROPER or REPACK (RERIP)."""
    return 2 if parsed.proper or parsed.repack else 1


def upgrade_reason(current: Release | None, candidate: Release, profile: QualityProfile) -> str | None:
    """Why ``candidate`` (already accepted by ``profile``) upgrades the delivered ``current``, or None.

    A better allowed quality while ``current`` is below the cutoff; or, under the ``preferAndUpgrade`` policy,
    a higher revision of the same quality whatever the cutoff -- a repack only from the group of ``current``
    (an unknown group is no match), as Sonarr's RepackSpecification has it. Nothing known about ``current``
    (an item delivered before releases were recorded) is no reason to download again."""
    if current is None:
        return None
    held, offered = quality_of(current.parsed), quality_of(candidate.parsed)
    if is_upgrade(held, offered, profile):
        return f"quality {held} -> {offered} (cutoff {profile.cutoff})"
    if held != offered or profile.propers != PREFER_AND_UPGRADE:
        return None
    if revision(candidate.parsed) <= revision(current.parsed):
        return None
    if candidate.parsed.repack and not candidate.parsed.proper and not _same_group(current, candidate):
        return None
    return f"{'repack' if candidate.parsed.repack else 'proper'} of {held}"


def _same_group(a: Release, b: Release) -> bool:
    group = (a.parsed.group or "").lower()
    return bool(group) and group == (b.parsed.group or "").lower()


# --- evaluation ----------------------------------------------------------------------------------------------

def _has_word(title_lower: str, word: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(word.lower()) + r"(?![a-z0-9])", title_lower) is not None


def _episode_count(parsed: ParsedRelease, episodes_wanted: int) -> int:
    if parsed.episodes:
        return len(parsed.episodes)
    if getattr(parsed, "is_tv", False):
        return max(1, episodes_wanted) * max(1, len(parsed.seasons or ()))
    return 1


def _size_problem(release: Release, quality: str, profile: QualityProfile, episodes_wanted: int) -> str | None:
    is_tv = bool(getattr(release.parsed, "is_tv", False))
    limits = (profile.tv_sizes if is_tv else profile.movie_sizes).get(quality)
    if limits is None or release.size <= 0:
        return None
    count = _episode_count(release.parsed, episodes_wanted) if is_tv else 1
    mb = release.size / 1e6 / count
    unit = "MB per episode" if is_tv else "MB"
    if limits.min_mb is not None and mb < limits.min_mb:
        return f"too small: {mb:.0f} {unit} < {limits.min_mb:g}"
    if limits.max_mb is not None and mb > limits.max_mb:
        return f"too large: {mb:.0f} {unit} > {limits.max_mb:g}"
    return None


def _filter_problem(release: Release, profile: QualityProfile, blocklist: Iterable[str]) -> str | None:
    blocked = blocklist if isinstance(blocklist, set | frozenset) else set(blocklist)
    if release.guid in blocked or (release.info_hash and release.info_hash in blocked):
        return "blocklisted"
    title = release.title.lower()
    group = (release.parsed.group or "").lower()
    for word in profile.banned_words:
        if _has_word(title, word):
            return f"banned word {word!r}"
    if group and group in {g.lower() for g in profile.banned_groups}:
        return f"banned group {release.parsed.group!r}"
    if profile.required_words and not any(_has_word(title, w) for w in profile.required_words):
        return "none of the required words"
    if release.seeders < profile.min_seeders:
        return f"{release.seeders} seeders < minimum {profile.min_seeders}"
    return None


def score(release: Release, profile: QualityProfile) -> float:
    """Tie-breaker within one quality: revision, preferred words/groups, codec, seeders (log scale)."""
    parsed = release.parsed
    title = release.title.lower()
    total = 0.0
    if revision(parsed) > 1 and profile.propers != DO_NOT_PREFER:
        total += 1000
    total += 100 * sum(1 for w in profile.preferred_words if _has_word(title, w))
    if parsed.group and parsed.group.lower() in {g.lower() for g in profile.preferred_groups}:
        total += 100
    total += _CODEC_BONUS.get(parsed.codec or "", 0)
    total += min(10 * math.log2(1 + max(release.seeders, 0)), 90)
    return round(total, 6)


def evaluate(
    release: Release,
    profile: QualityProfile = DEFAULT_PROFILE,
    *,
    episodes_wanted: int = 1,
    blocklist: Iterable[str] = (),
) -> Verdict:
    """Judge one release against a profile.

    ``episodes_wanted``: how many episodes a season pack is expected to hold (used to scale TV size limits per
    episode); releases that name their episodes use their own count. ``blocklist``: info hashes and/or guids.
    """
    quality = quality_of(release.parsed)
    problem = _filter_problem(release, profile, blocklist)
    if problem:
        return Verdict("rejected", problem, quality)
    if quality is None:
        return Verdict("rejected", "unknown quality", None)
    position = profile.position(quality)
    if position is None:
        return _not_allowed(quality, profile)
    size_problem = _size_problem(release, quality, profile, episodes_wanted)
    if size_problem:
        return Verdict("rejected", size_problem, quality)
    return Verdict("accepted", f"quality {quality} (#{position + 1} in {profile.name})", quality, position,
                   score(release, profile))


def _not_allowed(quality: str, profile: QualityProfile) -> Verdict:
    if quality.split(" ", 1)[1] in _JUNK_SOURCES:
        return Verdict("rejected", f"quality {quality} is never accepted unless allowed", quality)
    best = min(_GLOBAL_POSITION[q] for q in profile.allowed)
    if _GLOBAL_POSITION[quality] < best:
        return Verdict("rejected", f"quality {quality} is above profile {profile.name}", quality)
    return Verdict("below_profile", f"quality {quality} not in profile {profile.name}", quality)


# --- ranking -------------------------------------------------------------------------------------------------

def _tiebreak(release: Release) -> tuple[Any, ...]:
    return (release.guid, release.indexer, release.title, release.info_hash or "", release.download_url or "",
            release.magnet or "", release.peers, release.published.isoformat() if release.published else "",
            release.categories)


def _sort_key(release: Release, verdict: Verdict) -> tuple[Any, ...]:
    pos = verdict.position if verdict.position is not None else _GLOBAL_POSITION.get(verdict.quality or "", 999)
    return (pos, -verdict.score, -release.size, *_tiebreak(release))


def dedupe(releases: Iterable[Release]) -> list[Release]:
    """One release per torrent (info hash, else guid), keeping the copy with the most seeders; order-free."""
    best: dict[str, Release] = {}
    for release in releases:
        current = best.get(release.key)
        if current is None or (-release.seeders, _tiebreak(release)) < (-current.seeders, _tiebreak(current)):
            best[release.key] = release
    return list(best.values())


def rank(
    releases: Iterable[Release],
    profile: QualityProfile = DEFAULT_PROFILE,
    *,
    episodes_wanted: int = 1,
    blocklist: Iterable[str] = (),
) -> RankedResults:
    """Evaluate and order releases (duplicates of one torrent merged). Total order, independent of input order:
    profile position, then score, then size, then identity fields."""
    blocked = frozenset(blocklist)
    judged = [(r, evaluate(r, profile, episodes_wanted=episodes_wanted, blocklist=blocked)) for r in dedupe(releases)]
    judged.sort(key=lambda rv: _sort_key(*rv))
    accepted = tuple(r for r, v in judged if v.status == "accepted")
    below = tuple(r for r, v in judged if v.status == "below_profile")
    rejected = tuple((r, v.reason) for r, v in judged if v.status == "rejected")
    return RankedResults(accepted, below, rejected, {r.guid: v for r, v in judged})


# --- choosing for a TV season ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeasonChoice:
    picks: Mapping[int, Release]  # episode number -> release (a season pack maps every wanted episode)
    missing: frozenset[int]
    pack: Release | None = None  # set when one release covers the whole wanted set

    @property
    def releases(self) -> tuple[Release, ...]:
        """Distinct releases to grab, in rank order of first use."""
        seen: dict[str, Release] = {}
        for ep in sorted(self.picks):
            seen.setdefault(self.picks[ep].guid, self.picks[ep])
        return tuple(seen.values())


def _release_seasons(parsed: ParsedRelease) -> tuple[int, ...]:
    seasons = tuple(parsed.seasons or ())
    if not seasons and parsed.season is not None:
        seasons = (parsed.season,)
    return seasons


def _covers(parsed: ParsedRelease, season: int, allow_multi_season: bool) -> frozenset[int] | Literal["all"]:
    seasons = _release_seasons(parsed)
    if season not in seasons or (len(seasons) > 1 and not allow_multi_season):
        return frozenset()
    if parsed.full_season or (not parsed.episodes and len(seasons) > 1):
        return "all"
    return frozenset(parsed.episodes) if len(seasons) == 1 else frozenset()


def choose_for_season(
    season: int,
    wanted: Iterable[int],
    ranked: Sequence[Release],
    *,
    allow_multi_season: bool = False,
) -> SeasonChoice:
    """Pick releases for the wanted episodes of one season from releases ranked best-first (e.g.
    ``rank(...).accepted``).

    Prefers the best-ranked single release covering every wanted episode (a season pack, or a multi-episode
    release that happens to cover them all); otherwise each episode gets the best-ranked release containing it
    (a multi-episode release covers each of its episodes). Multi-season packs are skipped unless allowed
    (file mapping of those is fragile: Sonarr #3678).
    """
    want = frozenset(wanted)
    if not want:
        return SeasonChoice({}, frozenset())
    coverage = [(r, _covers(r.parsed, season, allow_multi_season)) for r in ranked]
    for release, covers in coverage:
        if covers == "all" or want <= covers:
            return SeasonChoice({ep: release for ep in sorted(want)}, frozenset(), release)
    picks: dict[int, Release] = {}
    for release, covers in coverage:
        if covers == "all":
            continue
        for ep in covers & want:
            picks.setdefault(ep, release)
    return SeasonChoice(picks, want - picks.keys())


# --- sanity filters --------------------------------------------------------------------------------------------

def _norm(s: str) -> str:
    from annexd.domain.releases import normalize_title

    return normalize_title(s)


def title_matches(found: str | None, wanted: str, aliases: Iterable[str] = ()) -> bool:
    if not found:
        return False
    norm = _norm(found)
    return any(norm == _norm(t) for t in (wanted, *aliases) if t)


def _years_agree(found: int | None, wanted: int | None) -> bool:
    return found is None or wanted is None or abs(int(found) - int(wanted)) <= 1


def movie_matches(parsed: ParsedRelease, title: str, year: int | None, *, aliases: Iterable[str] = ()) -> bool:
    """The release is this movie: same normalized title (``parsed.series_title``, the name part of the release)
    and, when both are known, a year within one (release years drift from TMDB's)."""
    if getattr(parsed, "is_tv", False):
        return False
    return title_matches(parsed.series_title, title, aliases) and _years_agree(parsed.year, year)


def episode_matches(
    parsed: ParsedRelease,
    series_title: str,
    season: int,
    episode: int | None = None,
    *,
    air_date: Any = None,
    year: int | None = None,
    aliases: Iterable[str] = (),
) -> bool:
    """The release is for this show and contains this season (and episode, when given). Daily shows match on
    ``air_date`` when the release is dated. ``year`` (the show's first-air year) tells apart remakes such as
    "Doctor.Who.2005" when the release names a year."""
    if not title_matches(parsed.series_title, series_title, aliases) or not _years_agree(parsed.year, year):
        return False
    if parsed.air_date is not None and air_date is not None:
        return parsed.air_date == air_date
    if season not in _release_seasons(parsed):
        return False
    if episode is None:
        return True
    return bool(parsed.full_season) or episode in parsed.episodes
