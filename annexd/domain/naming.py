"""Plex/Emby/Jellyfin file naming: sanitising, quality tags, templates, safe relative paths. Pure, no I/O.

Every value is sanitised before it enters a template (so a title can never add a path separator), the
rendered path is split on ``/`` and each component sanitised again, and the result is checked: it is always
relative and never contains ``..``. Templates are ``str.format`` strings over a fixed set of fields, checked
at config time by :func:`validate_template`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Any, Literal

from annexd.errors import InvalidInputError, UnsafePathError

FALLBACK_NAME = "Unknown"
MAX_COMPONENT_BYTES = 255  # NAME_MAX of ext4/xfs/btrfs/zfs

DEFAULT_MOVIE_TEMPLATE = "{title} ({year})/{title} ({year}) [{quality}].{ext}"
DEFAULT_EPISODE_TEMPLATE = (
    "{series} ({year})/Season {season:02}/{series} - S{season:02}E{episode:02} - {episode_title} [{quality}].{ext}"
)
# Plex: daily shows by air date; the "season" of a dated episode is its year.
DEFAULT_DAILY_TEMPLATE = "{series} ({year})/Season {season}/{series} - {air_date} - {episode_title} [{quality}].{ext}"

TemplateKind = Literal["movie", "episode", "daily"]
MOVIE_FIELDS = frozenset({"title", "year", "quality", "ext"})
EPISODE_FIELDS = frozenset({"series", "year", "season", "episode", "episode_title", "air_date", "quality", "ext"})
FIELDS: Mapping[str, frozenset[str]] = {"movie": MOVIE_FIELDS, "episode": EPISODE_FIELDS, "daily": EPISODE_FIELDS}
# Fields that may be empty; an empty one is removed together with its brackets or its " - " separator.
OPTIONAL_FIELDS = ("episode_title", "quality", "year", "air_date")

_FORBIDDEN = re.compile(r'[/\\?*"<>|]')
_WHITESPACE = re.compile(r"\s+")
_EXT = re.compile(r"^[A-Za-z0-9]{1,12}$")


@dataclass(frozen=True)
class NamingTemplates:
    movie: str = DEFAULT_MOVIE_TEMPLATE
    episode: str = DEFAULT_EPISODE_TEMPLATE
    daily: str = DEFAULT_DAILY_TEMPLATE


@dataclass(frozen=True)
class VideoFormat:
    """What naming needs to know about the real output file (from ffprobe of the encoded file)."""

    width: int
    height: int
    video_codec: str


# --- sanitising -----------------------------------------------------------------------------------------

def _is_unwanted(ch: str) -> bool:
    # control characters (incl. NUL, DEL, C1) and lone surrogates, which no filesystem name should hold
    return unicodedata.category(ch) in ("Cc", "Cs")


def sanitize(name: str, fallback: str = FALLBACK_NAME) -> str:
    """One path component: ``:`` -> `` -``, ``/ \\ ? * " < > |`` and control chars removed, NFC,
    whitespace collapsed, leading/trailing dots and spaces trimmed; empty -> ``fallback``."""
    text = unicodedata.normalize("NFC", str(name)).replace(":", " -")
    text = "".join(" " if _is_unwanted(ch) and ch in "\t\n\r\v\f" else ch for ch in text)
    text = "".join(ch for ch in _FORBIDDEN.sub("", text) if not _is_unwanted(ch))
    text = _WHITESPACE.sub(" ", text).strip(" .")
    text = unicodedata.normalize("NFC", text).strip(" .")
    return text or fallback


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _fit_component(component: str, is_file: bool) -> str:
    if len(component.encode("utf-8")) <= MAX_COMPONENT_BYTES:
        return component
    stem, dot, ext = component.rpartition(".") if is_file else (component, "", "")
    if not dot:
        stem, ext = component, ""
    room = MAX_COMPONENT_BYTES - len((dot + ext).encode("utf-8"))
    return sanitize(_truncate_utf8(stem, room)) + dot + ext


# --- safety checks ------------------------------------------------------------------------------------

def check_relative(path: PurePosixPath | str) -> PurePosixPath:
    """Return ``path`` if it is a plain relative path (no root, no ``..``/``.``/empty parts, no NUL or
    backslash); raise UnsafePathError otherwise."""
    text = str(path)
    if not text or text.startswith("/") or "\0" in text or "\\" in text:
        raise UnsafePathError(f"unsafe relative path {text!r}")
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePathError(f"unsafe relative path {text!r}")
    return PurePosixPath(text)


def check_sanitized(path: PurePosixPath | str) -> PurePosixPath:
    """:func:`check_relative`, and every component must already be sanitised (as render_* output is)."""
    checked = check_relative(path)
    for part in checked.parts:
        if sanitize(part) != part or len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"path component {part!r} is not a sanitised name")
    return checked


def join_under(root: PurePosixPath | str, relative: PurePosixPath | str) -> PurePosixPath:
    """``root / relative`` for an absolute, normalised ``root``; raise UnsafePathError if it could escape."""
    root_text = str(root)
    if not root_text.startswith("/") or "\0" in root_text or any(p in (".", "..") for p in root_text.split("/")):
        raise UnsafePathError(f"target root must be an absolute normalised path, got {root_text!r}")
    joined = PurePosixPath(root_text) / check_relative(relative)
    if PurePosixPath(root_text) not in joined.parents:
        raise UnsafePathError(f"{str(relative)!r} escapes {root_text!r}")
    return joined


# --- quality ------------------------------------------------------------------------------------------

_CODECS = {
    "hevc": "HEVC", "h265": "HEVC", "x265": "HEVC", "h.265": "HEVC",
    "h264": "H264", "avc": "H264", "avc1": "H264", "x264": "H264", "h.264": "H264",
    "av1": "AV1", "libaom-av1": "AV1", "libsvtav1": "AV1", "av01": "AV1",
    "vp9": "VP9", "vp8": "VP8", "mpeg2video": "MPEG2", "mpeg4": "MPEG4", "vc1": "VC1",
}
# (bucket, min height, min width): a 1920x800 scope film is 1080p, a 720x576 PAL DVD is 576p.
_BUCKETS = ((2160, 1800, 3200), (1080, 900, 1700), (720, 650, 1200), (576, 540, 10**9), (480, 0, 0))


def resolution_bucket(width: int, height: int) -> int:
    for bucket, min_height, min_width in _BUCKETS:
        if height >= min_height or width >= min_width:
            return bucket
    return 480


def codec_tag(codec: str) -> str:
    key = codec.strip().lower()
    if key in _CODECS:
        return _CODECS[key]
    return re.sub(r"[^A-Za-z0-9]", "", codec).upper()[:12]


def quality_tag(info: VideoFormat) -> str:
    """E.g. ``1080p HEVC`` or ``720p AV1``, from the actual output's resolution and codec."""
    if info.width <= 0 or info.height <= 0:
        return codec_tag(info.video_codec)
    return " ".join(p for p in (f"{resolution_bucket(info.width, info.height)}p", codec_tag(info.video_codec)) if p)


# --- templates ----------------------------------------------------------------------------------------

class EpisodeNumbers:
    """The ``{episode}`` field: ``{episode:02}`` gives ``01`` or, for a multi-episode file, ``01-E02``."""

    def __init__(self, numbers: Sequence[int]):
        if not numbers or any(n < 0 for n in numbers):
            raise InvalidInputError(f"invalid episode numbers {list(numbers)!r}")
        ordered = sorted(set(numbers))
        self.first, self.last = ordered[0], ordered[-1]

    def __format__(self, spec: str) -> str:
        first = format(self.first, spec)
        return first if self.first == self.last else f"{first}-E{format(self.last, spec)}"


def template_fields(template: str) -> list[tuple[str, str, str | None]]:
    """(field name, format spec, conversion) of each replacement field; ValueError on malformed braces."""
    return [(name, spec or "", conv) for _, name, spec, conv in string.Formatter().parse(template)
            if name is not None]


_SAMPLES: Mapping[str, Any] = {
    "title": "Title", "series": "Series", "year": 2011, "season": 1, "episode": EpisodeNumbers([1, 2]),
    "episode_title": "Pilot", "air_date": date(2011, 4, 18), "quality": "1080p HEVC", "ext": "mkv",
}


def validate_template(template: str, kind: TemplateKind) -> list[str]:
    """Every problem of a naming template (unknown fields, bad format specs, unsafe shape); [] if fine."""
    allowed = FIELDS.get(kind)
    if allowed is None:
        return [f"unknown template kind {kind!r}"]
    try:
        fields = template_fields(template)
    except ValueError as exc:
        return [f"malformed template: {exc}"]
    problems = [f"unknown field {{{name}}}; allowed: {', '.join(sorted(allowed))}"
                for name, _, _ in fields if name not in allowed]
    problems += [f"field {{{name}}} must be a plain name (no conversion, index or attribute)"
                 for name, _, conv in fields if conv or not name.isidentifier()]
    if not template.endswith(".{ext}"):
        problems.append("template must end with '.{ext}'")
    if template.startswith("/") or any(p in ("", ".", "..") for p in template.split("/")):
        problems.append("template must be a relative path without empty, '.' or '..' parts")
    if not problems:
        try:
            _format(template, _SAMPLES)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            problems.append(f"template cannot be rendered: {exc}")
    return problems


def _drop_empty_field(template: str, name: str) -> str:
    field = r"\{" + name + r"(?::[^{}]*)?\}"
    for pattern in (r"\s*\[" + field + r"\]", r"\s*\(" + field + r"\)", r"\s*-\s*" + field,
                    field + r"\s*-\s*", r"\s*" + field):
        template = re.sub(pattern, "", template)
    return template


def _format(template: str, values: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), dict(values))


def _render(template: str, values: Mapping[str, Any]) -> PurePosixPath:
    for name in OPTIONAL_FIELDS:
        if values.get(name) in (None, ""):
            template = _drop_empty_field(template, name)
    rendered = _format(template, values)
    parts = rendered.split("/")
    components = [_fit_component(sanitize(p), i == len(parts) - 1) for i, p in enumerate(parts)]
    return check_relative("/".join(components))


def _ext(ext: str) -> str:
    ext = ext.lstrip(".")
    if not _EXT.match(ext):
        raise UnsafePathError(f"invalid file extension {ext!r}")
    return ext


def _text(value: str | None) -> str:
    """A free-text field value: sanitised, but empty stays empty (so optional fields can be dropped)."""
    return sanitize(value, fallback="") if value else ""


def render_movie_path(title: str, year: int | None, quality: str, ext: str, *,
                      template: str = DEFAULT_MOVIE_TEMPLATE) -> PurePosixPath:
    """``Title (Year)/Title (Year) [quality].ext`` relative to the target's movie root."""
    values = {"title": sanitize(title), "year": year, "quality": _text(quality), "ext": _ext(ext)}
    return _render(template, values)


def render_episode_path(series: str, season: int | None, episodes: Sequence[int] | int | None, *, ext: str,
                        year: int | None = None, episode_title: str = "", quality: str = "",
                        air_date: date | None = None, daily: bool = False,
                        templates: NamingTemplates = NamingTemplates()) -> PurePosixPath:
    """An episode path relative to the target's TV root. ``episodes`` may hold several numbers (a
    multi-episode file: ``S01E01-E02``); season 0 is specials (``Season 00``); ``daily=True`` names by
    ``air_date`` (``Series - 2011-04-18 - Title``) in a season folder named after the air year."""
    if daily:
        if air_date is None:
            raise InvalidInputError("a daily episode needs an air date")
        season, template, numbers = air_date.year, templates.daily, EpisodeNumbers([0])
    else:
        if season is None or season < 0 or episodes is None:
            raise InvalidInputError(f"an episode needs a season and episode number, got {season!r}/{episodes!r}")
        template = templates.episode
        numbers = EpisodeNumbers([episodes] if isinstance(episodes, int) else list(episodes))
    values = {"series": sanitize(series), "year": year, "season": season, "episode": numbers,
              "episode_title": _text(episode_title), "air_date": air_date.isoformat() if air_date else "",
              "quality": _text(quality), "ext": _ext(ext)}
    return _render(template, values)
