"""One announce line against one definition line, as autobrr's ``ParseLine`` does it. Pure.

Patterns are RE2 (google-re2), as Go's ``regexp`` is: Python's ``re`` rejects ``\\p{Zs}``, treats ``\\d`` as
Unicode and captures nested repeated groups differently (``((.*?)+)``). Two paths:

- the line has vars: the pattern exactly as written, an unanchored search; group i+1 becomes vars[i], a group
  that did not take part becomes ``""``; fewer groups than vars, or no match, is a failed line;
- the line has no vars: ``(?mi)`` + pattern, every match, every group stored under its name or ``raw``
  (unnamed groups overwrite ``raw``); such a line never fails; with ``ignore`` it stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2


class PatternError(ValueError):
    """RE2 rejected a pattern."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    return options


def compile_pattern(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"RE2 rejects pattern {pattern!r}: {detail}") from exc


@dataclass(frozen=True)
class LineParser:
    """A definition line ready to parse: its compiled pattern for the path its vars choose."""

    pattern: str
    vars: tuple[str, ...]
    ignore: bool
    regex: Any

    @classmethod
    def build(cls, pattern: str, vars: Sequence[str], ignore: bool) -> LineParser:
        source = pattern if vars else "(?mi)" + pattern
        return cls(pattern, tuple(vars), ignore, compile_pattern(source))

    def parse(self, line: str) -> tuple[bool, dict[str, str]]:
        """(matched, the vars this line yields); a failed line yields ``{}``."""
        return self._extract(line) if self.vars else (True, self._match_all(line))

    def _extract(self, line: str) -> tuple[bool, dict[str, str]]:
        m = self.regex.search(line)
        if m is None or len(self.vars) > self.regex.groups:
            return False, {}
        return True, {name: m.group(i + 1) or "" for i, name in enumerate(self.vars)}

    def _match_all(self, line: str) -> dict[str, str]:
        names = {index: name for name, index in self.regex.groupindex.items()}
        found: dict[str, str] = {}
        for m in self.regex.finditer(line):
            if self.ignore:
                return {}
            for index in range(self.regex.groups + 1):
                found[names.get(index, "raw")] = m.group(index) or ""
        return found
