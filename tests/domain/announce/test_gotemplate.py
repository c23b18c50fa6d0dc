"""The Go text/template subset: Go's output for what the definitions' match templates use."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from annexd.domain.announce.gofmt import sprint, sprintf
from annexd.domain.announce.gotemplate import TemplateError, compile_template

ANIMEBYTES = ('{{ if .releaseGroup }}[{{ .releaseGroup }}] {{ end }}{{ .torrentName }} {{ if .releaseEpisode }}'
              '{{ printf "- %02s " .releaseEpisode }}{{ end }} {{ if .year }}[{{ .year }}]{{ end }}'
              '{{ print "[" .releaseTags "]" | replace " / " "][" }}')


def render(source: str, **data: str) -> str:
    return compile_template(source).render(data)


def test_animebytes_torrentname() -> None:
    out = render(ANIMEBYTES, releaseGroup="Sub Group", torrentName="Awesome Series", releaseEpisode="1",
                 year="2022", releaseTags="Web / MKV / h264")
    assert out == "[Sub Group] Awesome Series - 01  [2022][Web][MKV][h264]"
    bare = render(ANIMEBYTES, releaseGroup="", torrentName="Novel", releaseEpisode="", year="", releaseTags="EPUB")
    assert bare == "Novel  [EPUB]"


def test_missing_key_prints_no_value_and_is_false() -> None:
    assert render("/{{ .passkey }}/{{ if .passkey }}yes{{ else }}no{{ end }}") == "/<no value>/no"
    assert render("{{ print .a .b }}|{{ printf \"%s\" .a }}") == "<nil> <nil>|%!s(<nil>)"


def test_else_if_chains() -> None:
    source = "{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}!"
    assert [render(source, a="1"), render(source, b="1"), render(source)] == ["A!", "B!", "C!"]


def test_urlquery_and_literals_and_trim_markers() -> None:
    assert render('dn={{ urlquery .n }}', n="A b/ä+") == "dn=A+b%2F%C3%A4%2B"
    assert render('a  {{- "x" -}}  b{{/* note */}}') == "axb"


def test_replace_on_a_missing_value_is_an_error() -> None:
    with pytest.raises(TemplateError, match="invalid value"):
        render('{{ .nope | replace "a" "b" }}')


@pytest.mark.parametrize("source", ["{{ lower .x }}", "{{ with .x }}{{ end }}", "{{ $x := .a }}", "{{ if .a }}",
                                    "{{ end }}", "{{ if .a }}{{ else with .b }}{{ end }}", "{{ .a .b }}", "{{ .x | .y }}", "{{ .a"])
def test_unsupported_or_broken_templates_are_refused_at_compile_time(source: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(source)


def test_go_fmt_semantics() -> None:
    assert sprintf("%05s|%-4s|%4s|%.2s|%q|%x|%d|%s|%%", ["abc", "ab", "ab", "abc", 'a"b', "hi", "7", "é"]) == \
        '00abc|ab  |  ab|ab|"a\\"b"|6869|%!d(string=7)|é|%'
    assert sprintf("%s %s", ["a"]) == "a %!s(MISSING)"
    assert sprintf("%s", ["a", "b"]) == "a%!(EXTRA string=b)"
    assert sprint(["a", None, None, "b"]) == "a<nil> <nil>b"


@given(st.text(alphabet="0123456789", min_size=1, max_size=5), st.integers(min_value=1, max_value=8))
def test_zero_padded_string_is_rjust_with_zeros(digits: str, width: int) -> None:
    assert sprintf(f"%0{width}s", [digits]) == digits.rjust(width, "0")
