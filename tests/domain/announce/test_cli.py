"""`annexd announce parse|test` as real subprocesses: JSON lines, exit codes, no config or database needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.domain.announce.corpus import CORPUS

ANNEXD = [sys.executable, "-m", "annexd.cli"]

BTN_ANNOUNCE = [
    "NOW BROADCASTING! [ The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP ]",
    "\x02[ Title: S06E07 ] [ Series: \x0304,01The Show\x03 ]\x0f",
    "[ 2010 ] [ Episode ] [ MKV | x264 | WEB | P2P ] [ Uploader: Uploader1 ]",
    "[ https://XXXXXXXXX/torrents.php?id=7338 / https://XXXXXXXXX/torrents.php?action=download&id=9116 ]",
]

FAILING = """\
identifier: failing
irc:
  parse:
    lines:
      - pattern: '(\\d+)'
        vars: [number]
        tests:
          - line: "abc 42"
            expect: {number: "42"}
          - line: "abc 42"
            expect: {number: "41"}
"""


def run(args: list[str], stdin: bytes = b"", tmp: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    # A database that cannot be reached and a config file that does not exist: neither may be touched.
    env = {**os.environ, "ANNEX_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "ANNEX_CONFIG": "/nonexistent/annexd.toml"}
    if tmp is not None:
        env["ANNEX_STATE_DIR"] = str(tmp / "state")
    return subprocess.run([*ANNEXD, *args], input=stdin, capture_output=True, env=env, timeout=60)


def json_lines(out: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.decode().splitlines()]


def test_parse_multi_line_announce_without_config_or_database(tmp_path: Path) -> None:
    stdin = "".join(f"{line}\n" for line in ["garbage first", *BTN_ANNOUNCE]).encode()
    done = run(["announce", "parse", str(CORPUS / "btn.yaml")], stdin, tmp_path)
    assert done.returncode == 0, done.stderr
    steps = json_lines(done.stdout)
    assert [(s["slot"], s["matched"]) for s in steps] == [(0, False), (0, True), (1, True), (2, True), (3, True)]
    assert steps[2]["vars"] == {"title": "The Show"}  # formatting and colours stripped
    assert [s["announce"] is None for s in steps] == [True] * 4 + [False]
    announce = steps[-1]["announce"]
    assert isinstance(announce, dict)
    assert announce["torrentName"] == "The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP"
    assert announce["torrentId"] == "9116" and announce["preTime"] == ""
    assert not (tmp_path / "state").exists()


def test_parse_line_mode_prints_one_map_per_line_even_undecodable() -> None:
    stdin = b"NOW BROADCASTING! [ The \xff Show ]\nnothing here\n"
    done = run(["announce", "parse", str(CORPUS / "btn.yaml"), "--line", "0"], stdin)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"torrentName": "The \ufffd Show"}, {}]


def test_parse_line_out_of_range_is_a_usage_error() -> None:
    done = run(["announce", "parse", str(CORPUS / "btn.yaml"), "--line", "4"], b"x\n")
    assert done.returncode == 2 and b"lines 0..3" in done.stderr


def test_test_command_exit_codes(tmp_path: Path) -> None:
    failing = tmp_path / "failing.yml"
    failing.write_text(FAILING)
    broken = tmp_path / "broken.yaml"
    broken.write_text("identifier: broken\nirc:\n  parse:\n    lines:\n      - pattern: '(?<=x)y'\n")

    ok = run(["announce", "test", str(CORPUS / "btn.yaml"), str(CORPUS / "animebytes.yaml")])
    assert ok.returncode == 0, ok.stdout
    assert b"btn: 4/4 lines passed" in ok.stdout and b"animebytes: 9/9 lines passed" in ok.stdout

    failed = run(["announce", "test", str(CORPUS / "btn.yaml"), str(failing)])
    assert failed.returncode == 11
    assert b"failing: 1/2 lines passed" in failed.stdout

    refused = run(["announce", "test", str(failing), str(broken)])
    assert refused.returncode == 3
    assert b"RE2 rejects pattern" in refused.stderr and b"broken.yaml" in refused.stderr
    assert run(["announce", "parse", str(broken)], b"x\n").returncode == 3
