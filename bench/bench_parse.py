"""Release-name parsing speed: annexd.domain.releases.parse_release vs guessit on the shared test corpus.

Run: ``python -m bench.bench_parse`` (``--quick`` for a smoke run, ``--repeat`` to change the repetitions).
Both parsers run in the same process over the same names (tests/data/release_corpus.tsv); each repetition
parses the whole corpus once, and the median repetition is reported. Target: annexd reads at least
10,000 titles/s (exit 1 when missed, the bench convention).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from annexd.domain.releases import parse_release
from bench.common import median_seconds, print_table

CORPUS_PATH = Path(__file__).resolve().parent.parent / "tests" / "data" / "release_corpus.tsv"
TARGET_TITLES_PER_S = 10_000


def corpus_names(path: Path = CORPUS_PATH) -> list[str]:
    """The release names (second column) of the corpus file the tests score against."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[1] for line in lines if line.strip() and not line.startswith("#")]


def _guessit_parser():  # type: ignore[no-untyped-def]
    from guessit import guessit

    def parse(name: str) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return guessit(name)

    return parse


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--repeat", type=int, default=3, help="repetitions per parser (median reported)")
    args.add_argument("--quick", action="store_true", help="first 100 names, 1 repetition")
    opts = args.parse_args(argv)
    names = corpus_names()
    repeat = opts.repeat
    if opts.quick:
        names, repeat = names[:100], 1

    guessit = _guessit_parser()
    guessit(names[0])  # warm-up: guessit builds its rule set lazily on the first call
    parse_release(names[0])
    ours_s, _ = median_seconds(lambda: [parse_release(n) for n in names], repeat)
    theirs_s, _ = median_seconds(lambda: [guessit(n) for n in names], repeat)

    n = len(names)
    print(f"corpus names: {n}, repetitions: {repeat} (median)")
    print_table(
        ("parser", "total ms", "us/title", "titles/s"),
        [("annexd.parse_release", f"{ours_s * 1e3:.1f}", f"{ours_s / n * 1e6:.1f}", f"{n / ours_s:,.0f}"),
         ("guessit", f"{theirs_s * 1e3:.1f}", f"{theirs_s / n * 1e6:.1f}", f"{n / theirs_s:,.0f}")],
    )
    print(f"speed ratio (annexd / guessit titles/s): {theirs_s / ours_s:.1f}x")
    met = n / ours_s >= TARGET_TITLES_PER_S
    print(f"target annexd >= {TARGET_TITLES_PER_S:,} titles/s: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
