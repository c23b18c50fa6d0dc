"""The whole pipeline end to end with real components (the same scenario as `make demo`), run once for this
module; then what it left behind is searched for every configured secret."""

import http.cookiejar
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from annexd.encoder.ffmpeg import probe
from tests import scenario
from tests.servers.annexd import API_KEY
from tests.servers.postgres import PGBIN


def api_answers(daemon: Any) -> dict[str, str]:
    """Every GET the API serves, for every request and item there is (answers as text)."""
    answers: dict[str, str] = {}

    def get(path: str) -> Any:
        code, body = daemon.get(path)
        assert code == 200, (path, code, body)
        answers[path] = str(body)
        return body

    for path in ("/health", "/metrics", "/api/v1/openapi.json", "/api/v1/status", "/api/v1/encoders"):
        get(path)
    for request in get("/api/v1/requests?per_page=200")["requests"]:
        rid = request["id"]
        get(f"/api/v1/requests/{rid}")
        get(f"/api/v1/requests/{rid}/episodes")
        for item in get(f"/api/v1/requests/{rid}/items")["items"]:
            get(f"/api/v1/items/{item['id']}")
    answers["/ (after the form)"] = status_page(daemon.url)
    return answers


def status_page(url: str) -> str:
    """The status page as a browser gets it: the form, the key once, then the session cookie."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = urllib.parse.urlencode({"key": API_KEY}).encode()
    with opener.open(urllib.request.Request(url + "/login", data=form), timeout=10) as resp:  # follows the 303
        html = resp.read().decode()
    assert "<h2>Requests" in html
    return html


def pg_dump(s: scenario.Scenario) -> str:
    dump = subprocess.run([str(PGBIN / "pg_dump"), "-h", "127.0.0.1", "-p", str(s.pg.port), "-U", "postgres",
                           "--no-owner", s.database], capture_output=True, text=True, timeout=60, check=True)
    assert "COPY public.processing_item" in dump.stdout
    return dump.stdout


def inspect(s: scenario.Scenario) -> dict[str, Any]:
    token = (s.daemon.state_dir / "local-encoder.token").read_text().strip()
    return {"answers": api_answers(s.daemon), "dump": pg_dump(s), "encoder_token": token}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    lines: list[str] = []
    result = scenario.run(tmp_path_factory.mktemp("demo"), say=lines.append, timeout=240, inspect=inspect)
    return result, "\n".join(lines)


# The scenario starts its own PostgreSQL, qBittorrents, sshd, ffmpeg encodes and the daemon (tests/scenario.py).
@pytest.mark.integration
def test_movie_and_season_pack_flow_from_request_to_media_server(demo):
    result, report = demo
    items = result["items"]
    assert len(items) == 4 and all(i["status"] == "COMPLETED" for i in items), report
    assert result["exit_code"] == 0, report
    for item in items:
        landed = {d["target"]: Path(d["remote_path"]) for d in item["deliveries"]}
        assert set(landed) == {"library", "nas"}, report
        assert all(p.is_file() and p.stat().st_size > 0 for p in landed.values()), report
        # Each target got the encode of its own profile (once per distinct profile), named from the real file.
        assert (probe(landed["library"]).video_codec, probe(landed["nas"]).video_codec) == ("h264", "hevc")
        assert "H264" in landed["library"].name and "HEVC" in landed["nas"].name
    names = sorted(Path(d["remote_path"]).name for i in items for d in i["deliveries"] if d["target"] == "library")
    assert names == [
        "Big Buck Demo (2024) [480p H264].mkv",
        "Demo Show - S01E01 - Episode 1 [480p H264].mkv",
        "Demo Show - S01E02 - Episode 2 [480p H264].mkv",
        "Demo Show - S01E03 - Episode 3 [480p H264].mkv",
    ], report
    # Plex was asked to rescan the folders that changed, path-scoped, with its token in a header only.
    assert result["plex"], report
    # Encoded intermediates were removed once every target had the file.
    assert not list((result["root"] / "state" / "encode").rglob("*.mkv"))


@pytest.mark.integration
def test_no_configured_secret_in_the_database_the_logs_or_any_answer(demo):
    """The indexer's links carried its key (fetched with it at grab time, or the download would have failed);
    the Plex token, the API key and the local encoder's token were in use throughout."""
    result, report = demo
    assert all(i["status"] == "COMPLETED" for i in result["items"]), report
    inspected = result["inspected"]
    secrets = {"indexer key": scenario.INDEXER_KEY, "plex token": scenario.PLEX_TOKEN, "api key": API_KEY,
               "encoder token": inspected["encoder_token"]}
    places = {"database dump": inspected["dump"], "daemon log": result["log_text"], **inspected["answers"]}
    assert len(inspected["answers"]) > 10
    leaks = [(secret, place) for secret, value in secrets.items() for place, text in places.items() if value in text]
    assert not leaks, leaks
    assert "credentials_removed" in inspected["dump"]  # the links were stored, without their key
