"""schemathesis against the OpenAPI document of a running daemon: no server errors, responses conform."""

import subprocess
import sys
from pathlib import Path

from tests.servers.annexd import API_KEY


def test_schemathesis_finds_no_server_errors(tmp_path, daemon_factory):
    daemon = daemon_factory(tmp_path / "state").start()
    try:
        st = Path(sys.executable).with_name("st")
        result = subprocess.run(
            [str(st), "run", f"{daemon.url}/api/v1/openapi.json", "--checks",
             "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
             "-H", f"X-Api-Key: {API_KEY}", "--max-examples", "40", "--workers", "1",
             "--phases", "examples,coverage,fuzzing", "--no-color", "--seed", "1"],
            capture_output=True, text=True, timeout=600,
        )
        report = result.stdout[-4000:] + result.stderr[-2000:]
        assert result.returncode == 0, report
        assert "passed" in result.stdout.lower(), report
        code, _ = daemon.get("/health")
        assert code == 200
    finally:
        daemon.stop()
    tracebacks = [e for e in daemon.logs() if e.get("event") == "http_handler_failed"]
    assert not tracebacks, tracebacks[:3]
