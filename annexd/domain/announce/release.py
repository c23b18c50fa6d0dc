"""A completed announce as a release: autobrr's ``Release.MapVars`` and ``IndexerIRCParseMatch.ParseURLs``.
Pure. This is the seam for matching and grabbing (a later part of issue 17): it yields a plain dict.

Input: the announce's vars after mappings, the definition, and the person's values for the definition's
top-level settings (passkeys and the like, already resolved). Settings win over captured vars of the same
name; ``encode`` names are query-escaped in the merged map before the ``match`` templates render, and the
``torrentname`` template (when present) renders from that same map and replaces the name.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from typing import Any

from annexd.domain.announce.definition import Definition
from annexd.domain.announce.gotemplate import TemplateError
from annexd.domain.announce.gourl import UrlError, magnet_uri, query_escape, template_url


class ReleaseError(ValueError):
    """The announce cannot become a release (no torrentName, no base URL, a template or URL that fails)."""


FREELEECH_WORDS = frozenset({"1", "fl", "free", "freeleech", "freeleech!", "yes", "vip", "★"})
ANNOUNCE_TYPES = frozenset({"NEW", "CHECKED", "PROMO", "PROMO_GP", "RESURRECTED"})
_SIZE_UNITS = {"": 1, "b": 1, **{f"{p}{s}": 1000 ** (i + 1) for i, p in enumerate("kmgtpe") for s in ("", "b")},
               **{f"{p}i{s}": 1024 ** (i + 1) for i, p in enumerate("kmgtpe") for s in ("", "b")}}
_ATOI = re.compile(r"^[+-]?\d+$")
_MAX_UINT64 = 2 ** 64


def parse_bytes(text: str) -> int | None:
    """go-humanize ParseBytes: a leading number (digits, ``.``, ``,`` as thousands) and a unit; None if bad."""
    end = 0
    while end < len(text) and (text[end].isdecimal() or text[end] in ".,"):
        end += 1
    number = text[:end].replace(",", "")
    if not re.fullmatch(r"\d+\.?\d*|\.\d+", number):
        return None
    unit = _SIZE_UNITS.get(text[end:].strip().lower())
    if unit is None:
        return None
    value = float(number) * unit
    return int(value) if value < _MAX_UINT64 else None


def _atoi(text: str | None) -> int | None:
    return int(text) if text is not None and _ATOI.match(text) else None


def _size(vars: Mapping[str, str], force_unit: str) -> int:
    raw = vars.get("torrentsizebytes")
    if raw is not None and raw.isdigit():
        return int(raw)
    size = vars.get("torrentsize")
    if not size:
        return 0
    size = size.replace(",", ".", 1) + (f" {force_unit}" if force_unit else "")
    return parse_bytes(size) or 0


def _go_round(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _freeleech(vars: Mapping[str, str], identifier: str) -> tuple[bool, int, list[str]]:
    percent = 0
    if vars.get("freeleech", "").lower() in FREELEECH_WORDS:
        percent = 100
    raw_percent = vars.get("freeleechpercent")
    if raw_percent:
        if identifier == "beyondhd":
            raw_percent = "100" if raw_percent == "Capped FL" else raw_percent.replace(" FL", "")
        percent = _atoi(raw_percent.replace("%", "").replace(" ", "")) or percent
    factor = vars.get("downloadvolumefactor")
    if factor:
        try:
            percent = 100 - _go_round(float(factor) * 100)
        except ValueError:
            pass
    if percent <= 0:
        return False, percent, []
    return True, percent, ["Freeleech"] + ([f"Freeleech{percent}"] if percent in (25, 50, 75, 100) else [])


def _origin(vars: Mapping[str, str]) -> str:
    origin = ""
    if vars.get("scene", "").lower() in ("true", "yes", "1"):
        origin = "SCENE"
    if vars.get("origin"):
        origin = vars["origin"]
    if vars.get("internal", "").lower() in ("internal", "yes", "1"):
        origin = "INTERNAL"
    return origin


def _fields(vars: Mapping[str, str], definition: Definition) -> dict[str, Any]:
    """What MapVars sets, keys looked up ignoring case."""
    low = {k.lower(): v for k, v in vars.items()}
    if "torrentname" not in low:
        raise ReleaseError("the announce has no torrentName")
    freeleech, percent, bonus = _freeleech(low, definition.identifier)
    raw_tags = low.get("tags", "")
    tags = [t.strip() for t in raw_tags.split(",") if t.strip()] if raw_tags != "*" else []
    title = low.get("title") if low.get("title") not in ("", "*") else None
    announce_type = low.get("announcetype", "")
    return {
        "title": html.unescape(low["torrentname"]), "announced_title": title,
        "size": _size(low, definition.forcesizeunit), "freeleech": freeleech, "freeleech_percent": percent,
        "bonus": bonus, "origin": _origin(low), "tags": tags,
        "announce_type": announce_type if announce_type in ANNOUNCE_TYPES else "NEW",
        "year": _atoi(low.get("year")), "episode": _atoi(low.get("releaseepisode")),
        **{out: low.get(key, "") for key, out in (
            ("category", "category"), ("uploader", "uploader"), ("recordlabel", "record_label"),
            ("releasetags", "release_tags"), ("resolution", "resolution"), ("releasegroup", "release_group"),
            ("imdb", "imdb"), ("torrenthash", "torrent_hash"), ("torrentid", "torrent_id"))},
    }


def _merged(vars: Mapping[str, str], definition: Definition, settings: Mapping[str, str]) -> dict[str, str]:
    merged = dict(vars)
    merged.update({k: v for k, v in settings.items() if v})
    for name in definition.match.encode:
        if name in merged:
            merged[name] = query_escape(merged[name])
    return merged


def _urls(definition: Definition, merged: Mapping[str, str], base: str) -> dict[str, str | None]:
    templates = definition.match.templates
    out: dict[str, str | None] = {"download_url": None, "info_url": None, "magnet_uri": None}
    for key, field in (("torrenturl", "download_url"), ("infourl", "info_url")):
        if key in templates:
            out[field] = template_url(base, templates[key].render(merged))
    if "magneturi" in templates:
        out["magnet_uri"] = magnet_uri(templates["magneturi"].render(merged))
    return out


def build_release(announce: Mapping[str, str], definition: Definition, settings: Mapping[str, str],
                  base_url: str = "") -> dict[str, Any]:
    """The release a completed announce describes: title, size (bytes, 0 if unknown), download_url, info_url,
    magnet_uri and the rest MapVars yields. Raises ReleaseError when it cannot be built."""
    release = _fields(announce, definition)
    base = base_url or (definition.urls[0] if definition.urls else "")
    if not base:
        raise ReleaseError("could not find a valid indexer baseUrl")
    merged = _merged(announce, definition, settings)
    try:
        release.update(_urls(definition, merged, base))
        if "torrentname" in definition.match.templates:
            release["title"] = definition.match.templates["torrentname"].render(merged)
    except (TemplateError, UrlError) as exc:
        raise ReleaseError(str(exc)) from exc
    release.update(indexer=definition.identifier, protocol=definition.protocol)
    return release
