"""`annexd import-annex` writing into annexd's own database, SQLite and PostgreSQL, from legacy databases of both
shapes in real PostgreSQL: what a person then sees through the HTTP API, a second run that changes nothing, an
item annexd moved that a re-run leaves alone, a request annexd already had for the title, the written config
accepted by check-config, and no plaintext secret anywhere in annexd's database."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from actors.context import ActorContext
from annexd import cli
from annexd.config import HttpConfig, load_config
from annexd.domain.pipeline import Event, ProcessingStatus
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.exitcodes import ExitCode
from annexd.http.app import HttpDeps, make_app
from annexd.legacy import command
from store import queries
from store.models import utcnow
from tests.legacy.conftest import new_legacy
from tests.legacy.library import PLEX_URL_TOKEN, RELEASE_CREDENTIALS, SECRETS, Expect, Library
from tests.servers.postgres import PostgresServer, migrated

KEY = "import-test-key-0123"
AUTH = {"X-Api-Key": KEY}


@pytest.fixture
def annexd_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """annexd's state dir and (migrated) database, as the command finds them: from the environment."""
    monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ANNEX_DATABASE_URL", database_url)
    monkeypatch.delenv("ANNEX_CONFIG", raising=False)
    with migrated(database_url):
        pass
    return database_url


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return command.main(list(args), out=out), out.getvalue()


def import_json(url: str, key_file: Path, *extra: str) -> dict[str, Any]:
    code, out = run("--from", url, "--key-file", str(key_file), "--json", *extra)
    assert code == ExitCode.OK, out
    return dict(json.loads(out))


@pytest.fixture
def annexd_db(annexd_env: str) -> Iterator[Any]:
    """annexd's database, opened again after an import (the command closes its own)."""
    def open_() -> Any:
        return migrated(annexd_env)
    yield open_


async def api(aiohttp_client: Any, db: Any) -> Any:
    config = replace(load_config(None), http=replace(HttpConfig(), api_key=KEY))
    return await aiohttp_client(make_app(HttpDeps(ctx=ActorContext(db=db, config=config))))


async def get(client: Any, path: str) -> Any:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def seen_by_a_person(client: Any) -> dict[str, Any]:
    """Every request and its items as the API shows them, items keyed by legacy id."""
    listing = await get(client, "/api/v1/requests?per_page=200")
    requests = {r["title"]: r for r in listing["requests"]}
    items: dict[str, dict[str, Any]] = {}
    for r in listing["requests"]:
        for item in (await get(client, f"/api/v1/requests/{r['id']}/items"))["items"]:
            items[item["legacy_id"] or f"new:{r['title']}"] = item
    return {"requests": requests, "items": items}


def _iso(value: Any) -> str:
    return value.isoformat(timespec="milliseconds") + "Z"


def check_item(item: dict[str, Any], e: Expect, lib: Library) -> None:
    assert item["status"] == e.status, e
    if e.download:
        assert item["download_hash"] == lib.hashes[e.download], e
    elif e.status in ("PENDING", "AWAITING", "QUALITY_UNAVAILABLE"):
        assert item["download_hash"] is None, e
    if e.source:
        assert item["source_file_path"] == e.source, e
    if e.due:  # some are due relative to the import's "now", a little after the library's
        due = datetime.fromisoformat(item["next_retry_at"].removesuffix("Z"))
        assert e.due <= due <= e.due + (utcnow() - lib.now), e
    if e.error:
        assert item["error"] == e.error, e
    assert item["attempts"] == 0
    for key, value in e.extra.items():
        if key == "alternatives":
            assert len(item["available_releases"]) == value
        elif key == "release":
            assert item["release"] == value
        else:
            assert item[key] == _iso(value), (e, key)


async def test_a_person_sees_every_legacy_request_and_item(legacy: tuple[str, Library], key_file: Path,
                                                          annexd_db: Any, aiohttp_client: Any) -> None:
    url, lib = legacy
    report = import_json(url, key_file)
    assert report["dry_run"] is False
    total = len(lib.expect) + 1  # + the movie request without items
    assert report["written"]["items_added"] == total and report["written"]["items_kept"] == 0
    assert report["written"]["requests"] == {"created": len(lib.requests), "merged": 0, "known": 0}
    with annexd_db() as db:
        seen = await seen_by_a_person(await api(aiohttp_client, db))
    for e in lib.expect:
        check_item(seen["items"][lib.id(e.legacy)], e, lib)
    assert len(seen["items"]) == total
    show = seen["requests"]["The Show"]
    assert show["legacy_id"] == lib.id("req_show")
    assert show["legacy_ids"] == [lib.id("req_show"), lib.id("req_show_bob")]
    assert show["requested_by"] == "alice"
    assert set(show["targets"]) == {"nas-rsync", "local-disk"}
    twice = seen["requests"]["Twice Asked"]
    assert twice["legacy_ids"] == [lib.id("req_dup_a"), lib.id("req_dup_b")] and twice["status"] == "COMPLETED"
    assert seen["items"]["new:No Item Movie"]["legacy_id"] is None
    assert seen["items"]["new:No Item Movie"]["status"] == "PENDING"


def _rows(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("media_request", "processing_item", "download", "secret", "users")
    return {t: sorted(map(tuple, db.execute_sql(f"SELECT * FROM {t}").fetchall()), key=repr) for t in tables}


def test_a_second_run_changes_nothing(legacy: tuple[str, Library], key_file: Path, annexd_db: Any,
                                      tmp_path: Path) -> None:
    url, lib = legacy
    import_json(url, key_file)
    with annexd_db() as db:
        before = _rows(db)
    again = import_json(url, key_file)
    assert again["written"]["items_added"] == 0
    assert again["written"]["requests"] == {"created": 0, "merged": 0, "known": len(lib.requests)}
    assert again["written"]["secrets_stored"] == [] and len(again["written"]["secrets_kept"]) == 7
    with annexd_db() as db:
        assert _rows(db) == before


def test_a_rerun_adds_what_is_new_and_never_sets_back_what_annexd_moved(
        postgres_server: PostgresServer, key_file: Path, annexd_db: Any) -> None:
    url, lib = new_legacy(postgres_server, "later")
    import_json(url, key_file)
    with annexd_db() as db, db.connection_context():
        item = next(i for r in [queries.request_for_title(RequestSpec(kind="tv", title="The Show", tmdb_id=9001))]
                    for i in queries.request_items(r.id) if i.legacy_id == lib.id("e7_bob"))
        assert queries.apply_transition(item.id, ProcessingStatus.PENDING, Event.CANCEL, utcnow())
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:  # Annex goes on meanwhile: a new episode, and the moved one changes there
        cur.execute("""INSERT INTO "ProcessingItem" (id, "requestId", type, title, season, episode, status,
                       "createdAt", "updatedAt") VALUES ('new-e20', %s, 'EPISODE', 'Twenty', 1, 20, 'PENDING',
                       now(), now())""", (lib.id("req_show"),))
        cur.execute("""UPDATE "ProcessingItem" SET status = 'COMPLETED', "updatedAt" = now() WHERE id = %s""",
                    (lib.id("e7_bob"),))
    conn.close()
    report = import_json(url, key_file)
    assert report["written"]["items_added"] == 1
    with annexd_db() as db, db.connection_context():
        req = queries.request_for_title(RequestSpec(kind="tv", title="The Show", tmdb_id=9001))
        items = {i.legacy_id: i for i in queries.request_items(req.id)}
        assert items[lib.id("e7_bob")].status == ProcessingStatus.CANCELLED
        assert items["new-e20"].status == ProcessingStatus.PENDING and items["new-e20"].episode == 20


def test_a_title_annexd_already_had_keeps_its_request_and_items(legacy: tuple[str, Library], key_file: Path,
                                                               annexd_db: Any) -> None:
    url, lib = legacy
    with annexd_db() as db, db.connection_context():
        spec = RequestSpec(kind="tv", title="The Show", tmdb_id=9001, requested_by="admin",
                           episodes=(EpisodeSpec(1, 1, "Pilot"), EpisodeSpec(1, 99, "Ninety-nine")))
        own = queries.submit_request(spec, utcnow()).request_id
        mine = {(i.season, i.episode): i for i in queries.request_items(own)}
        assert queries.apply_transition(mine[1, 1].id, ProcessingStatus.PENDING, Event.CANCEL, utcnow())
    report = import_json(url, key_file)
    assert report["written"]["requests"] == {"created": len(lib.requests) - 1, "merged": 1, "known": 0}
    assert report["written"]["items_kept"] == 1  # S01E01: annexd's own item stays as annexd has it
    with annexd_db() as db, db.connection_context():
        req = queries.get_request(own)
        assert req.legacy_ids == [lib.id("req_show"), lib.id("req_show_bob")]
        assert req.legacy_id == lib.id("req_show") and req.requested_by == "admin"
        assert queries.request_for_title(spec).id == own
        items = {(i.season, i.episode): i for i in queries.request_items(own)}
        assert items[1, 1].status == ProcessingStatus.CANCELLED and items[1, 1].legacy_id is None
        assert items[1, 99].legacy_id is None and items[1, 2].legacy_id == lib.id("e2_pi")


def test_the_written_config_checks_and_no_plaintext_secret_is_stored(
        legacy: tuple[str, Library], key_file: Path, annexd_env: str, tmp_path: Path) -> None:
    url, lib = legacy
    path = tmp_path / "annexd.toml"
    report = import_json(url, key_file, "--write-config", str(path))
    assert len(report["written"]["secrets_stored"]) == 7
    assert cli.main(["--config", str(path), "check-config"]) == ExitCode.OK
    dump = _dump(annexd_env)
    text = path.read_text()
    plaintexts = [v for v in (*SECRETS.values(), *RELEASE_CREDENTIALS, PLEX_URL_TOKEN) if len(v) >= 4]
    assert [v for v in plaintexts if v in dump] == []
    assert [v for v in plaintexts if v in text] == []
    assert lib.id("req_show") in dump  # the dump holds the imported rows


def _dump(database_url: str) -> str:
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url[len("sqlite:///"):])
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()
    return subprocess.run(["pg_dump", "--data-only", database_url], check=True, capture_output=True,
                          text=True, env={**os.environ}).stdout


def test_a_key_that_decrypts_nothing_writes_nothing(legacy: tuple[str, Library], tmp_path: Path,
                                                    annexd_db: Any) -> None:
    url, _ = legacy
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(bytes(32))
    code, _ = run("--from", url, "--key-file", str(wrong))
    assert code == ExitCode.LEGACY_KEY
    with annexd_db() as db:
        assert db.execute_sql("SELECT count(*) FROM media_request").fetchone()[0] == 0
        assert db.execute_sql("SELECT count(*) FROM secret").fetchone()[0] == 0


def test_the_annexd_command_runs_it(legacy: tuple[str, Library], key_file: Path, annexd_env: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url, lib = legacy
    assert cli.main(["import-annex", "--from", url, "--key-file", str(key_file)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"Requests: {len(lib.requests)}" in out and "Written:" in out
    assert cli.main(["import-annex", "--from", url + "-missing", "--dry-run"]) == ExitCode.LEGACY_DATABASE


async def test_a_request_pending_in_annexs_approval_queue_waits_for_an_admin(
        postgres_server: PostgresServer, key_file: Path, annexd_db: Any, aiohttp_client: Any) -> None:
    url, lib = new_legacy(postgres_server, "later")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO "ApprovalQueue" (id, "requestId", status) VALUES ('aq1', %s, 'PENDING')""",
                    (lib.id("req_m_pending"),))
    conn.close()
    import_json(url, key_file)
    with annexd_db() as db:
        client = await api(aiohttp_client, db)
        seen = await seen_by_a_person(client)
        item = seen["items"][lib.id("m_pending")]
        assert item["status"] == "PENDING_APPROVAL"
        request = seen["requests"]["M Pending"]
        assert request["status"] == "PENDING_APPROVAL" and request["requested_by"] == "alice"
        resp = await client.post(f"/api/v1/requests/{request['id']}/approve", json={}, headers=AUTH)
        assert resp.status == 200, await resp.text()
        assert (await get(client, f"/api/v1/items/{item['id']}"))["status"] == "PENDING"
        with db.connection_context():
            user = queries.get_user("alice")  # made for the name: disabled, without a key
            assert user.enabled is False and user.key_hash is None


def test_two_legacy_titles_that_are_one_annexd_title_become_one_request(db: Any) -> None:
    """Annex grouped by lower-cased title; annexd's title key also ignores punctuation: the second legacy request
    of a batch merges into the request the first one created, and a later batch finds it too."""
    def planned(legacy_id: str, title: str, targets: list[str]) -> dict[str, Any]:
        return {"kind": "tv", "title": title, "year": 2005, "tmdb_id": None, "requested_seasons": [1],
                "targets": targets, "requested_by": "alice", "created_at": utcnow(), "updated_at": utcnow(),
                "legacy_id": legacy_id, "legacy_ids": [legacy_id]}

    index: dict[str, int] = {}
    with db.connection_context():
        first, second = queries.adopt_requests([planned("a1", "The Office", ["nas"]),
                                                planned("b1", "The Office!", ["local"])], index)
        later, = queries.adopt_requests([planned("c1", "the office", ["nas"])], index)
        assert (first.outcome, second.outcome, later.outcome) == ("created", "merged", "merged")
        assert first.request_id == second.request_id == later.request_id
        req = queries.get_request(first.request_id)
        assert (req.legacy_id, req.legacy_ids, req.targets) == ("a1", ["a1", "b1", "c1"], ["nas", "local"])
        assert queries.legacy_request_index() == {"a1": req.id, "b1": req.id, "c1": req.id} == index
        again, = queries.adopt_requests([planned("b1", "The Office!", ["local"])], queries.legacy_request_index())
        assert (again.request_id, again.outcome) == (req.id, "known")


def _imported(db: Any) -> set[tuple[Any, ...]]:
    """What an import made, without ids or times: (request's legacy ids, item, status, season, episode, hash)."""
    return set(map(tuple, db.execute_sql("""
        SELECT r.legacy_ids, r.status, i.legacy_id, i.status, i.season, i.episode, i.source_file_path,
               i.last_error, d.info_hash, d.state, d.owned
        FROM processing_item i JOIN media_request r ON r.id = i.request_id
        LEFT JOIN download d ON d.id = i.download_id""").fetchall()))


def test_worker_processes_import_what_one_process_does(legacy: tuple[str, Library], key_file: Path,
                                                        postgres_server: PostgresServer,
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--jobs 3: the titles split into ranges, each read in the main reader's snapshot by a process of its own."""
    url, lib = legacy
    made = []
    for jobs in ("1", "3"):
        target = postgres_server.url(postgres_server.create_database())
        monkeypatch.setenv("ANNEX_DATABASE_URL", target)
        monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path / jobs))
        with migrated(target):
            pass
        report = import_json(url, key_file, "--jobs", jobs)
        assert report["written"]["items_added"] == len(lib.expect) + 1
        with migrated(target) as db:
            made.append((_imported(db), sorted(json.dumps(c, sort_keys=True) for c in report["conflicts"]),
                         report["items"]))
    assert made[0] == made[1]


HOSTILE_ERROR = 'tab\there, newline\nthere, "quoted", comma, back\\slash \\N and \x01 and \u00e9\u4e2d'


async def test_hostile_legacy_text_arrives_exactly(postgres_server: PostgresServer, key_file: Path,
                                                   annexd_db: Any, aiohttp_client: Any) -> None:
    """Text COPY and CSV treat specially (the NULL marker \\N as a whole title, tabs, newlines, quotes,
    backslashes) and JSON with control and line-separator characters reach annexd as they were."""
    url, lib = new_legacy(postgres_server, "later")
    odd = [{"title": "Odd\tRelease\u2028S01E30 \\N", "downloadUrl": "http://x.example/d?id=1"}]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO "ProcessingItem" (id, "requestId", type, title, season, episode, status,
                       "lastError", "availableReleases", "createdAt", "updatedAt")
                       VALUES ('odd-e30', %s, 'EPISODE', %s, 1, 30, 'FAILED', %s, %s, now(), now())""",
                    (lib.id("req_show"), "\\N", HOSTILE_ERROR, json.dumps(odd)))
    conn.close()
    import_json(url, key_file)
    with annexd_db() as db:
        seen = await seen_by_a_person(await api(aiohttp_client, db))
    item = seen["items"]["odd-e30"]
    assert (item["title"], item["error"], item["status"]) == ("\\N", HOSTILE_ERROR, "FAILED")
    assert item["available_releases"][0]["title"] == "Odd\tRelease\u2028S01E30 \\N"
