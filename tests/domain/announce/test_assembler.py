"""Multi-line assembly as autobrr's per-channel loop does it, formatting stripping and mappings."""

from __future__ import annotations

from annexd.domain.announce.assembler import Assembler, apply_mappings, strip_formatting
from annexd.domain.announce.definition import load_file, parse_definition
from tests.domain.announce.corpus import CORPUS

THREE = """\
identifier: three
irc:
  parse:
    lines:
      - pattern: '^Name: (.*)$'
        vars: [torrentName]
      - pattern: '^Size: (.*)$'
        vars: [torrentSize]
      - pattern: '^Cat: (.*)$'
        vars: [category]
    mappings:
      category:
        "TV":
          category: Television
          origin: P2P
"""


def test_three_slots_complete_an_announce_with_mappings_applied() -> None:
    a = Assembler(parse_definition(THREE))
    steps = [a.feed(line) for line in ("Name: A", "Size: 1 GB", "Cat: TV")]
    assert [(s.slot, s.matched, s.announce is None) for s in steps] == [(0, True, True), (1, True, True),
                                                                       (2, True, False)]
    assert steps[-1].announce == {"torrentName": "A", "torrentSize": "1 GB", "category": "Television",
                                  "origin": "P2P"}
    assert steps[-1].vars == {"category": "TV"}  # this line's own vars, before mappings
    assert a.feed("Name: B").slot == 0  # starts over after a complete announce


def test_a_failing_line_drops_the_announce_and_is_consumed() -> None:
    a = Assembler(parse_definition(THREE))
    a.feed("Name: A")
    failed = a.feed("Name: B")  # slot 1 expected Size: the line is consumed, not retried as slot 0
    assert (failed.slot, failed.matched, failed.vars) == (1, False, {})
    assert a.feed("Size: 1 GB").matched is False  # back at slot 0, which wants a Name
    assert [a.feed(x).announce for x in ("Name: C", "Size: 2 GB", "Cat: Movie")][-1] == {
        "torrentName": "C", "torrentSize": "2 GB", "category": "Movie"}


def test_pixelhd_slot_zero_accepts_any_line() -> None:
    a = Assembler(load_file(CORPUS / "pixelhd.yaml"))
    assert a.feed("anything at all").matched is True
    assert a.feed("Title: Dragons Forever | Year: 1988 | URL: https://pixelhd.me/torrents.php?torrentid=23001").matched
    done = a.feed("Uploader: Anon | Release Group: Px4K | Format: MP4 | Genre(s): action,comedy")
    assert done.announce is not None and done.announce["torrentName"] == "Dragons Forever"


def test_strip_formatting() -> None:
    assert strip_formatting("\x02bold\x02 \x0304,12red\x03 \x031x\x03,y \x1funder\x1f\x0f \x04ff0000hex\x04") == \
        "bold red x,y under hex"


def test_mappings_need_exact_values_and_empty_key_matches_empty() -> None:
    mappings = {"a": {"": {"x": "empty"}, "V": {"x": "vee"}}}
    assert apply_mappings({"a": ""}, mappings) == {"a": "", "x": "empty"}
    assert apply_mappings({"a": "v"}, mappings) == {"a": "v"}
    assert apply_mappings({}, mappings) == {}
