"""The URL assembly autobrr applies to a rendered ``match`` template, with Go ``net/url`` semantics. Pure.

``parseTemplateURL``: parse the rendered text, drop its scheme and host, ``url.JoinPath(base, path)`` (joined
like ``path.Join``: ``//`` collapsed, ``.``/``..`` resolved, a trailing ``/`` kept; the already-decoded path
is treated as escaped again, so ``%XX`` decodes twice), then the rendered raw query unchanged; any fragment
is lost. Python's ``urljoin``/``normpath`` differ (``normpath`` keeps a leading ``//``; ``urljoin`` replaces
the base path), hence these few functions.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, urlsplit

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PATH_KEEP = _UNRESERVED | frozenset(b"$&+,/:;=@")
_VALID_ENCODED = _PATH_KEEP | frozenset(b"!'()*[]%")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UrlError(ValueError):
    """Go's url.Parse would refuse the text (a control character or a bad % escape)."""


def query_escape(value: str) -> str:
    """url.QueryEscape: space becomes ``+``, everything but ``A-Za-z0-9-_.~`` becomes ``%XX``."""
    return quote_plus(value, safe="")


def _unescape(text: str) -> str:
    out = bytearray()
    i = 0
    raw = text.encode()
    while i < len(raw):
        if raw[i] == 0x25:  # '%'
            pair = raw[i + 1:i + 3].decode("ascii", "replace")
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise UrlError(f"invalid URL escape {text[text.find('%'):][:3]!r}")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _escape_path(path: str) -> str:
    return "".join(chr(b) if b in _PATH_KEEP else f"%{b:02X}" for b in path.encode())


def _escaped_form(p: str) -> str:
    """What URL.setPath(p) then EscapedPath() gives: p itself when it is a valid encoding, else re-escaped."""
    decoded = _unescape(p)
    if all(b in _VALID_ENCODED for b in p.encode()):
        return p
    return _escape_path(decoded)


def clean(path: str) -> str:
    """Go's path.Clean."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    return ("/" + joined) if rooted else (joined or ".")


def join_path(base_path: str, elem: str) -> str:
    """URL.JoinPath(elem) on a URL whose escaped path is ``base_path``."""
    first = base_path if base_path.startswith("/") else "/" + base_path
    joined = clean("/".join(p for p in (first, elem) if p))
    if not base_path.startswith("/"):
        joined = joined[1:]
    if elem.endswith("/") and not joined.endswith("/"):
        joined += "/"
    return joined


def _split(text: str) -> tuple[str, str]:
    """(decoded path, raw query) of url.Parse(text)."""
    if _CONTROL.search(text):
        raise UrlError("net/url: invalid control character in URL")
    parts = urlsplit(text)
    return _unescape(parts.path), parts.query


def template_url(base: str, rendered: str) -> str:
    """parseTemplateURL(base, rendered).String()."""
    path, query = _split(rendered)
    b = urlsplit(base)
    joined = _escaped_form(join_path(b.path, path))
    if b.netloc and joined and not joined.startswith("/"):
        joined = "/" + joined
    out = f"{b.scheme}://{b.netloc}{joined}" if b.scheme else joined
    return f"{out}?{query}" if query else out


def magnet_uri(rendered: str) -> str:
    """The magnet URI: base ``magnet:``, so only the rendered query survives."""
    _, query = _split(rendered)
    return f"magnet:?{query}"
