"""Every embedded test line of every shared autobrr definition through `annexd announce parse --line N`,
compared with exact map equality as autobrr's own test does. In-process for speed (the same `main` as the
command); tests/domain/announce/test_cli.py runs the real command as a subprocess."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from annexd import cli
from annexd.domain.announce.definition import load_file
from tests.domain.announce.corpus import CORPUS, corpus_files

THRESHOLD = 0.97


def parse_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], path: Path, slot: int,
                lines: list[str]) -> list[dict[str, str]]:
    stdin = io.TextIOWrapper(io.BytesIO("".join(f"{line}\n" for line in lines).encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    capsys.readouterr()
    assert cli.main(["announce", "parse", str(path), "--line", str(slot)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(lines), "one JSON object per input line"
    return [json.loads(o) for o in out]


def score(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, int]:
    definition = load_file(path)
    right = total = 0
    for slot, line in enumerate(definition.lines):
        if not line.tests:
            continue
        got = parse_lines(monkeypatch, capsys, path, slot, [t.line for t in line.tests])
        for test, parsed in zip(line.tests, got, strict=True):
            total += 1
            right += test.expect is not None and parsed == test.expect
    return right, total


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_definition_lines_right(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                path: Path) -> None:
    right, total = score(monkeypatch, capsys, path)
    with capsys.disabled():
        print(f"\n{path.stem}: {right}/{total} lines right")
    assert total > 0, f"{path.name} has no embedded test lines"
    assert right / total >= THRESHOLD


def test_whole_corpus_lines_right(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    figures = {p.stem: score(monkeypatch, capsys, p) for p in corpus_files()}
    right = sum(r for r, _ in figures.values())
    total = sum(t for _, t in figures.values())
    with capsys.disabled():
        print(f"\nannounce corpus {CORPUS}: {right}/{total} lines right ({right / total:.4f}) "
              f"over {len(figures)} definitions")
    assert total >= 100
    assert right / total >= THRESHOLD
