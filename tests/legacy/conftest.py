"""Legacy Annex databases of both shapes in the session's throwaway PostgreSQL, filled by tests/legacy/library.
The import only reads them, so one database per shape serves the session; tests that write get their own."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from store.models import utcnow
from tests.legacy import library
from tests.legacy.library import Library
from tests.servers.postgres import PostgresServer

LEGACY_KEY = hashlib.sha256(b"annex legacy test key").digest()


def new_legacy(server: PostgresServer, shape: library.Shape) -> tuple[str, Library]:
    url = server.url(server.create_database())
    return url, library.create(url, shape, utcnow(), LEGACY_KEY)


@pytest.fixture(scope="session", params=["dual", "later"])
def legacy(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> tuple[str, Library]:
    """(DSN, library) of a generated legacy database, once per shape for the session (never written)."""
    return new_legacy(postgres_server, request.param)


@pytest.fixture(params=["dual", "later"])
def fresh_legacy(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> tuple[str, Library]:
    """A legacy database of its own, for a test that writes to it."""
    return new_legacy(postgres_server, request.param)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / ".annex-key"
    path.write_bytes(LEGACY_KEY)
    path.chmod(0o600)
    return path
