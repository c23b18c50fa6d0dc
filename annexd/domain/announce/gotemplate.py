"""A small evaluator for the Go ``text/template`` subset that autobrr definitions use. Pure.

Why not a library: Jinja2, Chevron and friends have other syntax and semantics (Jinja's ``{{ .x }}`` is an
error, ``{% if %}`` is a different tag); the PyPI ports of Go templates are abandoned and none implements
Go's ``fmt`` (``printf "%02s"`` zero-pads a *string* in Go) or sprig's argument order (``replace OLD NEW
SRC``, the piped value last). The definitions need little: text, ``{{ .field }}``, ``{{ if P }} … {{ else if P }} …
{{ else }} … {{ end }}``, pipelines with ``|``, string literals and the functions in ``FUNCTIONS``. Everything else —
``range``, ``with``, ``define``, variables, unknown functions — is refused when the template is compiled, with
an error naming it, so a definition that needs it fails at load time, never at the first announce.

Go semantics kept: a missing key prints ``<no value>``; ``if`` is false for ``""`` and a missing key; ``print``
concatenates strings (adding a space only between two non-strings); ``printf`` follows Go's verbs and flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

from annexd.domain.announce.gofmt import check_format, sprint, sprintf


class TemplateError(ValueError):
    """The template uses syntax or a function this evaluator does not support, or failed while rendering."""


class Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()
Value = str | Missing


def _as_string(name: str, value: Value) -> str:
    if isinstance(value, Missing):  # Go: "invalid value; expected string"
        raise TemplateError(f"{name}: invalid value; expected string")
    return value


def _replace(old: Value, new: Value, src: Value) -> str:
    return _as_string("replace", src).replace(_as_string("replace", old), _as_string("replace", new))


def _urlquery(*args: Value) -> str:
    return quote_plus(sprint(args), safe="")


def _print(*args: Value) -> str:
    return sprint(args)


def _printf(fmt: Value, *args: Value) -> str:
    return sprintf(_as_string("printf", fmt), args)


FUNCTIONS: dict[str, Callable[..., str]] = {
    "print": _print,
    "printf": _printf,
    "urlquery": _urlquery,
    "replace": _replace,
}


# --- syntax tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Literal:
    value: str


Arg = Field | Literal


@dataclass(frozen=True)
class Command:
    """One stage of a pipeline: a bare operand, or a function with arguments."""

    function: str | None
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class If:
    condition: Pipeline
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...]


Node = str | Pipeline | If


# --- lexing ---------------------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<pipe>\|)|(?P<word>[^\s|"`]+))')
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^\.[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


def _unquote(token: str) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            if body[i + 1] not in _ESCAPES:
                raise TemplateError(f"unsupported escape \\{body[i + 1]} in string {token}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _tokens(action: str) -> list[str]:
    tokens, pos = [], 0
    action = action.rstrip()
    while pos < len(action):
        m = _TOKEN.match(action, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read {{{{{action}}}}} at {action[pos:]!r}")
        tokens.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return tokens


def _operand(token: str) -> Arg:
    if token.startswith('"'):
        return Literal(_unquote(token))
    if token.startswith("`"):
        return Literal(token[1:-1])
    if _FIELD.match(token):
        return Field(token[1:])
    raise TemplateError(f"unsupported operand {token!r}")


def _command(tokens: Sequence[str]) -> Command:
    if not tokens:
        raise TemplateError("empty command in pipeline")
    head = tokens[0]
    if _IDENT.match(head):
        if head not in FUNCTIONS:
            raise TemplateError(f"unsupported template function {head!r}")
        return Command(head, tuple(_operand(t) for t in tokens[1:]))
    if len(tokens) > 1:
        raise TemplateError(f"cannot call {head!r}: it is not a function")
    return Command(None, (_operand(head),))


def _pipeline(tokens: Sequence[str]) -> Pipeline:
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            commands.append([])
        else:
            commands[-1].append(token)
    parsed = tuple(_command(c) for c in commands)
    if any(c.function is None for c in parsed[1:]):
        raise TemplateError("only a function can follow '|' in a pipeline")
    return Pipeline(parsed)


# --- parsing --------------------------------------------------------------------------------------------
_KEYWORDS_REFUSED = ("range", "with", "define", "template", "block", "break", "continue")


def _pieces(source: str) -> list[tuple[str, str]]:
    """The template as ("text", s) and ("action", s) pieces, trim markers applied."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(source):
        text = source[pos:m.start()]
        pieces.append(("text", text.rstrip() if m.group(1) else text))
        pieces.append(("action", m.group(2).strip()))
        pos = m.end()
        if m.group(3):
            rest = source[pos:]
            pos += len(rest) - len(rest.lstrip())
    pieces.append(("text", source[pos:]))
    if "{{" in source[pos:]:
        raise TemplateError("unclosed action '{{'")
    return [p for p in pieces if p != ("text", "")]


class _Parser:
    def __init__(self, pieces: list[tuple[str, str]]):
        self.pieces = pieces
        self.pos = 0

    def nodes(self, stop: tuple[str, ...] = ()) -> tuple[tuple[Node, ...], str | None]:
        """Nodes up to one of the ``stop`` keywords; returns them and the stopping action's text."""
        out: list[Node] = []
        while self.pos < len(self.pieces):
            kind, body = self.pieces[self.pos]
            self.pos += 1
            if kind == "text":
                out.append(body)
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in stop:
                return tuple(out), body
            if word in ("end", "else"):
                raise TemplateError(f"unexpected {{{{{word}}}}}")
            out.extend(self._action(word, body))
        if stop:
            raise TemplateError("missing {{end}}")
        return tuple(out), None

    def _action(self, word: str, body: str) -> list[Node]:
        if body.startswith("/*") and body.endswith("*/"):
            return []
        if word in _KEYWORDS_REFUSED:
            raise TemplateError(f"unsupported template action {word!r}")
        if word.startswith("$") or ":=" in body or body.startswith("$"):
            raise TemplateError("unsupported template variables ($)")
        if word == "if":
            return [self._if(body[2:])]
        return [_pipeline(_tokens(body))]

    def _if(self, condition: str) -> If:
        then, ended = self.nodes(("else", "end"))
        otherwise: tuple[Node, ...] = ()
        rest = (ended or "")[4:].strip() if (ended or "").startswith("else") else ""
        if rest.startswith("if ") or rest == "if":
            otherwise = (self._if(rest[2:]),)  # {{else if}}: the nested if ends at the shared {{end}}
        elif rest:
            raise TemplateError(f"unsupported template action 'else {rest.split()[0]}'")
        elif ended == "else":
            otherwise, _ = self.nodes(("end",))
        return If(_pipeline(_tokens(condition)), then, otherwise)


@dataclass(frozen=True)
class Template:
    source: str
    nodes: tuple[Node, ...]

    def render(self, data: Mapping[str, str]) -> str:
        return "".join(_render(node, data) for node in self.nodes)

    def fields(self) -> frozenset[str]:
        """The names of every ``.field`` the template reads, in any branch."""
        return frozenset(_fields(self.nodes))


def _fields(nodes: Sequence[Node]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, If):
            found |= _fields([node.condition, *node.then, *node.otherwise])
        elif isinstance(node, Pipeline):
            found |= {arg.name for command in node.commands for arg in command.args if isinstance(arg, Field)}
    return found


def compile_template(source: str) -> Template:
    """Parses ``source``; raises TemplateError naming the first unsupported thing."""
    nodes, _ = _Parser(_pieces(source)).nodes()
    _check_formats(nodes)
    return Template(source, nodes)


def _check_formats(nodes: Sequence[Node]) -> None:
    for node in nodes:
        if isinstance(node, If):
            _check_formats([node.condition, *node.then, *node.otherwise])
        elif isinstance(node, Pipeline):
            for command in node.commands:
                if command.function == "printf" and command.args and isinstance(command.args[0], Literal):
                    check_format(command.args[0].value)


# --- evaluation -----------------------------------------------------------------------------------------
def _arg(arg: Arg, data: Mapping[str, str]) -> Value:
    if isinstance(arg, Literal):
        return arg.value
    return data.get(arg.name, MISSING)


def _evaluate(pipeline: Pipeline, data: Mapping[str, str]) -> Value:
    value: Value | None = None
    for command in pipeline.commands:
        args = [_arg(a, data) for a in command.args]
        if value is not None:
            args.append(value)
        value = args[0] if command.function is None else FUNCTIONS[command.function](*args)
    assert value is not None
    return value


def _render(node: Node, data: Mapping[str, str]) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, If):
        chosen = node.then if _truth(_evaluate(node.condition, data)) else node.otherwise
        return "".join(_render(n, data) for n in chosen)
    value = _evaluate(node, data)
    return "<no value>" if isinstance(value, Missing) else value


def _truth(value: Value) -> bool:
    return not isinstance(value, Missing) and value != ""
