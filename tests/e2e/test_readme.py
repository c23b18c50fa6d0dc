"""The README's examples, run as they are written: `make run` (as the README starts it), then the "Using it"
command and HTTP blocks from a fresh shell environment (only PATH and HOME), parsed from README.md so this test
follows the README. The only change is the port (a free one instead of 8282: tests run in parallel)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.servers.annexd import DaemonProcess
from tests.util import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
KEY = "some-long-secret"  # the README starts the daemon with ANNEX_API_KEY=some-long-secret make run


def using_it_blocks() -> list[str]:
    section = README.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    assert "a test runs these two" in section
    return re.findall(r"```sh\n(.*?)```", section, re.S)[:2]


def fresh_env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def sh(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=REPO, env=fresh_env(home),
                          capture_output=True, text=True, timeout=120)


def test_readme_examples_work_verbatim_after_make_run(tmp_path, daemon_factory):
    assert f"ANNEX_API_KEY={KEY} make run" in README
    home, port = tmp_path / "home", free_port()
    home.mkdir()
    env = {**fresh_env(home), "ANNEX_API_KEY": KEY, "ANNEX_HTTP_PORT": str(port),
           "ANNEX_HEALTH_INTERVAL_SECONDS": "0.5"}
    make = subprocess.Popen(["make", "-s", "run"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    probe: DaemonProcess = daemon_factory(tmp_path / "probe")
    probe.port = port
    try:
        wait_until(lambda: probe.get("/health")[1].get("status") == "ok", timeout=120,
                   what="make run -> /health ok (the built-in encoder agent connected)")
        commands, http = using_it_blocks()
        _run_commands(commands, home)
        _run_http(http.replace("127.0.0.1:8282", f"127.0.0.1:{port}"), home)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        out, _ = make.communicate(timeout=60)
    assert (home / ".local" / "state" / "annexd" / "annexd.db").exists(), out[-2000:]


def _run_commands(block: str, home: Path) -> None:
    lines = [line for line in block.splitlines() if line.strip()]
    outputs = []
    for line in lines:
        result = sh(line, home)
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        outputs.append(result.stdout)
    text = dict(zip(lines, outputs, strict=True))
    first, _, third = lines[:3]
    assert text[first].strip() == "request 1 created"
    assert "request 2 already holds this title: added S01E03" in text[third]
    listing = next(text[line] for line in lines if line.endswith("request list") or " request list " in line)
    assert "Blade Runner (1982)" in listing and "The Show" in listing
    watched = next(text[line] for line in lines if " request watch " in line)
    assert "CANCELLED" in watched and "1 of 1 item(s) done" in watched
    assert "configuration OK" in next(text[line] for line in lines if "check-config" in line)


def _run_http(block: str, home: Path) -> None:
    expected = [line.split("# -> ", 1)[1] for line in block.splitlines() if line.startswith("# -> ")]
    result = sh(block, home)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == expected
