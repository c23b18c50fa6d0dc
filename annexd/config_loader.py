"""Settings dataclasses from TOML tables and ``ANNEX_*`` environment variables, for any frozen dataclass
(pure: the caller reads the file). Every problem is collected with the key it concerns, so a config with ten
mistakes is reported once, in full.

A scalar key ``[section] key`` is overridden by ``ANNEX_SECTION_KEY`` (or the alias named in the field's
``env`` metadata); a list-of-tables section (``[[indexers]]``) by ``ANNEX_INDEXERS`` holding JSON. Every entry of
every list takes ``enabled = false``: it is built and checked like the others but set aside (``disabled``), so a
half-configured entry can wait in the file without being started. Fields marked ``internal`` in their metadata
are not keys of the file.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import json
import types
import typing
import urllib.parse
from collections.abc import Mapping
from typing import Any, get_type_hints

from annexd.errors import AnnexdError

ENV_PREFIX = "ANNEX_"


def _parse_scalar(kind: type, raw: Any, key: str, problems: list[str], from_env: bool) -> Any:
    """Coerce ``raw`` to ``kind``; environment values arrive as strings."""
    if from_env and isinstance(raw, str):
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
        elif kind in (int, float):
            try:
                return kind(raw)
            except ValueError:
                pass
        elif kind is str:
            return raw
        problems.append(f"{key}: expected {kind.__name__}, got {raw!r}")
        return None
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    problems.append(f"{key}: expected {kind.__name__}, got {type(raw).__name__} {raw!r}")
    return None


# A list entry's switch; not a field of the entry's settings type.
ENABLED_KEY = "enabled"
Disabled = list[tuple[str, Any]]  # (section, built entry) of every entry with enabled = false


def _known_fields(cls: type, raw: Mapping[str, Any], prefix: str, problems: list[str]) -> dict[str, Any]:
    """The init fields of settings dataclass ``cls``; every key of ``raw`` that is none of them is a problem."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")}
    for unknown in sorted(set(raw) - set(fields)):
        guess = difflib.get_close_matches(unknown, fields, n=1)
        problems.append(f"{prefix}{unknown}: unknown key" + (f" (did you mean {prefix}{guess[0]}?)" if guess else ""))
    return fields


def load_dataclass(cls: type, raw: Mapping[str, Any], prefix: str, env: Mapping[str, str], problems: list[str],
                   disabled: Disabled | None = None, base: Any = None) -> Any:
    """Settings ``cls`` from a TOML table and the environment; keys not given keep ``base``'s values (a section's
    own default, e.g. one stage's retry policy), else the class defaults. Entries with ``enabled = false`` go to
    ``disabled``."""
    disabled = [] if disabled is None else disabled
    hints = get_type_hints(cls)
    fields = _known_fields(cls, raw, prefix, problems)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        kind, key = hints[name], f"{prefix}{name}"
        if typing.get_origin(kind) is tuple and dataclasses.is_dataclass(typing.get_args(kind)[0]):
            values[name] = build_list(typing.get_args(kind)[0], raw.get(name), key, problems, env, disabled)
            continue
        if dataclasses.is_dataclass(kind):
            sub = raw.get(name, {})
            if not isinstance(sub, Mapping):
                problems.append(f"{key}: expected a table")
                sub = {}
            default = f.default if dataclasses.is_dataclass(f.default) else None
            values[name] = load_dataclass(typing.cast(type, kind), sub, f"{key}.", env, problems, disabled, default)
            continue
        env_name = f.metadata.get("env") or ENV_PREFIX + key.replace(".", "_").upper()
        value = None
        if name in raw:  # checked even when the environment overrides it: a bad file is still reported
            value = _coerce(kind, raw[name], key, problems)
        if env_name in env:
            value = _from_env(kind, env[env_name], f"{key} (from {env_name})", problems)
        if value is not None:
            values[name] = value
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _from_env(kind: Any, raw: str, key: str, problems: list[str]) -> Any:
    """An environment value: a list field takes comma-separated items."""
    if typing.get_origin(kind) is tuple:
        return _coerce(kind, [_from_env(typing.get_args(kind)[0], v.strip(), key, problems)
                              for v in raw.split(",") if v.strip()], key, problems)
    if typing.get_origin(kind) in (types.UnionType, typing.Union):  # ``X | None``: parsed as X
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return _parse_scalar(inner[0], raw, key, problems, True) if len(inner) == 1 else raw
    return _parse_scalar(kind, raw, key, problems, True)


def _coerce(kind: Any, raw: Any, key: str, problems: list[str]) -> Any:
    """Coerce a TOML value to a field type: scalars, ``X | None``, ``tuple[X, ...]``, mappings of dataclasses."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        if raw not in args:
            problems.append(f"{key}: {raw!r} is not one of {', '.join(map(str, args))}")
            return None
        return raw
    if origin in (types.UnionType, typing.Union):
        if raw is None:
            return None
        literal_or_types = [a for a in args if a is not type(None)]
        if len(literal_or_types) > 1 and isinstance(raw, str) and str in literal_or_types:
            return raw

        inner = [a for a in args if a is not type(None)]
        return None if raw is None else _coerce(inner[0], raw, key, problems)
    if origin is tuple:
        if not isinstance(raw, list):
            problems.append(f"{key}: expected a list")
            return None
        items = [_coerce(args[0], v, f"{key}[{i}]", problems) for i, v in enumerate(raw)]
        return tuple(items) if None not in items else None
    if origin in (dict, Mapping, collections.abc.Mapping) or kind in (dict, Mapping):
        if not isinstance(raw, Mapping):
            problems.append(f"{key}: expected a table")
            return None
        value_kind = args[1] if len(args) == 2 else Any
        return {k: _coerce(value_kind, v, f"{key}.{k}", problems) for k, v in raw.items()}
    if dataclasses.is_dataclass(kind):
        if not isinstance(raw, Mapping):
            problems.append(f"{key}: expected a table")
            return None
        return build(typing.cast(type, kind), raw, f"{key}.", problems)
    if kind is Any:
        return raw
    return _parse_scalar(kind, raw, key, problems, False)


def build(cls: type, raw: Mapping[str, Any], prefix: str, problems: list[str]) -> Any:
    """Build settings dataclass ``cls`` (any module's) from a TOML table, reporting every problem."""
    hints = get_type_hints(cls)
    fields = _known_fields(cls, raw, prefix, problems)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in raw:
            if required:
                problems.append(f"{prefix}{name}: required")
            continue
        before = len(problems)
        value = _coerce(hints[name], raw[name], f"{prefix}{name}", problems)
        if len(problems) == before:
            values[name] = value
    if len(values) < sum(1 for f in fields.values()
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
        return None
    try:
        return cls(**values)
    except (ValueError, TypeError, AnnexdError) as exc:
        problems.append(f"{prefix.rstrip('.')}: {exc}")
        return None


def build_list(cls: type, raw: Any, section: str, problems: list[str], env: Mapping[str, str],
               disabled: Disabled | None = None) -> tuple[Any, ...]:
    """A ``[[section]]`` list of tables (or ANNEX_<SECTION> as JSON), each built as ``cls``; names unique. The
    enabled entries are returned; those with ``enabled = false`` are appended to ``disabled``."""
    env_name = ENV_PREFIX + section.replace(".", "_").upper()
    if env_name in env:
        try:
            raw = json.loads(env[env_name])
        except ValueError as exc:
            problems.append(f"{section} (from {env_name}): invalid JSON: {exc}")
            return ()
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        problems.append(f"{section}: expected a list of tables ([[{section}]])")
        return ()
    built = [(_enabled(entry, f"{section}[{i}].", problems), build(cls, _settings_of(entry), f"{section}[{i}].", problems))
             for i, entry in enumerate(raw)]
    names = [_name_of(b) for _, b in built if b is not None]
    for dup in sorted({n for n in names if n is not None and names.count(n) > 1}):
        problems.append(f"{section}: the name {dup!r} is used twice")
    if disabled is not None:
        disabled.extend((section, b) for on, b in built if b is not None and not on)
    return tuple(b for on, b in built if b is not None and on)


def _enabled(entry: Mapping[str, Any], prefix: str, problems: list[str]) -> bool:
    value = entry.get(ENABLED_KEY, True)
    if not isinstance(value, bool):
        problems.append(f"{prefix}{ENABLED_KEY}: expected bool, got {type(value).__name__} {value!r}")
        return True
    return value


def _settings_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != ENABLED_KEY}


def _name_of(entry: Any) -> str | None:
    name = getattr(entry, "name", None)
    return name if isinstance(name, str) else getattr(entry, "id", None)


def http_url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable http(s) URL with a host, or None (for settings modules' validation)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http(s) URL" + (f" (scheme {parts.scheme!r})" if parts.scheme else "")
    if not parts.hostname:
        return f"{url!r} has no host"
    return None
