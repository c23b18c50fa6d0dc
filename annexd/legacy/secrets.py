"""The legacy Annex secrets: its key file and AES-256-GCM values (pure apart from reading the key file).

Annex kept a raw 32-byte key in a file and stored each secret as ``iv:authTag:ciphertext`` (three base64
strings; 16-byte IV, 16-byte tag, UTF-8 plaintext). Every legacy secret is tried before anything is written:
when the key decrypts none of them the import stops (exit code 10); when some fail they are listed and the
import goes on. Plaintexts only ever live in :class:`annexd.redaction.Secret` wrappers, which never print.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from annexd.errors import AnnexdError
from annexd.redaction import MIN_REDACT_LENGTH, Secret

KEY_BYTES = 32
IV_BYTES = 16
TAG_BYTES = 16


class LegacyKeyError(AnnexdError):
    """The key file is unreadable, not 32 bytes, or decrypts none of the legacy secrets (exit code 10)."""


class DecryptError(ValueError):
    """One legacy secret cannot be decrypted (the message never holds the value)."""


@dataclass(frozen=True, slots=True)
class LegacySecret:
    name: str  # its name in annexd's secret store
    source: str  # where Annex kept it, e.g. 'StorageServer "nas".encryptedPassword'
    ciphertext: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class SecretOutcome:
    carried: tuple[tuple[str, Secret], ...]  # (annexd name, plaintext), to go into the secret store
    skipped: tuple[Skipped, ...]

    @property
    def carried_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.carried)


def load_key_file(path: str | Path) -> bytes:
    """The raw 32-byte key; LegacyKeyError when unreadable or of another size."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LegacyKeyError(f"key file {path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) != KEY_BYTES:
        raise LegacyKeyError(f"key file {path}: holds {len(data)} bytes, not the {KEY_BYTES} bytes of Annex's "
                             "AES-256 key")
    return data


def _b64(part: str) -> bytes:
    try:
        return base64.b64decode(part, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("is not base64 iv:tag:ciphertext") from None


def decrypt(value: str, key: bytes) -> Secret:
    """One ``iv:tag:ciphertext`` value decrypted with ``key``."""
    parts = value.strip().split(":")
    if len(parts) != 3:
        raise DecryptError("is not in the iv:tag:ciphertext form")
    iv, tag, ciphertext = (_b64(p) for p in parts)
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        raise DecryptError(f"has a {len(iv)}-byte IV and a {len(tag)}-byte tag, not {IV_BYTES} and {TAG_BYTES}")
    try:
        plain = AESGCM(key).decrypt(iv, ciphertext + tag, None)
    except InvalidTag:
        raise DecryptError("does not decrypt with this key") from None
    try:
        return Secret(plain.decode("utf-8"))
    except UnicodeDecodeError:
        raise DecryptError("decrypts to something that is not UTF-8 text") from None


def encrypt(plaintext: str, key: bytes, iv: bytes) -> str:
    """Annex's format, for building legacy fixtures (annexd itself never writes it)."""
    sealed = AESGCM(key).encrypt(iv, plaintext.encode("utf-8"), None)
    ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    return ":".join(base64.b64encode(p).decode("ascii") for p in (iv, tag, ciphertext))


def decrypt_all(secrets: Sequence[LegacySecret], key: bytes | None) -> SecretOutcome:
    """Try ``key`` on every legacy secret. LegacyKeyError when there are secrets and none decrypts."""
    if key is None:
        return SecretOutcome((), tuple(Skipped(s.name, s.source, "no --key-file given") for s in secrets))
    carried: list[tuple[str, Secret]] = []
    skipped: list[Skipped] = []
    decrypted = 0
    for s in secrets:
        try:
            value = decrypt(s.ciphertext, key)
        except DecryptError as exc:
            skipped.append(Skipped(s.name, s.source, f"the stored value {exc}"))
            continue
        decrypted += 1
        if len(value.reveal()) < MIN_REDACT_LENGTH:
            skipped.append(Skipped(s.name, s.source, f"shorter than {MIN_REDACT_LENGTH} characters: annexd "
                                                     "cannot keep it out of its logs"))
        else:
            carried.append((s.name, value))
    if secrets and not decrypted:
        raise LegacyKeyError(f"the key file decrypts none of the {len(secrets)} legacy secrets "
                             f"(first: {skipped[0].source}: {skipped[0].reason})")
    return SecretOutcome(tuple(carried), tuple(skipped))
