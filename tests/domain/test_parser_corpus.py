"""annexd.domain.releases scored on Sonarr's own parser test cases (shared/corpus/sonarr-parser-cases.json).

The cases come from another project's tests and are read where they lie (``shared/corpus`` beside the checkout,
found by walking up from this file), never copied here. Pass rules per kind are those of shared/corpus/README.md;
the test prints the per-kind table and fails below 0.97 overall or 0.95 in any kind.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annexd.domain.quality import quality_of
from annexd.domain.releases import ParsedRelease, parse_release

OVERALL_MIN = 0.97
KIND_MIN = 0.95
KINDS = ("single", "multi", "season", "daily", "absolute", "quality", "group")

Case = dict[str, Any]


def find_corpus(name: str = "sonarr-parser-cases.json") -> Path:
    """The shared corpus file: the first ``shared/corpus`` found walking up from this test file."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "corpus" / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no shared/corpus/{name} above {Path(__file__).resolve().parent}")


def load_cases() -> list[Case]:
    return json.loads(find_corpus().read_text(encoding="utf-8"))


def passes(case: Case, r: ParsedRelease) -> bool:
    """The corpus README's pass rule for one case."""
    kind = case["kind"]
    if kind in ("single", "multi"):
        return r.season == case["season"] and sorted(r.episodes) == case["episodes"] and not r.full_season
    if kind == "season":
        return r.season == case["season"] and r.full_season and not r.episodes
    if kind == "daily":
        return r.air_date is not None and r.air_date.isoformat() == case["air_date"]
    if kind == "absolute":
        return sorted(r.absolute_episodes) == case["absolute"] or (
            r.season is None and sorted(r.episodes) == case["absolute"])
    if kind == "quality":
        return quality_of(r) == case["quality"]
    if kind == "group":
        return r.group == case["group"]
    raise ValueError(f"unknown kind {kind!r}")


def score(cases: list[Case], parse: Callable[[str], ParsedRelease]) -> tuple[Counter[str], Counter[str], list[str]]:
    """(passed per kind, total per kind, one line per miss)."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for case in cases:
        total[case["kind"]] += 1
        if passes(case, parse(case["title"])):
            passed[case["kind"]] += 1
        else:
            expected = {k: v for k, v in case.items() if k not in ("kind", "title", "series")}
            misses.append(f"{case['kind']:8} {case['title']!r} want {expected}")
    return passed, total, misses


def table(passed: Counter[str], total: Counter[str]) -> str:
    lines = [f"{'kind':10} {'passed':>9} {'score':>7}"]
    for kind in KINDS:
        lines.append(f"{kind:10} {passed[kind]:>4}/{total[kind]:<4} {passed[kind] / total[kind]:>7.3f}")
    all_passed, all_total = sum(passed.values()), sum(total.values())
    lines.append(f"{'overall':10} {all_passed:>4}/{all_total:<4} {all_passed / all_total:>7.3f}")
    return "\n".join(lines)


CASES = load_cases()


def test_corpus_is_the_shared_one() -> None:
    kinds = Counter(case["kind"] for case in CASES)
    assert len(CASES) == 707 and set(kinds) == set(KINDS)


def test_sonarr_corpus_score(capsys: pytest.CaptureFixture[str]) -> None:
    passed, total, misses = score(CASES, parse_release)
    with capsys.disabled():
        print("\nannexd.domain.releases on Sonarr's parser cases (shared/corpus/sonarr-parser-cases.json)")
        print(table(passed, total))
        for miss in misses:
            print("  MISS", miss)
    assert sum(passed.values()) / sum(total.values()) >= OVERALL_MIN
    for kind in KINDS:
        assert passed[kind] / total[kind] >= KIND_MIN, f"{kind}: {passed[kind]}/{total[kind]}"


def test_scoring_can_fail() -> None:
    # A parser that reads nothing must score near zero in every kind but "group" (where None is sometimes right).
    passed, total, _ = score(CASES, lambda title: ParsedRelease(title=title))
    assert all(passed[kind] / total[kind] < 0.1 for kind in KINDS if kind != "group")
    assert sum(passed.values()) / sum(total.values()) < 0.1
