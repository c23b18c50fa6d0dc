"""A throwaway PostgreSQL cluster for the test session (initdb in a temp dir, loopback port, trust auth)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.servers import refuse_under_test_fast
from tests.util import free_port, wait_until

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


@dataclass
class PostgresServer:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                      "-w", "-t", "30", "-o", opts, "start"])
        wait_until(self.ready, timeout=30, what="postgres accepting connections")

    def stop(self, mode: str = "fast") -> None:
        _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        """Stop the server if it is up and remove its directory."""
        try:
            if self.ready():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def ready(self) -> bool:
        try:
            psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def create_database(self) -> str:
        name = f"annexd_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return name


def start_postgres() -> PostgresServer:
    refuse_under_test_fast("PostgreSQL")
    if not (PGBIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL binaries not found in {PGBIN}: run `make system-deps`")
    root = Path(tempfile.mkdtemp(prefix="annexd-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    _as_postgres([str(PGBIN / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync"])
    for attempt in range(3):  # the free-port probe can race another process; retry on a bind failure
        server = PostgresServer(root, free_port())
        try:
            server.start()
            return server
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], PostgresServer]]:
    """Start throwaway PostgreSQL servers of the test's own (to stop or restart them); destroyed afterwards."""
    started: list[PostgresServer] = []

    def start() -> PostgresServer:
        started.append(start_postgres())
        return started[-1]

    yield start
    for server in started:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.url(postgres_server.create_database())


# The PostgreSQL variant is an integration test; the SQLite one runs under `make test-fast` too.
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'annexd.db'}"
    return str(request.getfixturevalue("postgres_url"))


@contextlib.contextmanager
def migrated(url: str, max_connections: int = 8) -> Iterator[Any]:
    """An open, migrated database bound to the models; actors using it are stopped before it closes."""
    import pykka

    from store import migrate
    from store.db import open_database

    database = open_database(url, max_connections=max_connections, timeout=10)
    with database.connection_context():
        migrate.apply_all(database)
    try:
        yield database
    finally:
        pykka.ActorRegistry.stop_all()
        database.close_all()


@pytest.fixture
def db(database_url: str) -> Iterator[Any]:
    """An open, migrated database (SQLite and PostgreSQL), bound to the models."""
    with migrated(database_url) as database:
        yield database


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Any]:
    """An open, migrated PostgreSQL database, for the workers' end-to-end tests."""
    with migrated(postgres_url) as database:
        yield database
