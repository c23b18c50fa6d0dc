"""The domain stays pure: importing any annexd.domain module (in a fresh interpreter) loads no I/O library."""

from __future__ import annotations

import pkgutil

import pytest

import annexd.domain
from tests.util import loaded_after_import

IO_LIBRARIES = ("requests", "urllib3", "peewee", "psycopg2", "pykka", "aiohttp", "cryptography",
                "prometheus_client", "structlog")
DOMAIN_MODULES = sorted(m.name for m in pkgutil.walk_packages(annexd.domain.__path__, "annexd.domain."))


def test_every_domain_module_is_checked() -> None:
    assert {"annexd.domain.pipeline", "annexd.domain.releases", "annexd.domain.filemap",
            "annexd.domain.announce.lineparse"} <= set(DOMAIN_MODULES)


@pytest.mark.parametrize("module", ["annexd.domain", *DOMAIN_MODULES])
def test_domain_module_loads_no_io_library(module: str) -> None:
    assert loaded_after_import(module, IO_LIBRARIES) == []


def test_the_check_can_fail() -> None:
    assert set(loaded_after_import("annexd.clients.qbittorrent", IO_LIBRARIES)) >= {"requests", "structlog"}
