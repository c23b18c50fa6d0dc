"""`import-annex --dry-run [--json]` against both legacy shapes in real PostgreSQL: the report a person reads,
exit codes 9 and 10, and a legacy database left exactly as it was."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from annexd.exitcodes import ExitCode
from annexd.legacy import command
from tests.legacy.library import PLEX_URL_TOKEN, RELEASE_CREDENTIALS, SECRETS, Library
from tests.servers.postgres import PostgresServer
from tests.util import free_port


@pytest.fixture(autouse=True)
def annexd_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("ANNEX_CONFIG", raising=False)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return command.main(list(args), out=out), out.getvalue()


def _fingerprint(url: str) -> dict[str, str]:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [t for (t,) in cur.fetchall()]
        out = {}
        for table in tables:
            cur.execute(f'SELECT md5(coalesce(string_agg(t::text, \',\' ORDER BY t::text), \'\')) FROM "{table}" t')
            out[table] = cur.fetchone()[0]
    conn.close()
    return out


def test_the_json_report_says_what_the_import_would_do(legacy: tuple[str, Library], key_file: Path) -> None:
    url, lib = legacy
    before = _fingerprint(url)
    code, out = run("--from", url, "--key-file", str(key_file), "--dry-run", "--json")
    assert code == ExitCode.OK, out
    report = json.loads(out)
    assert set(report) == {"dry_run", "shape", "requests", "items", "conflicts", "files_unknown", "secrets",
                           "config_disabled"}
    assert report["dry_run"] is True and report["shape"] == lib.shape
    assert report["requests"] == {"created": len(lib.requests),
                                  "merged": sum(len(labels) - 1 for labels in lib.requests.values())}
    statuses = Counter(e.status for e in lib.expect) + Counter({"PENDING": 1})  # + the movie without items
    assert report["items"] == dict(statuses)
    conflicts = {(c["winner"], c["season"], c["episode"]) for c in report["conflicts"]}
    assert conflicts == {(lib.id(e.conflict_winner or ""), *_episode(e.legacy, report, lib)) for e in lib.expect
                         if e.conflict}
    assert all(set(c) >= {"legacy_ids", "season", "episode", "winner"} for c in report["conflicts"])
    assert len(report["files_unknown"]) == sum(e.file_unknown for e in lib.expect)
    assert sorted(report["secrets"]["skipped"], key=lambda s: s["name"]) == [
        {"name": "media-server-local-disk-emby", "source": 'StorageServer "Local Disk".mediaServerApiKey',
         "reason": "the stored value does not decrypt with this key"},
        {"name": "target-windows-share-password", "source": 'StorageServer "Windows Share".encryptedPassword',
         "reason": "shorter than 4 characters: annexd cannot keep it out of its logs"}]
    assert len(report["secrets"]["carried"]) == 7
    assert {d["entry"] for d in report["config_disabled"]} >= {"targets.seedbox", "targets.windows-share",
                                                                "indexers.nzbgeek", "media_servers.local-disk-emby"}
    leaked = [v for v in (*SECRETS.values(), *RELEASE_CREDENTIALS, PLEX_URL_TOKEN) if len(v) >= 4 and v in out]
    assert not leaked
    assert _fingerprint(url) == before  # read only, never written


def _episode(label: str, report: dict[str, Any], lib: Library) -> tuple[int, int]:
    for c in report["conflicts"]:
        if lib.id(label) in c["legacy_ids"]:
            return c["season"], c["episode"]
    raise AssertionError(f"no conflict lists {label}")


def test_the_text_report_is_readable(legacy: tuple[str, Library], key_file: Path) -> None:
    url, lib = legacy
    code, out = run("--from", url, "--key-file", str(key_file), "--dry-run")
    assert code == ExitCode.OK
    assert out.startswith(f"Annex database ({lib.shape} shape): dry run, nothing written\n")
    assert "Conflicts, and how each was decided (" in out and f"{lib.id('m_dup_b')} wins" in out
    assert "Items whose files are unknown (" in out and "contains '..'" in out
    assert "Secrets not carried (2):" in out and "Config entries written disabled (" in out


def test_without_a_key_file_the_secrets_are_listed_as_not_carried(legacy: tuple[str, Library]) -> None:
    url, _ = legacy
    code, out = run("--from", url, "--dry-run", "--json")
    report = json.loads(out)
    assert code == ExitCode.OK and report["secrets"]["carried"] == []
    assert {s["reason"] for s in report["secrets"]["skipped"]} == {"no --key-file given"}
    assert "targets.nas-rsync" in {d["entry"] for d in report["config_disabled"]}  # its key was not carried


def test_a_key_file_of_the_wrong_size_exits_10(legacy: tuple[str, Library], tmp_path: Path) -> None:
    url, _ = legacy
    key = tmp_path / "key"
    key.write_bytes(b"x" * 31)
    assert run("--from", url, "--key-file", str(key), "--dry-run")[0] == ExitCode.LEGACY_KEY == 10
    assert run("--from", url, "--key-file", str(tmp_path / "missing"), "--dry-run")[0] == 10


def test_a_key_that_decrypts_no_secret_exits_10(legacy: tuple[str, Library], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = legacy
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    assert run("--from", url, "--key-file", str(key), "--dry-run")[0] == 10
    assert "decrypts none of the 9 legacy secrets" in capsys.readouterr().err


def test_an_unreachable_or_foreign_database_exits_9(postgres_server: PostgresServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("--from", f"postgresql://annex:pw-9931@127.0.0.1:{free_port()}/annex", "--dry-run")
    assert code == ExitCode.LEGACY_DATABASE == 9 and "pw-9931" not in capsys.readouterr().err
    empty = postgres_server.url(postgres_server.create_database())
    assert run("--from", empty, "--dry-run")[0] == 9
    assert "not an Annex database" in capsys.readouterr().err


def test_write_config_is_refused_with_a_dry_run_and_nothing_is_written(legacy: tuple[str, Library],
                                                                        tmp_path: Path) -> None:
    assert run("--from", legacy[0], "--dry-run", "--write-config", str(tmp_path / "a.toml"))[0] == ExitCode.USAGE
    assert not (tmp_path / "a.toml").exists()


def test_writing_into_a_database_that_was_never_migrated_exits_4(legacy: tuple[str, Library],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--from", legacy[0])[0] == ExitCode.PENDING_MIGRATIONS
    assert "annexd migrate" in capsys.readouterr().err


@pytest.mark.parametrize("shape", ["dual", "later"])
def test_a_bulk_generated_library_plans_one_item_per_episode(postgres_server: PostgresServer, shape: str) -> None:
    from tests.legacy.library import fill_bulk

    url = postgres_server.url(postgres_server.create_database())
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        expected = fill_bulk(cur, shape, shows=3, episodes=5)  # type: ignore[arg-type]
    conn.close()
    code, out = run("--from", url, "--dry-run", "--json")
    report = json.loads(out)
    assert code == 0 and sum(report["items"].values()) == expected == 15 and report["requests"]["created"] == 3
    assert "BULKKEY" not in out and (report["conflicts"] != []) == (shape == "dual")
