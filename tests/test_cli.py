"""The `annexd` command for people and scripts: tables by default and --json, `request watch`, exit codes as
documented (usage 2, config 3, pending migrations 4, unknown id 7), no database created by a command that
fails, and one validation for check-config and run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from annexd import cli
from annexd.exitcodes import ExitCode
from store import migrate
from store.db import open_database
from store.models import ProcessingItem
from tests.test_config import ISSUE_CONFIG as BAD


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path / "state"))
    for name in ("ANNEX_CONFIG", "ANNEX_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "state"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def migrated(state: Path) -> None:
    db = open_database(f"sqlite:///{state / 'annexd.db'}")
    with db.connection_context():
        migrate.apply_all(db)
    db.close_all()


@pytest.mark.parametrize("episode", ["1x01", "S01E01@2024-13-45", "S01"])
def test_a_bad_episode_is_a_usage_error(state, capsys, episode):
    with pytest.raises(SystemExit) as exc:
        cli.main(["request", "add", "The Show", "--episode", episode])
    assert exc.value.code == ExitCode.USAGE == 2
    assert "expected S01E02" in capsys.readouterr().err or episode == "S01"


def test_commands_on_a_missing_database_list_the_migrations_and_create_nothing(state, capsys):
    code, out, err = run(capsys, "status")
    assert code == ExitCode.PENDING_MIGRATIONS
    assert "001_create_core" in out and "040_add_request_title_key" in out and "annexd migrate" in err
    for argv in (["request", "add", "Dune"], ["request", "list"], ["secret", "list"], ["migrate", "--list"]):
        run(capsys, *argv)
    assert not (state / "annexd.db").exists() and not list(state.glob("annexd.db*"))
    code, out, _ = run(capsys, "request", "list")
    assert code == ExitCode.PENDING_MIGRATIONS


def test_status_lists_the_pending_migrations_of_an_older_database(state, capsys):
    migrated(state)
    db = open_database(f"sqlite:///{state / 'annexd.db'}")
    with db.connection_context():
        undone = migrate.rollback(db, 2)
    db.close_all()
    code, out, _ = run(capsys, "status", "--json")
    assert code == ExitCode.PENDING_MIGRATIONS
    assert json.loads(out)["pending_migrations"] == list(reversed(undone)) == migrate.all_names()[-2:]
    assert run(capsys, "request", "add", "Dune")[0] == ExitCode.PENDING_MIGRATIONS


def test_requests_as_tables_for_people_and_json_for_scripts(state, capsys):
    migrated(state)
    assert run(capsys, "request", "add", "Blade Runner", "--year", "1982")[1].strip() == "request 1 created"
    code, out, _ = run(capsys, "request", "add", "blade runner", "--year", "1982", "--json")
    assert code == 0 and json.loads(out) == {"id": 1, "created": False, "pending_approval": False,
                                             "added": {"episodes": [], "seasons": [], "targets": [], "monitor": None}}
    run(capsys, "request", "add", "The Show", "--episode", "S01E01", "--episode", "S01E02@2030-01-05")
    out = run(capsys, "request", "add", "The Show", "--episode", "S01E02", "--episode", "S01E03")[1]
    assert "request 2 already holds this title: added S01E03" in out
    out = run(capsys, "request", "add", "The Show", "--episode", "S01E03")[1]
    assert "nothing new: request 2" in out
    out = run(capsys, "request", "list")[1]
    assert "Blade Runner (1982)" in out and "The Show" in out and "PENDING" in out and "2 of 2 request" in out
    listed = json.loads(run(capsys, "request", "list", "--json")[1])
    assert listed["total"] == 2 and {r["title"] for r in listed["requests"]} == {"Blade Runner", "The Show"}
    out = run(capsys, "request", "show", "2")[1]
    assert "S01E02" in out and "AWAITING" in out and "not aired yet" in out and "search" in out
    shown = json.loads(run(capsys, "request", "show", "2", "--json")[1])
    assert [i["episode"] for i in shown["items"]] == [1, 2, 3]
    code, _, err = run(capsys, "request", "show", "99")
    assert code == ExitCode.NOT_FOUND and "request 99 not found" in err
    assert json.loads(run(capsys, "request", "cancel", "1", "--json")[1]) == {"id": 1, "cancelled_items": 1}
    assert "request 1: 0 item(s) cancelled" in run(capsys, "request", "cancel", "1")[1]
    out = run(capsys, "status")[1]
    assert "items by status" in out and "pending migrations" in out


def _finish_later(state: Path, request_id: int, delay: float) -> threading.Thread:
    """Moves the request's items on after ``delay``: one through DOWNLOADING to COMPLETED, the rest CANCELLED."""

    def move() -> None:
        db = open_database(f"sqlite:///{state / 'annexd.db'}")
        with db.connection_context():
            ids = [i.id for i in ProcessingItem.select().where(ProcessingItem.request == request_id)]
            time.sleep(delay)
            ProcessingItem.update(status="DOWNLOADING", progress=42.0).where(ProcessingItem.id == ids[0]).execute()
            time.sleep(delay)
            ProcessingItem.update(status="COMPLETED", progress=100.0).where(ProcessingItem.id == ids[0]).execute()
            ProcessingItem.update(status="CANCELLED").where(ProcessingItem.id.in_(ids[1:])).execute()

    thread = threading.Thread(target=move)
    thread.start()
    return thread


def test_watch_shows_each_item_until_the_request_is_done(state, capsys):
    migrated(state)
    run(capsys, "request", "add", "The Show", "--episode", "S01E01", "--episode", "S01E02")
    mover = _finish_later(state, 1, 0.3)
    code, out, _ = run(capsys, "request", "watch", "1", "--interval", "0.05", "--json")
    mover.join(10)
    frames = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(frames) >= 3
    seen = {(i["episode"], i["status"], i["progress"]) for f in frames for i in f["items"]}
    assert (1, "DOWNLOADING", 42.0) in seen
    assert [i["status"] for i in frames[-1]["items"]] == ["COMPLETED", "CANCELLED"]

    run(capsys, "request", "add", "Other Show", "--episode", "S01E01", "--episode", "S01E02")
    mover = _finish_later(state, 2, 0.2)
    code, out, _ = run(capsys, "request", "watch", "2", "--interval", "0.05")
    mover.join(10)
    assert code == 0 and "2 of 2 item(s) done" in out and "COMPLETED" in out and "100.0 %" in out
    assert "━" in out  # the progress bars
    assert run(capsys, "request", "watch", "42")[0] == ExitCode.NOT_FOUND


def _annexd(*argv: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annexd.cli", *argv], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **env}, input=stdin)


def test_check_config_and_run_list_every_problem_with_exit_3_and_no_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    env = {"ANNEX_STATE_DIR": str(tmp_path / "state")}
    for command in ("check-config", "run"):
        result = _annexd("--config", str(path), command, env=env)
        assert result.returncode == ExitCode.CONFIG, result.stderr
        assert "Traceback" not in result.stderr
        for needle in ("'notaurl' is not an http(s) URL", "'ftp://x' is not an http(s) URL",
                       "env:ANNEX_TEST_UNSET_VARIABLE: environment variable is not set",
                       "file:/nonexistent/qbt-password: cannot be read",
                       "secret: references not checked: the database"):
            assert needle in result.stderr, (command, needle, result.stderr)
    assert not (tmp_path / "state" / "annexd.db").exists()


def test_secret_references_are_looked_up_in_the_store(tmp_path):
    path = tmp_path / "annexd.toml"
    path.write_text(BAD.replace("notaurl", "http://127.0.0.1:9696/1").replace("ftp://x", "http://127.0.0.1:8080")
                    .replace("env:ANNEX_TEST_UNSET_VARIABLE", "literal-indexer-key").replace(
                        'password = "file:/nonexistent/qbt-password"\n', ""))
    env = {"ANNEX_STATE_DIR": str(tmp_path / "state")}
    assert _annexd("--config", str(path), "check-config", env=env).returncode == ExitCode.PENDING_MIGRATIONS
    assert _annexd("--config", str(path), "migrate", env=env).returncode == 0
    result = _annexd("--config", str(path), "check-config", env=env)
    assert result.returncode == ExitCode.CONFIG
    assert "media_servers[plex].token: secret:plex is not in the secret store (run `annexd secret set plex`)" in (
        result.stderr)
    assert _annexd("secret", "set", "plex", env=env, stdin="plex-token-0123\n").returncode == 0
    result = _annexd("--config", str(path), "check-config", env=env)
    assert result.returncode == 0 and "configuration OK" in result.stdout, result.stderr
    assert "plex-token-0123" not in result.stdout + result.stderr


def test_the_table_of_status_is_readable_without_a_terminal(state, capsys, monkeypatch):
    migrated(state)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["status"]) == 0
    text = sys.stdout.getvalue()
    assert "version" in text and "none" in text  # no pending migrations
