"""Loading definitions: scalars kept as text, autobrr's custom-folder leniency, and the four load failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from annexd.domain.announce.definition import DefinitionError, load_folder, parse_definition

MINIMAL = """\
identifier: mini
urls: [https://mini.example/]
irc:
  network: Mini
  port: 6697
  tls: true
  channels: ["#announce"]
  announcers: [Bot]
  parse:
    lines:
      - pattern: 'New: (.*) id=(\\d+)'
        vars: [torrentName, torrentId]
        tests:
          - line: "New: A id=00000"
            expect:
              torrentName: A
              torrentId: 00000
              uploader:
    match:
      torrenturl: "/dl/{{ .torrentId }}"
"""


def test_scalars_stay_text_and_bare_keys_are_empty() -> None:
    d = parse_definition(MINIMAL)
    assert d.lines[0].tests[0].expect == {"torrentName": "A", "torrentId": "00000", "uploader": ""}
    assert (d.irc.port, d.irc.tls, d.irc.channels, d.irc.announcers) == (6697, True, ("#announce",), ("Bot",))


def test_unknown_keys_are_ignored_and_top_level_parse_is_moved_into_irc() -> None:
    text = MINIMAL.replace("  parse:\n", "  unknown_irc_key: 1\nparse:\n").replace("identifier: mini",
                                                                                    "identifier: mini\nfoo: bar")
    d = parse_definition(text)
    assert d.lines[0].parser.vars == ("torrentName", "torrentId")
    assert "torrenturl" in d.match.templates


def test_folder_loads_yaml_and_yml_and_reports_broken_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yml").write_text(MINIMAL.replace("identifier: mini", "identifier: other"))
    (tmp_path / "c.yaml").write_text("identifier: [unclosed")
    (tmp_path / "notes.txt").write_text("ignored")
    found, errors = load_folder(tmp_path)
    assert sorted(found) == ["mini", "other"]
    assert len(errors) == 1 and "c.yaml" in str(errors[0]) and "bad YAML" in str(errors[0])


@pytest.mark.parametrize(("change", "reason"), [
    (lambda t: t.replace("identifier: mini\n", ""), "missing identifier"),
    (lambda t: t.replace("    lines:", "    nolines:"), "missing irc.parse.lines"),
    (lambda t: t.replace("'New: (.*) id=(\\d+)'", "'(?<=New)(.*)'"), "RE2 rejects pattern"),
    (lambda t: t.replace("{{ .torrentId }}", "{{ lower .torrentId }}"), "unsupported template function 'lower'"),
    (lambda t: t.replace("{{ .torrentId }}", "{{ range .x }}{{ end }}"), "unsupported template action 'range'"),
    (lambda t: t.replace('"/dl/{{ .torrentId }}"', "'{{ printf \"%*s\" .a .b }}'"), "unsupported printf format"),
    (lambda t: t + "  - {", "bad YAML"),
])
def test_load_failures_name_their_cause(change: object, reason: str) -> None:
    assert callable(change)
    with pytest.raises(DefinitionError, match=reason.replace("(", r"\(").replace("?", r"\?")):
        parse_definition(change(MINIMAL), "x.yaml")


def test_a_missing_expect_is_kept_as_none() -> None:
    d = parse_definition(MINIMAL.replace("            expect:\n", "            other:\n"))
    assert d.lines[0].tests[0].expect is None
