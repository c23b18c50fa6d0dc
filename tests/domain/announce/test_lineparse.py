"""autobrr's two line-parsing paths on RE2, with Go's capture semantics."""

from __future__ import annotations

from hypothesis import given, strategies as st

from annexd.domain.announce.lineparse import LineParser


def test_vars_take_groups_by_position_and_absent_groups_are_empty() -> None:
    p = LineParser.build(r"^(\w+)(?: \[(FL)\])? (?P<ignored>\d+)", ["name", "freeleech", "id"], False)
    assert p.parse("Show 42") == (True, {"name": "Show", "freeleech": "", "id": "42"})
    assert p.parse("Show [FL] 42") == (True, {"name": "Show", "freeleech": "FL", "id": "42"})


def test_no_match_or_too_few_groups_fails_with_nothing() -> None:
    assert LineParser.build(r"(\d+)", ["a"], False).parse("none") == (False, {})
    assert LineParser.build(r"(\d+)", ["a", "b"], False).parse("12") == (False, {})


def test_pattern_with_vars_is_case_sensitive_and_unanchored() -> None:
    p = LineParser.build(r"New: (.*)", ["torrentName"], False)
    assert p.parse("xx New: A") == (True, {"torrentName": "A"})
    assert p.parse("new: A") == (False, {})


def test_go_captures_nested_repeats_and_unicode_space_class() -> None:
    # animebytes: Python's re gives "" for group 2 and rejects \p{Zs}
    p = LineParser.build(r"((.*?)+)[\s\p{Zs}]{2,}\[(\d+)\]", ["torrentName", "title", "year"], False)
    assert p.parse("Cool Movie\u3000 [2020]") == (True, {"torrentName": "Cool Movie", "title": "Cool Movie",
                                                         "year": "2020"})


def test_digit_class_is_ascii_only() -> None:
    assert LineParser.build(r"(\d+)", ["n"], False).parse("\u0663") == (False, {})


def test_line_without_vars_stores_named_groups_and_raw_and_never_fails() -> None:
    p = LineParser.build(r"new torrent (?P<kind>\w+):", [], False)
    assert p.parse("NEW TORRENT Uploaded:") == (True, {"raw": "NEW TORRENT Uploaded:", "kind": "Uploaded"})
    assert p.parse("something else") == (True, {})
    unnamed = LineParser.build(r"a(b)", [], False)
    assert unnamed.parse("ab") == (True, {"raw": "b"})  # later unnamed groups overwrite raw


def test_ignored_line_matches_anything_and_stores_nothing() -> None:
    assert LineParser.build(r"^New torrent uploaded!$", [], True).parse("New torrent uploaded!") == (True, {})
    assert LineParser.build(r"^New torrent uploaded!$", [], True).parse("other") == (True, {})


@given(st.text())
def test_any_text_parses_without_raising(text: str) -> None:
    matched, found = LineParser.build(r"^(.*?) - (\d+)?", ["a", "b"], False).parse(text)
    assert matched == bool(found)
