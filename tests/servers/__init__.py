"""Real servers and programs for the integration tests, one pytest plugin module each (registered in
tests/conftest.py, where REAL_SERVER_FIXTURES lists the fixtures that mark a test `integration`).

Under `make test-fast` (ANNEXD_TEST_FAST=1) every starter here refuses, so a test that reaches a real server
without being marked `integration` fails loudly instead of needing the server.
"""

from __future__ import annotations

import os

import pytest

TEST_FAST_ENV = "ANNEXD_TEST_FAST"


def refuse_under_test_fast(what: str) -> None:
    """Fail the test when the fast, server-free run reaches a real server or program."""
    if os.environ.get(TEST_FAST_ENV):
        pytest.fail(f"{what} was started under `make test-fast`: the test uses a real server but is not marked "
                    "`integration` (request the server's fixture; see REAL_SERVER_FIXTURES in tests/conftest.py)",
                    pytrace=False)
