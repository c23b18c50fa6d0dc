"""Legacy Annex databases of both shapes in the session's throwaway PostgreSQL, filled by tests/legacy/library."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from store.models import utcnow
from tests.legacy import library
from tests.legacy.library import Library
from tests.servers.postgres import PostgresServer

LEGACY_KEY = hashlib.sha256(b"annex legacy test key").digest()


@pytest.fixture(params=["dual", "later"])
def legacy(request: pytest.FixtureRequest, postgres_server: PostgresServer) -> tuple[str, Library]:
    """(DSN, library) of a freshly generated legacy database, once per shape."""
    url = postgres_server.url(postgres_server.create_database())
    return url, library.create(url, request.param, utcnow(), LEGACY_KEY)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / ".annex-key"
    path.write_bytes(LEGACY_KEY)
    path.chmod(0o600)
    return path
