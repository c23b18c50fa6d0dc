"""Annex's key file and AES-256-GCM secrets: key checks, every secret tried, failures listed, never printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annexd.legacy.secrets import (
    DecryptError,
    LegacyKeyError,
    LegacySecret,
    decrypt,
    decrypt_all,
    encrypt,
    load_key_file,
)

KEY = bytes(range(100, 132))
OTHER = bytes(32)


def _secret(name: str, value: str, key: bytes = KEY) -> LegacySecret:
    return LegacySecret(name, f"Setting {name}", encrypt(value, key, os.urandom(16)))


def test_the_key_file_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(LegacyKeyError, match="cannot be read"):
        load_key_file(tmp_path / "missing")
    with pytest.raises(LegacyKeyError, match="cannot be read"):
        load_key_file(tmp_path)  # a directory


@pytest.mark.parametrize("size", [0, 31, 33, 44, 64])
def test_the_key_file_must_hold_32_bytes(tmp_path: Path, size: int) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"k" * size)
    with pytest.raises(LegacyKeyError, match=f"holds {size} bytes"):
        load_key_file(path)


def test_annex_format_decrypts_with_the_right_key_only() -> None:
    value = encrypt("s3cret-value", KEY, os.urandom(16))
    iv, tag, ciphertext = value.split(":")
    assert len(iv) == len(tag) == 24  # base64 of 16 bytes
    assert decrypt(value, KEY).reveal() == "s3cret-value"
    with pytest.raises(DecryptError, match="does not decrypt"):
        decrypt(value, OTHER)


@pytest.mark.parametrize("value", ["", "abc", "a:b", "!!:??:**", "AAAA:AAAA:AAAA", "a:b:c:d"])
def test_malformed_values_are_refused_without_a_crash(value: str) -> None:
    with pytest.raises(DecryptError):
        decrypt(value, KEY)


def test_a_key_that_decrypts_none_of_the_secrets_stops_the_import() -> None:
    secrets = [_secret("a", "value-one", OTHER), _secret("b", "value-two", OTHER)]
    with pytest.raises(LegacyKeyError, match="none of the 2"):
        decrypt_all(secrets, KEY)


def test_secrets_that_fail_are_listed_and_the_rest_carried() -> None:
    outcome = decrypt_all([_secret("good", "value-one"), _secret("bad", "value-two", OTHER),
                           _secret("short", "abc")], KEY)
    assert [(n, v.reveal()) for n, v in outcome.carried] == [("good", "value-one")]
    assert {s.name: s.reason for s in outcome.skipped} == {
        "bad": "the stored value does not decrypt with this key",
        "short": "shorter than 4 characters: annexd cannot keep it out of its logs"}
    assert "value-one" not in repr(outcome)


def test_without_a_key_every_secret_is_listed_as_not_carried() -> None:
    outcome = decrypt_all([_secret("a", "value-one")], None)
    assert outcome.carried == () and outcome.skipped[0].reason == "no --key-file given"
    assert decrypt_all([], KEY).carried == ()  # no secrets at all: nothing to prove about the key
