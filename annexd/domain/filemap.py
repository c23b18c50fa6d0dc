"""File mapping (pure): which file of a finished torrent is which wanted item.

Input: the torrent's files (relative paths + sizes, e.g. from ``QbtClient.files``) and what the request wants
(a movie, or episodes as (season, episode, air_date)). Output: a :class:`FileMapping` that says, for every
wanted item, the file that satisfies it or why none does, plus every file that was ignored and why. A season
pack counts as done only when ``unmatched_expected`` is empty (Sonarr's partial-pack import loops come from
not knowing this).

Keys: ``MOVIE_KEY`` for a movie, ``(season, episode)`` for an episode.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from annexd.domain.releases import ParsedRelease, parse_release
from annexd.domain.torrents import validate_relative_path
from annexd.errors import InvalidInputError

MOVIE_KEY = "movie"
ItemKey = str | tuple[int, int]

VIDEO_EXTENSIONS = frozenset({"mkv", "mp4", "avi", "m4v", "ts", "webm", "m2ts", "mov", "wmv"})
SUBTITLE_EXTENSIONS = frozenset({"srt", "ass", "ssa", "sub", "idx", "sup", "vtt"})
EXTRA_DIRS = frozenset(
    {"featurettes", "extras", "extra", "behind the scenes", "deleted scenes", "interviews", "trailers", "bonus", "shorts"}
)
SAMPLE_DIRS = frozenset({"sample", "samples"})
SAMPLE_SIZE_RATIO = 0.10

_SAMPLE_WORD = re.compile(r"(?<![a-z0-9])sample(?![a-z0-9])", re.IGNORECASE)
_RAR_PART = re.compile(r"\.part(\d+)\.rar$", re.IGNORECASE)
_RAR_OLD = re.compile(r"\.(rar|r\d\d|s\d\d)$", re.IGNORECASE)


class FileKind(enum.StrEnum):
    VIDEO = "video"
    SAMPLE = "sample"
    EXTRA = "extra"
    SUBTITLE = "subtitle"
    ARCHIVE = "archive"
    OTHER = "other"


@dataclass(frozen=True)
class WantedEpisode:
    season: int
    episode: int
    air_date: datetime.date | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.season, self.episode)


@dataclass(frozen=True)
class WantedMovie:
    title: str = ""
    year: int | None = None

    @property
    def key(self) -> str:
        return MOVIE_KEY


@dataclass(frozen=True)
class ClassifiedFile:
    path: str
    size: int
    kind: FileKind
    parsed: ParsedRelease | None = None


@dataclass(frozen=True)
class MappedFile:
    path: str
    size: int
    parsed: ParsedRelease | None
    keys: tuple[ItemKey, ...]  # every wanted item this file satisfies (several for a multi-episode file)


@dataclass
class FileMapping:
    matched: dict[ItemKey, MappedFile] = field(default_factory=dict)
    unmatched_expected: dict[ItemKey, str] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    archives: tuple[str, ...] = ()  # first volume of each archive set: needs extraction, then map again
    files: tuple[ClassifiedFile, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unmatched_expected

    @property
    def needs_extraction(self) -> bool:
        return bool(self.archives)


# --- classification ------------------------------------------------------------------------------------


def _ext(path: str) -> str:
    return PurePosixPath(path).suffix.lower().lstrip(".")


def is_archive(path: str) -> bool:
    name = PurePosixPath(path).name
    return bool(_RAR_PART.search(name) or _RAR_OLD.search(name))


def archive_first_volumes(paths: Iterable[str]) -> tuple[str, ...]:
    """``x.rar`` (with ``x.r00``…) or ``x.part01.rar``/``x.part1.rar``: the volume an extractor is given."""
    out = []
    for path in paths:
        name = PurePosixPath(path).name
        part = _RAR_PART.search(name)
        if part:
            if int(part.group(1)) == 1:
                out.append(path)
        elif name.lower().endswith(".rar"):
            out.append(path)
    return tuple(sorted(out))


def _kind(path: str, size: int, largest_video: int) -> tuple[FileKind, str]:
    ext = _ext(path)
    parts = [p.lower() for p in PurePosixPath(path).parts]
    dirs, stem = parts[:-1], PurePosixPath(path).stem
    if ext in SUBTITLE_EXTENSIONS:
        return FileKind.SUBTITLE, "subtitle"
    if is_archive(path):
        return FileKind.ARCHIVE, "archive volume (needs extraction)"
    if ext not in VIDEO_EXTENSIONS:
        return FileKind.OTHER, f"not a video ({ext or 'no extension'})"
    if any(d in SAMPLE_DIRS for d in dirs) or _SAMPLE_WORD.search(stem):
        return FileKind.SAMPLE, "sample"
    if any(d in EXTRA_DIRS for d in dirs):
        return FileKind.EXTRA, "extra (featurette/bonus)"
    if largest_video and size < SAMPLE_SIZE_RATIO * largest_video:
        return FileKind.SAMPLE, f"small video ({size} bytes < 10 % of the largest): sample"
    return FileKind.VIDEO, ""


def classify(files: Iterable[tuple[str, int]]) -> tuple[list[ClassifiedFile], list[tuple[str, str]]]:
    """Every file gets a kind; videos are parsed (with their directories, so ``Season 2/`` helps)."""
    checked = [(validate_relative_path(p), int(s)) for p, s in files]
    largest = max((s for p, s in checked if _ext(p) in VIDEO_EXTENSIONS and not is_archive(p)), default=0)
    out, ignored = [], []
    for path, size in checked:
        kind, why = _kind(path, size, largest)
        parsed = parse_release(path) if kind is FileKind.VIDEO else None
        out.append(ClassifiedFile(path, size, kind, parsed))
        if kind is not FileKind.VIDEO:
            ignored.append((path, why))
    return out, ignored


# --- mapping -------------------------------------------------------------------------------------------


def _as_pairs(files: Iterable[object]) -> list[tuple[str, int]]:
    pairs = []
    for f in files:
        if isinstance(f, tuple):
            pairs.append((str(f[0]), int(f[1])))
            continue
        path = getattr(f, "relative_path", None) or getattr(f, "path", None)
        if path is None:
            raise InvalidInputError(f"file entry without a path: {f!r}")
        pairs.append((str(path), int(getattr(f, "size", 0))))
    return pairs


def _episode_keys(parsed: ParsedRelease, wanted: Sequence[WantedEpisode]) -> tuple[tuple[int, int], ...]:
    if parsed.season is not None and parsed.episodes:
        return tuple((parsed.season, e) for e in parsed.episodes)
    if parsed.air_date is not None:
        return tuple(w.key for w in wanted if w.air_date == parsed.air_date)
    return ()


def _describe(parsed: ParsedRelease | None) -> str:
    if parsed is None:
        return "?"
    if parsed.air_date:
        return parsed.air_date.isoformat()
    if parsed.season is not None and parsed.episodes:
        return f"S{parsed.season:02d}" + "".join(f"E{e:02d}" for e in parsed.episodes)
    return "no episode number"


def _map_episodes(videos: list[ClassifiedFile], wanted: Sequence[WantedEpisode], result: FileMapping) -> None:
    wanted_keys = {w.key for w in wanted}
    claims: dict[tuple[int, int], list[ClassifiedFile]] = {}
    for video in videos:
        keys = _episode_keys(video.parsed, wanted) if video.parsed else ()
        if not keys and len(wanted) == 1 and len(videos) == 1:
            keys = (wanted[0].key,)  # a single-episode torrent with an unhelpful file name
        hits = [k for k in keys if k in wanted_keys]
        if not hits:
            result.ignored.append((video.path, f"not wanted ({_describe(video.parsed)})"))
        for key in hits:
            claims.setdefault(key, []).append(video)
    for key, claimants in claims.items():
        best = max(claimants, key=lambda c: (c.size, c.path))
        covered = tuple(k for k in _episode_keys(best.parsed, wanted) if k in wanted_keys) if best.parsed else ()
        result.matched[key] = MappedFile(best.path, best.size, best.parsed, covered or (key,))
    used = {m.path for m in result.matched.values()}
    for path in dict.fromkeys(c.path for cs in claims.values() for c in cs):
        if path not in used:
            result.ignored.append((path, "duplicate: a larger file was kept for the same episode"))


def _map_movie(videos: list[ClassifiedFile], result: FileMapping) -> None:
    if not videos:
        return
    best = max(videos, key=lambda c: (c.size, c.path))
    result.matched[MOVIE_KEY] = MappedFile(best.path, best.size, best.parsed, (MOVIE_KEY,))
    for other in videos:
        if other is not best:
            result.ignored.append((other.path, f"smaller than the main video {best.path}"))


def map_files(files: Iterable[object], wanted: WantedMovie | Sequence[WantedEpisode]) -> FileMapping:
    """Map a torrent's files onto the wanted movie or episodes.

    ``files``: ``(relative_path, size)`` tuples or objects with ``relative_path``/``path`` and ``size``
    (``TorrentFile``, ``TorrentFileEntry``). Raises UnsafePathError for ``..``/absolute/NUL paths.
    """
    classified, ignored = classify(_as_pairs(files))
    videos = [c for c in classified if c.kind is FileKind.VIDEO]
    result = FileMapping(ignored=ignored, files=tuple(classified))
    result.archives = archive_first_volumes(c.path for c in classified if c.kind is FileKind.ARCHIVE)
    if isinstance(wanted, WantedMovie):
        _map_movie(videos, result)
        expected: list[ItemKey] = [MOVIE_KEY]
    else:
        _map_episodes(videos, wanted, result)
        expected = [w.key for w in wanted]
    hint = "; the torrent has archives: extract them and map again" if result.archives else ""
    for key in expected:
        if key not in result.matched:
            what = "no main video file" if key == MOVIE_KEY else f"no file for S{key[0]:02d}E{key[1]:02d}"
            result.unmatched_expected[key] = what + hint
    return result
