"""Go's ``fmt.Sprint`` and ``fmt.Sprintf`` for the values a definition template handles (strings, and the
nil that a missing key becomes). Pure.

Python's ``%`` differs where it matters: Go's ``%02s`` zero-pads a string (``"1"`` → ``"01"``), widths count
runes, a missing argument prints ``%!s(MISSING)`` and a verb that does not fit a string prints
``%!d(string=…)`` instead of raising.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_SPEC = re.compile(r"%(?P<flags>[-+# 0]*)(?P<width>\d+|\*)?(?:\.(?P<prec>\d*|\*))?(?P<index>\[\d+\])?(?P<verb>.?)",
                   re.DOTALL)


class FormatError(ValueError):
    """A printf format uses something this emulation refuses (``*`` widths, explicit argument indexes)."""


def check_format(fmt: str) -> None:
    for m in _SPEC.finditer(fmt):
        if "*" in (m.group("width") or "") + (m.group("prec") or "") or m.group("index"):
            raise FormatError(f"unsupported printf format {m.group(0)!r} in {fmt!r}")


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _plain(value: Any) -> str:
    return value if _is_string(value) else "<nil>"


def sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: operands concatenated, a space only between two operands that are not strings."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not _is_string(arg) and not _is_string(args[i - 1]):
            out.append(" ")
        out.append(_plain(arg))
    return "".join(out)


@dataclass(frozen=True)
class _Spec:
    flags: str
    width: int | None
    precision: int | None
    verb: str


def _quote(text: str, ascii_only: bool) -> str:
    out = ['"']
    for ch in text:
        escapes = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
                   "\\": "\\\\", '"': '\\"'}
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable() and not (ascii_only and ord(ch) > 127):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out) + '"'


def _pad(text: str, spec: _Spec) -> str:
    width = spec.width or 0
    if len(text) >= width:
        return text
    if "-" in spec.flags:
        return text + " " * (width - len(text))
    return ("0" if "0" in spec.flags else " ") * (width - len(text)) + text


def _format_string(value: str, spec: _Spec) -> str:
    verb = spec.verb
    if verb in "sv":
        text = value if spec.precision is None else value[:spec.precision]
    elif verb == "q":
        text = _quote(value if spec.precision is None else value[:spec.precision], "+" in spec.flags)
    elif verb in "xX":
        data = value.encode()
        data = data if spec.precision is None else data[:spec.precision]
        text = data.hex() if verb == "x" else data.hex().upper()
    else:
        return f"%!{verb}(string={value})"
    return _pad(text, spec)


def _format(value: Any, spec: _Spec) -> str:
    if _is_string(value):
        return _format_string(value, spec)
    if spec.verb == "v":
        return _pad("<nil>", spec)
    return f"%!{spec.verb}(<nil>)"


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf over string (or nil) arguments."""
    check_format(fmt)
    out: list[str] = []
    pos = used = 0
    for m in _SPEC.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        verb = m.group("verb")
        if verb == "%":
            out.append("%")
            continue
        if verb == "":
            out.append("%!(NOVERB)")
            continue
        prec = m.group("prec")
        spec = _Spec(m.group("flags"), int(m.group("width")) if m.group("width") else None,
                     None if prec is None else int(prec or 0), verb)
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format(args[used], spec))
        used += 1
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"string={a}" if _is_string(a) else "<nil>" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
