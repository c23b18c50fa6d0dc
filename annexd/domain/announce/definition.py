"""autobrr IRC indexer definitions: reading a YAML file into a checked ``Definition``. Pure (parses text;
``load_file``/``load_folder`` only read files).

Read as autobrr reads a custom folder: ``.yaml`` and ``.yml``, unknown keys ignored, a top-level ``parse:``
moved into ``irc.parse``. Every scalar stays the text it is (``yaml.BaseLoader``: ``00000`` stays ``"00000"``,
a bare key is ``""``); ``port``, ``tls`` and ``ignore`` are converted here. A load fails only for bad YAML, a
missing ``identifier`` or ``lines``, a pattern RE2 rejects or a template using something unsupported; every
such failure is a ``DefinitionError`` naming the file and the cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from annexd.domain.announce.gofmt import FormatError
from annexd.domain.announce.gotemplate import Template, TemplateError, compile_template
from annexd.domain.announce.lineparse import LineParser, PatternError

EXTENSIONS = (".yaml", ".yml")
URL_TEMPLATES = ("infourl", "torrenturl", "magneturi", "torrentname")


class DefinitionError(ValueError):
    """A definition cannot be loaded; the message names the file and the reason."""


@dataclass(frozen=True)
class LineTest:
    line: str
    expect: dict[str, str] | None  # None when the test has no expect (autobrr: a nil map, never equal)


@dataclass(frozen=True)
class Line:
    parser: LineParser
    tests: tuple[LineTest, ...] = ()


@dataclass(frozen=True)
class Irc:
    network: str = ""
    server: str = ""
    port: int = 0
    tls: bool = False
    channels: tuple[str, ...] = ()
    announcers: tuple[str, ...] = ()
    setting_names: tuple[str, ...] = ()  # nick, auth.account, invite_command…: what a person must configure


@dataclass(frozen=True)
class Match:
    templates: dict[str, Template] = field(default_factory=dict)  # infourl, torrenturl, magneturi, torrentname
    encode: tuple[str, ...] = ()


Mappings = dict[str, dict[str, dict[str, str]]]


@dataclass(frozen=True)
class Definition:
    identifier: str
    name: str
    urls: tuple[str, ...]
    protocol: str
    setting_names: tuple[str, ...]
    irc: Irc
    lines: tuple[Line, ...]
    mappings: Mappings
    match: Match
    forcesizeunit: str = ""
    source: str = ""


# --- scalar helpers (BaseLoader gives str, list or dict) ------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bool(value: Any) -> bool:
    return _text(value).strip().lower() in ("true", "yes", "on", "1")


def _int(value: Any) -> int:
    text = _text(value).strip()
    return int(text) if text.isdigit() else 0


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in _list(value) if isinstance(v, str))


def _names(settings: Any) -> tuple[str, ...]:
    return tuple(_text(_map(s).get("name")) for s in _list(settings) if _text(_map(s).get("name")))


# --- sections ---------------------------------------------------------------------------------------------
def _test(raw: Any) -> LineTest:
    raw = _map(raw)
    expect = raw.get("expect")
    parsed = None if expect is None else {str(k): _text(v) for k, v in _map(expect).items()}
    return LineTest(_text(raw.get("line")), parsed)


def _line(raw: Any, index: int) -> Line:
    raw = _map(raw)
    try:
        parser = LineParser.build(_text(raw.get("pattern")), _strings(raw.get("vars")), _bool(raw.get("ignore")))
    except PatternError as exc:
        raise DefinitionError(f"lines[{index}]: {exc}") from exc
    return Line(parser, tuple(_test(t) for t in _list(raw.get("tests"))))


def _mappings(raw: Any) -> Mappings:
    return {str(src): {str(value): {str(k): _text(v) for k, v in _map(dest).items()}
                       for value, dest in _map(table).items()}
            for src, table in _map(raw).items()}


def _match(raw: Any) -> Match:
    raw = _map(raw)
    templates: dict[str, Template] = {}
    for key in URL_TEMPLATES:
        source = _text(raw.get(key))
        if source:
            try:
                templates[key] = compile_template(source)
            except (TemplateError, FormatError) as exc:
                raise DefinitionError(f"match.{key}: {exc}") from exc
    return Match(templates, _strings(raw.get("encode")))


def _irc(raw: dict[str, Any]) -> Irc:
    return Irc(_text(raw.get("network")), _text(raw.get("server")), _int(raw.get("port")), _bool(raw.get("tls")),
               _strings(raw.get("channels")), _strings(raw.get("announcers")), _names(raw.get("settings")))


def _document(text: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds only str/list/dict
    except yaml.YAMLError as exc:
        raise DefinitionError(f"bad YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise DefinitionError("bad YAML: the document is not a mapping")
    return doc


def parse_definition(text: str, source: str = "<text>") -> Definition:
    """The definition in ``text``; raises DefinitionError (prefixed with ``source``)."""
    try:
        return _definition(_document(text), source)
    except DefinitionError as exc:
        raise DefinitionError(f"{source}: {exc}") from exc


def _definition(doc: Mapping[str, Any], source: str) -> Definition:
    identifier = _text(doc.get("identifier")).strip()
    if not identifier:
        raise DefinitionError("missing identifier")
    irc = _map(doc.get("irc"))
    parse = _map(doc.get("parse")) if irc and "parse" in doc else _map(irc.get("parse"))
    raw_lines = _list(parse.get("lines"))
    if not raw_lines:
        raise DefinitionError("missing irc.parse.lines")
    return Definition(
        identifier=identifier, name=_text(doc.get("name")), urls=_strings(doc.get("urls")),
        protocol=_text(doc.get("protocol")) or "torrent", setting_names=_names(doc.get("settings")),
        irc=_irc(irc), lines=tuple(_line(raw, i) for i, raw in enumerate(raw_lines)),
        mappings=_mappings(parse.get("mappings")), match=_match(parse.get("match")),
        forcesizeunit=_text(parse.get("forcesizeunit")), source=source)


def load_file(path: str | Path) -> Definition:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot read: {exc}") from exc
    return parse_definition(text, str(path))


def load_folder(folder: str | Path) -> tuple[dict[str, Definition], list[DefinitionError]]:
    """Every definition in ``folder`` by identifier (a later file wins, files in name order), and the errors
    of the files that could not be loaded."""
    found: dict[str, Definition] = {}
    errors: list[DefinitionError] = []
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix in EXTENSIONS and p.is_file()):
        try:
            definition = load_file(path)
        except DefinitionError as exc:
            errors.append(exc)
            continue
        found[definition.identifier] = definition
    return found, errors
