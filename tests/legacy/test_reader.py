"""The legacy reader against real PostgreSQL: one read-only REPEATABLE READ snapshot, shape and "not an Annex
database" from the catalog, server-side batches, passwords from the DSN, PGPASSWORD or ~/.pgpass never shown."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from annexd.legacy.reader import LegacyReader, LegacyUnavailableError, NotAnnexDatabaseError, display_dsn
from store.models import utcnow
from tests.legacy import library
from tests.legacy.conftest import LEGACY_KEY
from tests.legacy.library import Library
from tests.servers.postgres import PGBIN, PostgresServer, _as_postgres, start_postgres
from tests.util import free_port

PASSWORD = "Legacy-Pw-0451"


def _execute(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def test_an_empty_database_is_not_an_annex_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.url(postgres_server.create_database())
    with pytest.raises(NotAnnexDatabaseError, match='"MediaRequest"'):
        LegacyReader(url)


def test_a_missing_column_is_named(fresh_legacy: tuple[str, Library]) -> None:
    url, _ = fresh_legacy
    _execute(url, 'ALTER TABLE "ProcessingItem" DROP COLUMN "stepContext"')
    with pytest.raises(NotAnnexDatabaseError) as exc:
        LegacyReader(url)
    assert exc.value.missing == ['"ProcessingItem"."stepContext"']


def test_an_unreachable_database_is_reported_without_the_password() -> None:
    dsn = f"postgresql://annex:{PASSWORD}@127.0.0.1:{free_port()}/annex"
    with pytest.raises(LegacyUnavailableError) as exc:
        LegacyReader(dsn, connect_timeout=2)
    assert PASSWORD not in str(exc.value) and "127.0.0.1" in str(exc.value)
    assert PASSWORD not in display_dsn(dsn) and "user=annex" in display_dsn(dsn)


def test_the_read_is_one_read_only_repeatable_read_snapshot(legacy: tuple[str, Library]) -> None:
    url, lib = legacy
    with LegacyReader(url) as reader:
        conn = reader._conn
        with conn.cursor() as cur:
            cur.execute("SHOW transaction_isolation")
            assert cur.fetchone() == ("repeatable read",)
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute('DELETE FROM "Setting"')


def test_rows_written_after_the_snapshot_are_not_seen(fresh_legacy: tuple[str, Library]) -> None:
    url, lib = fresh_legacy
    with LegacyReader(url) as reader:
        before = sum(1 for _ in reader.requests())
        _execute(url, """INSERT INTO "MediaRequest" (id, type, title, "updatedAt", "tmdbId")
                          VALUES ('late', 'MOVIE', 'Late', now(), 777)""")
        assert sum(1 for _ in reader.work_rows()) > 0
        assert sum(1 for _ in reader.requests()) == before
    with LegacyReader(url) as reader:
        assert sum(1 for _ in reader.requests()) == before + 1


def test_work_rows_stream_in_batches_through_a_server_side_cursor(legacy: tuple[str, Library]) -> None:
    url, _ = legacy
    with LegacyReader(url, batch_size=3) as reader:
        rows = reader.work_rows()
        first = next(rows)
        with reader._conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE 'annexd_import_%'")
            assert cur.fetchone() == (1,)
        rest = list(rows)
    keys = [(r.group_key, r.season, r.episode) for r in [first, *rest]]
    assert keys == sorted(keys) and len(keys) > 3


def test_the_shape_decides_which_tables_are_read(legacy: tuple[str, Library]) -> None:
    url, lib = legacy
    with LegacyReader(url) as reader:
        sources = {r.source for r in reader.work_rows()}
        clients = reader.download_clients()
    assert sources == ({"ProcessingItem", "TvEpisode"} if lib.shape == "dual" else {"ProcessingItem"})
    assert [c.name for c in clients] == ([] if lib.shape == "dual" else ["Main qBit", "Usenet"])


# --- passwords: a cluster that asks for them ---------------------------------------------------------------
@pytest.fixture(scope="module")
def password_server() -> Iterator[PostgresServer]:
    """A PostgreSQL whose role "annex" logs in with a SCRAM password (the session's server trusts everyone)."""
    server = start_postgres()
    try:
        (server.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all annex 127.0.0.1/32 scram-sha-256\n")
        _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(server.data), "reload"])
        _execute(server.url(), f"CREATE ROLE annex LOGIN PASSWORD '{PASSWORD}'")
        _execute(server.url(), "CREATE DATABASE annex OWNER annex")
        library.create(server.url("annex"), "later", utcnow(), LEGACY_KEY)
        yield server
    finally:
        server.destroy()


def _reads(dsn: str) -> str:
    with LegacyReader(dsn, connect_timeout=5) as reader:
        return reader.shape


def test_the_password_can_come_from_the_url(password_server: PostgresServer) -> None:
    assert _reads(f"postgresql://annex:{PASSWORD}@127.0.0.1:{password_server.port}/annex") == "later"


def test_a_wrong_password_is_refused_without_showing_it(password_server: PostgresServer) -> None:
    with pytest.raises(LegacyUnavailableError) as exc:
        _reads(f"host=127.0.0.1 port={password_server.port} dbname=annex user=annex password=Wrong-Pw-99")
    assert "Wrong-Pw-99" not in str(exc.value) and "password authentication failed" in str(exc.value)


def test_the_password_can_come_from_pgpassword(password_server: PostgresServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = f"host=127.0.0.1 port={password_server.port} dbname=annex user=annex"
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(LegacyUnavailableError):
        _reads(dsn)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert _reads(dsn) == "later"


def test_the_password_can_come_from_a_pgpass_file(password_server: PostgresServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{password_server.port}:annex:annex:{PASSWORD}\n")
    os.chmod(pgpass, 0o600)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # libpq reads ~/.pgpass
    monkeypatch.delenv("PGPASSFILE", raising=False)
    assert _reads(f"postgresql://annex@127.0.0.1:{password_server.port}/annex") == "later"
