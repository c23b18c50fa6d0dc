"""The whole pipeline end to end with real components (the same scenario as `make demo`)."""

from pathlib import Path

import pytest

from annexd.encoder.ffmpeg import probe
from tests import scenario


# The scenario starts its own PostgreSQL, qBittorrents, sshd, ffmpeg encodes and the daemon (tests/scenario.py).
@pytest.mark.integration
def test_movie_and_season_pack_flow_from_request_to_media_server(tmp_path):
    lines: list[str] = []
    result = scenario.run(tmp_path, say=lines.append, timeout=240)
    report = "\n".join(lines)
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
    # Secrets never reach the logs.
    log_text = "\n".join(str(e) for e in result["daemon_logs"])
    assert scenario.PLEX_TOKEN not in log_text and scenario.INDEXER_KEY not in log_text
    # Encoded intermediates were removed once every target had the file.
    assert not list((tmp_path / "state" / "encode").rglob("*.mkv"))
