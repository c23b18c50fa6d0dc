"""``annexd announce parse|test``: autobrr definitions on the command line. Needs no config and no database.

``parse`` is a machine interface: it reads announce lines on stdin (UTF-8, undecodable bytes replaced) and
prints exactly one JSON object per line. With ``--line N`` each line is parsed on its own against the
definition's line N and the object is the var map autobrr's line parser yields (``{}`` for a failed line);
without it, the lines are one channel's queue and each object is ``{"slot", "matched", "vars", "announce"}``.
``test`` runs each definition's embedded test lines and prints lines passed / total per definition.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from annexd.domain.announce.assembler import Assembler
from annexd.domain.announce.definition import Definition, DefinitionError, load_file
from annexd.domain.announce.embedded_tests import run_embedded_tests
from annexd.exitcodes import ExitCode


def _stdin_lines() -> Iterator[str]:
    for raw in sys.stdin.buffer:
        yield raw.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")


def _emit(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()


def _load(path: str) -> Definition | None:
    try:
        return load_file(path)
    except DefinitionError as exc:
        print(f"cannot load definition: {exc}", file=sys.stderr)
        return None


def cmd_parse(args: argparse.Namespace) -> int:
    definition = _load(args.definition)
    if definition is None:
        return ExitCode.CONFIG
    if args.line is not None and not 0 <= args.line < len(definition.lines):
        print(f"--line {args.line}: {definition.identifier} has lines 0..{len(definition.lines) - 1}",
              file=sys.stderr)
        return ExitCode.USAGE
    if args.line is not None:
        parser = definition.lines[args.line].parser
        for line in _stdin_lines():
            _emit(parser.parse(line)[1], sys.stdout)
    else:
        assembler = Assembler(definition)
        for line in _stdin_lines():
            _emit(assembler.feed(line).as_json(), sys.stdout)
    return ExitCode.OK


def _test_one(definition: Definition, verbose: bool) -> bool:
    outcomes = run_embedded_tests(definition)
    passed = sum(o.passed for o in outcomes)
    print(f"{definition.identifier}: {passed}/{len(outcomes)} lines passed ({definition.source})")
    for o in outcomes:
        if not o.passed and verbose:
            print(f"  FAIL line {o.slot}: {o.line!r}\n    expected {o.expected}\n    got      {o.got}")
    return passed == len(outcomes)


def cmd_test(args: argparse.Namespace) -> int:
    loaded = [_load(path) for path in args.definitions]
    results = [_test_one(d, not args.quiet) for d in loaded if d is not None]
    if any(d is None for d in loaded):
        return ExitCode.CONFIG
    return ExitCode.OK if all(results) else ExitCode.ANNOUNCE_TESTS_FAILED


def register(sub: Any) -> None:
    """Adds the ``announce`` command group to the ``annexd`` subcommands."""
    group = sub.add_parser("announce", help="IRC announce definitions (autobrr format): parse and test")
    actions = group.add_subparsers(dest="action", required=True)
    parse = actions.add_parser("parse", help="parse announce lines from stdin; one JSON object per line")
    parse.add_argument("definition", metavar="DEFINITION.yaml")
    parse.add_argument("--line", type=int, metavar="N", help="parse each line alone against line N (0-based)")
    parse.set_defaults(func=cmd_parse)
    test = actions.add_parser("test", help="run definitions' embedded test lines (exit 0 / 11 failed / 3 bad)")
    test.add_argument("definitions", nargs="+", metavar="DEFINITION.yaml")
    test.add_argument("-q", "--quiet", action="store_true", help="only the per-definition counts")
    test.set_defaults(func=cmd_test)
