"""Assembling announces from one channel's queue of lines, as autobrr's per-channel loop does. Pure.

Line N of an announce is parsed against the definition's line N; after a complete announce, or after a line
that fails (that line is consumed, not retried as line 0), the next line starts a new announce with fresh
vars. Vars of all lines go into one map (a later line overwrites a same-named var) and ``mappings`` are applied
once the announce is complete. There is no timeout: a half-finished announce waits for its next line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from annexd.domain.announce.definition import Definition, Mappings

# ircfmt.Strip: bold, italic, underline, strikethrough, monospace, reverse, reset; \x03 colours with up to two
# digits and an optional ",bg" (the comma only with a digit after it); \x04 hex colours likewise.
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")


def strip_formatting(line: str) -> str:
    """The line without IRC formatting and colour codes."""
    return _FORMATTING.sub("", line)


def apply_mappings(vars: dict[str, str], mappings: Mappings) -> dict[str, str]:
    """A copy of ``vars`` with every matching mapping table's values copied in (one pass, exact keys)."""
    out = dict(vars)
    for source, table in mappings.items():
        if source in vars and vars[source] in table:
            out.update(table[vars[source]])
    return out


@dataclass(frozen=True)
class Step:
    """What one queued line did: the slot it was parsed against, whether it matched, its own vars, and the
    completed announce (all slots' vars after mappings) when this line finished one."""

    slot: int
    matched: bool
    vars: dict[str, str]
    announce: dict[str, str] | None = None

    def as_json(self) -> dict[str, object]:
        return {"slot": self.slot, "matched": self.matched, "vars": self.vars, "announce": self.announce}


@dataclass
class Assembler:
    """One channel's consumer: feed it the channel's lines in arrival order."""

    definition: Definition
    slot: int = 0
    pending: dict[str, str] = field(default_factory=dict)

    def feed(self, raw_line: str) -> Step:
        slot = self.slot
        matched, found = self.definition.lines[slot].parser.parse(strip_formatting(raw_line))
        if not matched:
            self.reset()
            return Step(slot, False, found)
        self.pending.update(found)
        if slot + 1 < len(self.definition.lines):
            self.slot += 1
            return Step(slot, True, found)
        announce = apply_mappings(self.pending, self.definition.mappings)
        self.reset()
        return Step(slot, True, found, announce)

    def reset(self) -> None:
        self.slot = 0
        self.pending = {}
