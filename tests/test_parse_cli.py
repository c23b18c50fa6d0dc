"""`annexd parse NAME...` run as a real subprocess: the table for people, one JSON object per line with --json."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from annexd.domain.releases import ParsedRelease

NAMES = ["Some.Show.S02E15.HDTV.XviD-LOL", "[SubsPlease] Anime Title - 1000 (1080p) [ABCD1234].mkv",
         "A.Late.Talk.Show.2011.01.10.720p.HDTV.x264-GRP", "Movie.Title.2019.Directors.Cut.FRENCH.1080p.BluRay-GRP"]


def run_parse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annexd.cli", "parse", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_json_has_every_field_and_the_quality() -> None:
    result = run_parse("--json", *NAMES)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["title"] for row in rows] == NAMES
    fields = {f.name for f in dataclasses.fields(ParsedRelease)}
    assert all(set(row) == fields | {"quality"} for row in rows)
    show, anime, daily, movie = rows
    assert (show["season"], show["episodes"], show["quality"], show["air_date"]) == (2, [15], "480p sdtv", None)
    assert (anime["absolute_episodes"], anime["season"], anime["group"]) == ([1000], None, "SubsPlease")
    assert (daily["air_date"], daily["quality"]) == ("2011-01-10", "720p hdtv")
    assert (movie["edition"], movie["languages"], movie["year"], movie["quality"]) == \
        ("Directors Cut", ["french"], 2019, "1080p bluray")


def test_table_names_each_release() -> None:
    result = run_parse(NAMES[0], NAMES[1])
    assert result.returncode == 0, result.stderr
    assert NAMES[0] in result.stdout and NAMES[1] in result.stdout
    assert "480p sdtv" in result.stdout and "absolute_episodes" in result.stdout


def test_no_name_is_a_usage_error() -> None:
    result = run_parse()
    assert result.returncode == 2 and "NAME" in result.stderr
