"""Validation of API bodies and query parameters (pure): every problem is reported, per field. Bodies are
parsed here too, with bounds (nesting depth, number sizes, valid Unicode), so malformed input gets a 4xx with
a reason, never a 5xx."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Any

from annexd.domain.monitoring import MONITOR_MODES
from annexd.domain.request_specs import EpisodeSpec, RequestSpec

MAX_DB_INT = 2**31 - 1
MAX_JSON_DEPTH = 32
MAX_NUMBER_CHARS = 40  # digits of an integer or characters of a float: far beyond any field, far below trouble
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")


class BodyError(ValueError):
    """A request body that cannot be taken: ``status`` (400 or 413) and the reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (strings stripped first: brackets in them do not
    count). Each pass removes the innermost empty pairs, in C; unbalanced brackets are left to the parser."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(limit):
        reduced = _EMPTY_PAIR.sub("", brackets)
        if not reduced or reduced == brackets:
            return False
        brackets = reduced
    return True


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise BodyError(400, f"a number has more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise BodyError(400, "a number is too long or out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise BodyError(400, f"{name} is not JSON")


def parse_json_body(raw: bytes) -> Any:
    """A JSON body (UTF-8, RFC 8259), refused with a reason when it is not: not UTF-8, not JSON, nested deeper
    than MAX_JSON_DEPTH, a number longer than MAX_NUMBER_CHARS, NaN/Infinity, or a lone surrogate escape."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    if nested_deeper_than(text, MAX_JSON_DEPTH):
        raise BodyError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(400, "body holds invalid Unicode (a lone surrogate escape such as \\ud800)") from None
    return value
_IMDB = re.compile(r"^tt\d{5,10}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class Problems(dict[str, str]):
    def add(self, key: str, reason: str) -> None:
        self.setdefault(key, reason)


def _text(body: dict[str, Any], key: str, problems: Problems, *, required: bool, max_len: int = 500) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            problems.add(key, "required")
        return None
    if not isinstance(value, str):
        problems.add(key, "must be a string")
        return None
    value = " ".join(value.split())
    if not value and required:
        problems.add(key, "must not be empty")
    elif len(value) > max_len:
        problems.add(key, f"must be at most {max_len} characters")
    elif "\x00" in value or any(ord(c) < 32 for c in value):
        problems.add(key, "must not contain control characters")
    else:
        return value or None
    return None


def _int(body: dict[str, Any], key: str, problems: Problems, lo: int, hi: int, *, required: bool = False) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            problems.add(key, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(key, "must be an integer")
        return None
    if not lo <= value <= hi:
        problems.add(key, f"must be between {lo} and {hi}")
        return None
    return value


def _names(body: dict[str, Any], key: str, problems: Problems) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        problems.add(key, "must be a list of names (letters, digits, _ . -)")
        return ()
    if len(value) > 20:
        problems.add(key, "at most 20 entries")
        return ()
    return tuple(dict.fromkeys(value))


def _episodes(raw: Any, problems: Problems) -> tuple[EpisodeSpec, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add("episodes", "must be a non-empty list")
        return ()
    if len(raw) > 5000:
        problems.add("episodes", "at most 5000 episodes per request")
        return ()
    out: list[EpisodeSpec] = []
    seen: set[tuple[int, int]] = set()
    for i, ep in enumerate(raw):
        key = f"episodes[{i}]"
        if not isinstance(ep, dict):
            problems.add(key, "must be an object")
            continue
        sub = Problems()
        season = _int(ep, "season", sub, 0, 1000, required=True)
        episode = _int(ep, "episode", sub, 1, 100000, required=True)
        title = _text(ep, "title", sub, required=False)
        air = _date(ep.get("air_date"), sub)
        for k, v in sub.items():
            problems.add(f"{key}.{k}", v)
        if season is None or episode is None or sub:
            continue
        if (season, episode) in seen:
            problems.add(key, f"duplicate of S{season:02}E{episode:02}")
            continue
        seen.add((season, episode))
        out.append(EpisodeSpec(season, episode, title or "", air))
    return tuple(out)


def _date(value: Any, problems: Problems) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add("air_date", "must be an ISO date string (YYYY-MM-DD)")
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        problems.add("air_date", f"{value[:40]!r} is not an ISO date (YYYY-MM-DD)")
        return None
    if not 1900 <= parsed.year <= 2200:
        problems.add("air_date", "year must be between 1900 and 2200")
        return None
    return parsed


def _seasons(raw: Any, problems: Problems) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 1000
                                            for s in raw):
        problems.add("seasons", "must be a list of season numbers (0-1000)")
        return None
    return tuple(sorted(set(raw)))


def _monitoring(body: dict[str, Any], kind: Any, default: str,
                problems: Problems) -> tuple[str, tuple[int, ...] | None]:
    """``monitor`` (none | future | all; TV only) and ``monitor_seasons`` (absent = every season)."""
    monitor = body.get("monitor", default if kind == "tv" else "none")
    if monitor not in MONITOR_MODES:
        problems.add("monitor", "must be one of " + ", ".join(MONITOR_MODES))
    elif kind != "tv" and monitor != "none":
        problems.add("monitor", "only a TV request follows its show")
    raw = body.get("monitor_seasons")
    if raw is None:
        return str(monitor), None
    sub = Problems()
    seasons = _seasons(raw, sub)
    if sub or kind != "tv":
        problems.add("monitor_seasons", "must be a list of season numbers (0-1000), for a TV request")
    return str(monitor), seasons


def parse_request_body(body: Any, default_monitor: str = "none") -> tuple[RequestSpec | None, Problems]:
    """A request spec from a POST /api/v1/requests body, or the problems per field. ``default_monitor`` is
    ``[requests] monitor`` (what a TV request follows when it does not say)."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.add("body", "must be a JSON object")
        return None, problems
    kind = body.get("type")
    if kind not in ("movie", "tv"):
        problems.add("type", "must be 'movie' or 'tv'")
    title = _text(body, "title", problems, required=True)
    year = _int(body, "year", problems, 1870, 2200)
    tmdb_id = _int(body, "tmdb_id", problems, 1, MAX_DB_INT)
    tvdb_id = _int(body, "tvdb_id", problems, 1, MAX_DB_INT)
    imdb_id = body.get("imdb_id")
    if imdb_id is not None and not (isinstance(imdb_id, str) and _IMDB.match(imdb_id)):
        problems.add("imdb_id", "must look like tt1234567")
    targets = _names(body, "targets", problems)
    profile = body.get("quality_profile", "default")
    if not (isinstance(profile, str) and _NAME.match(profile)):
        problems.add("quality_profile", "must be a profile name")
    priority = _int(body, "priority", problems, -100, 100) or 0
    monitor, monitor_seasons = _monitoring(body, kind, default_monitor, problems)
    if kind == "tv" and monitor != "none" and "episodes" not in body and body.get("seasons") is None \
            and tmdb_id is None:
        problems.add("tmdb_id", "required to follow a show without listing its episodes")
    episodes: tuple[EpisodeSpec, ...] = ()
    seasons = None
    if kind == "tv":
        seasons = _seasons(body.get("seasons"), problems)
        # A followed show may name no episodes: what it follows is expanded from TMDB.
        if "episodes" in body or (seasons is None and monitor == "none"):
            episodes = _episodes(body.get("episodes"), problems)
    elif kind == "movie" and ("episodes" in body or "seasons" in body):
        problems.add("episodes", "a movie request has no episodes or seasons")
    if problems:
        return None, problems
    assert title is not None and kind is not None
    return RequestSpec(
        kind=kind, title=title, year=year, tmdb_id=tmdb_id, tvdb_id=tvdb_id, imdb_id=imdb_id,
        episodes=episodes, seasons=seasons, targets=targets, quality_profile=profile, priority=priority,
        monitor=monitor, monitor_seasons=monitor_seasons,
    ), problems


def parse_page(query: dict[str, str]) -> tuple[int, int, Problems]:
    problems = Problems()
    values = {}
    for key, default, hi in (("page", 1, 100000), ("per_page", 50, 200)):
        raw = query.get(key, str(default))
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= hi:
            problems.add(key, f"must be an integer between 1 and {hi}")
            values[key] = default
        else:
            values[key] = int(raw)
    return values["page"], values["per_page"], problems


def _int_list(value: Any, key: str, problems: Problems, lo: int, hi: int) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not value or len(value) > 5000 or not all(
            isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value):
        problems.add(key, f"must be a non-empty list of integers ({lo}-{hi})")
        return None
    return tuple(sorted(set(value)))


def parse_approval_body(body: Any) -> tuple[tuple[tuple[int, ...] | None, tuple[int, ...] | None] | None, Problems]:
    """POST .../approve: ``{}`` (every pending item), ``{"seasons": [int]}`` or ``{"items": [id]}`` (not both).
    Returns (seasons, items) or the problems."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.add("body", "must be a JSON object: {}, {\"seasons\": [..]} or {\"items\": [..]}")
        return None, problems
    unknown = set(body) - {"seasons", "items"}
    if unknown:
        problems.add(sorted(unknown)[0][:50], "unknown field (seasons or items)")
    if "seasons" in body and "items" in body:
        problems.add("seasons", "give seasons or items, not both")
    seasons = _int_list(body["seasons"], "seasons", problems, 0, 1000) if "seasons" in body else None
    items = _int_list(body["items"], "items", problems, 1, MAX_DB_INT) if "items" in body else None
    return (None, problems) if problems else ((seasons, items), problems)


def parse_decline_body(body: Any) -> tuple[str | None, Problems]:
    """POST .../decline: ``{}`` or ``{"reason": "..."}`` (at most 500 characters)."""
    problems = Problems()
    if body in (None, {}):
        return None, problems
    if not isinstance(body, dict):
        problems.add("body", "must be a JSON object: {} or {\"reason\": \"...\"}")
        return None, problems
    unknown = set(body) - {"reason"}
    if unknown:
        problems.add(sorted(unknown)[0][:50], "unknown field (reason)")
    return _text(body, "reason", problems, required=False), problems
