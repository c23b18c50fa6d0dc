"""`annexd item retry ID [--from search]` and `annexd item show ID` on a SQLite state directory."""

import json

from annexd import cli
from annexd.exitcodes import ExitCode
from store import migrate
from store.db import open_database
from store.models import ProcessingItem


def _json(out: str):
    """The JSON document the command printed (from its first line that opens one: a log line a thread of an
    earlier test may print into the captured stdout is skipped)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads("\n".join(lines[start:]))


def test_item_retry_resumes_where_it_failed_or_from_the_search(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("ANNEX_DATABASE_URL", raising=False)
    db = open_database(f"sqlite:///{tmp_path / 'annexd.db'}")
    with db.connection_context():
        migrate.apply_all(db)
    assert cli.main(["request", "add", "Film", "--year", "2020"]) == ExitCode.OK
    source = tmp_path / "Film.2020.mkv"
    source.write_bytes(b"x")
    with db.connection_context():
        ProcessingItem.update(status="FAILED", failed_stage="encode", source_file_path=str(source)).execute()
    capsys.readouterr()
    assert cli.main(["item", "retry", "1", "--json"]) == ExitCode.OK
    assert _json(capsys.readouterr().out) == {"id": 1, "status": "DOWNLOADED", "resumed_at": "encode"}
    assert cli.main(["item", "retry", "1"]) == ExitCode.FAILURE  # no longer FAILED
    assert "only FAILED items" in capsys.readouterr().err
    with db.connection_context():
        ProcessingItem.update(status="FAILED", failed_stage="encode").execute()
    assert cli.main(["item", "retry", "1", "--from", "search", "--json"]) == ExitCode.OK
    assert _json(capsys.readouterr().out)["resumed_at"] == "search"
    assert cli.main(["item", "show", "1"]) == ExitCode.OK
    assert "PENDING" in capsys.readouterr().out  # a table for people
    assert cli.main(["item", "show", "1", "--json"]) == ExitCode.OK
    shown = _json(capsys.readouterr().out)
    assert shown["status"] == "PENDING" and shown["source_file_path"] is None
    assert cli.main(["item", "retry", "99"]) == ExitCode.NOT_FOUND
    db.close_all()
