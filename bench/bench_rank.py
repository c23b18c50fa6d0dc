"""Rank 10,000 synthetic search results: parse time and ranking time, reported separately.

Run: ``python -m bench.bench_rank`` (``--quick`` for a smoke run, ``--n`` to change the size).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from annexd.domain.quality import QualityProfile, Release, choose_for_season, rank
from annexd.domain.releases import parse_release

SHOWS = ["Severance", "The Last of Us", "House of the Dragon", "Slow Horses", "The Bear", "Shogun",
         "Only Murders in the Building", "Andor", "The Expanse", "Reacher"]
MOVIES = [("The Matrix", 1999), ("Dune Part Two", 2024), ("Oppenheimer", 2023), ("Arrival", 2016),
          ("Blade Runner 2049", 2017)]
RESOLUTIONS = ["2160p", "1080p", "720p", "480p", ""]
SOURCES = ["WEB-DL", "WEBRip", "BluRay", "BluRay.REMUX", "HDTV", "DVDRip", "AMZN.WEB-DL", "NF.WEB-DL"]
CODECS = ["x264", "x265", "H.264", "HEVC", "AV1", "XviD"]
GROUPS = ["NTb", "FLUX", "GalaxyTV", "YIFY", "SPARKS", "RARBG", "EDITH", "CAKES", "mSD", "TGx"]
EXTRAS = ["", "", "", "PROPER.", "REPACK.", "MULTI.", "DDP5.1.Atmos.", "10bit.", "HDR.", "iNTERNAL."]


def synthetic_titles(n: int, seed: int = 42) -> list[str]:
    rnd = random.Random(seed)
    titles = []
    for _ in range(n):
        quality = ".".join(p for p in (rnd.choice(RESOLUTIONS), rnd.choice(SOURCES)) if p)
        tail = f"{rnd.choice(EXTRAS)}{quality}.{rnd.choice(CODECS)}-{rnd.choice(GROUPS)}"
        kind = rnd.random()
        if kind < 0.15:
            title, year = rnd.choice(MOVIES)
            titles.append(f"{title.replace(' ', '.')}.{year}.{tail}")
            continue
        show = rnd.choice(SHOWS).replace(" ", ".")
        season = rnd.randint(1, 5)
        if kind < 0.30:
            titles.append(f"{show}.S{season:02d}.{tail}")
        elif kind < 0.40:
            ep = rnd.randint(1, 9)
            titles.append(f"{show}.S{season:02d}E{ep:02d}E{ep + 1:02d}.{tail}")
        else:
            titles.append(f"{show}.S{season:02d}E{rnd.randint(1, 10):02d}.{tail}")
    return titles


def build_releases(titles: list[str], seed: int = 7) -> tuple[list[Release], float]:
    rnd = random.Random(seed)
    started = time.perf_counter()
    parsed = [parse_release(t) for t in titles]
    parse_seconds = time.perf_counter() - started
    releases = [
        Release(guid=f"{i:040x}", title=t, size=rnd.randint(200, 60_000) * 1_000_000, indexer=rnd.choice("abc"),
                parsed=p, seeders=rnd.randint(0, 2000), peers=rnd.randint(0, 3000), info_hash=f"{i:040x}")
        for i, (t, p) in enumerate(zip(titles, parsed, strict=True))
    ]
    return releases, parse_seconds


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--n", type=int, default=10_000)
    args.add_argument("--repeat", type=int, default=5)
    args.add_argument("--quick", action="store_true", help="1,000 results, 1 repetition")
    opts = args.parse_args(argv)
    n, repeat = (1_000, 1) if opts.quick else (opts.n, opts.repeat)

    titles = synthetic_titles(n)
    releases, parse_seconds = build_releases(titles)
    profile = QualityProfile(banned_groups=("YIFY",), preferred_groups=("NTb", "FLUX"), preferred_words=("atmos",),
                             banned_words=("multi",))
    blocklist = {f"{i:040x}" for i in range(0, n, 97)}
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        ranked = rank(releases, profile, episodes_wanted=10, blocklist=blocklist)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    choice = choose_for_season(1, set(range(1, 11)), ranked.accepted)
    choose_seconds = time.perf_counter() - started
    baseline = _baseline_sort(releases)
    rank_s = statistics.median(timings)
    print(f"results                {n}")
    print(f"parse (total)          {parse_seconds * 1000:9.1f} ms  ({n / parse_seconds:,.0f} titles/s)")
    print(f"rank (median of {repeat})     {rank_s * 1000:9.1f} ms  ({n / rank_s:,.0f} results/s)")
    print(f"baseline sort by size  {baseline * 1000:9.1f} ms  (rank/baseline ratio {rank_s / baseline:.1f}x)")
    print(f"choose_for_season      {choose_seconds * 1000:9.3f} ms")
    print(f"accepted {len(ranked.accepted)}  below_profile {len(ranked.below_profile)}  "
          f"rejected {len(ranked.rejected)}  season-1 pick: {'pack' if choice.pack else len(choice.picks)}")


def _baseline_sort(releases: list[Release]) -> float:
    started = time.perf_counter()
    sorted(releases, key=lambda r: (-r.size, r.guid))
    return max(time.perf_counter() - started, 1e-9)


if __name__ == "__main__":
    main()
