"""Secrets: a master key file, Fernet-encrypted values in a pluggable backend, and references in the config
(``secret:NAME``, ``env:VAR``, ``file:/path`` or a literal). The ``Secret`` wrapper and log redaction are in
:mod:`annexd.redaction`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from cryptography.fernet import Fernet, InvalidToken

from annexd.errors import ConfigError, InvalidInputError
from annexd.redaction import MASK, MIN_REDACT_LENGTH, KnownSecrets, Secret, reveal

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(f"invalid secret name {name!r}: use letters, digits, '_', '.', '-' (max 64)")
    return name


# --- master key ---------------------------------------------------------------------------------------

class MasterKey:
    """The Fernet key that encrypts stored secrets. Its file must be readable by its owner only."""

    __slots__ = ("_fernet", "path")

    def __init__(self, key: bytes, path: Path | None = None):
        self.path = path
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return f"MasterKey(path={str(self.path)!r})"

    @property
    def fernet(self) -> Fernet:
        return self._fernet

    @classmethod
    def load_or_create(cls, path: str | Path) -> MasterKey:
        """Read the key at ``path``, or create it (mode 0600, atomically, never overwriting) on first run.
        Raise ConfigError if the file is group/other accessible, not a regular file, or not a Fernet key."""
        path = Path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return cls._load(path)
        key = Fernet.generate_key()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return cls(key, path)

    @classmethod
    def load_existing(cls, path: str | Path) -> MasterKey:
        """Read the key at ``path`` without ever creating one; ConfigError when it is missing or unusable."""
        path = Path(path)
        if not path.exists():
            raise ConfigError([f"secrets.master_key_file: {path} does not exist (the key the secrets were "
                               "stored with is needed to read them)"])
        return cls._load(path)

    @classmethod
    def _load(cls, path: Path) -> MasterKey:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError([f"secrets.master_key_file: {path} is not a regular file"])
        if st.st_mode & 0o077:
            raise ConfigError([
                f"secrets.master_key_file: {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must not be "
                f"accessible by group or others (run: chmod 600 {path})"])
        if st.st_uid != os.geteuid():
            raise ConfigError([f"secrets.master_key_file: {path} is owned by uid {st.st_uid}, "
                               f"not by the user running annexd (uid {os.geteuid()})"])
        key = path.read_bytes().strip()
        try:
            return cls(key, path)
        except (ValueError, binascii.Error):
            raise ConfigError([f"secrets.master_key_file: {path} does not hold a valid key"]) from None


# --- ciphertext storage -------------------------------------------------------------------------------

class SecretBackend(Protocol):
    """Where ciphertexts live (the lead's peewee ``Secret`` table, or a file in tests)."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, ciphertext: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def names(self) -> list[str]: ...


class FileSecretBackend:
    """Ciphertexts in one JSON file (mode 0600), replaced atomically on every write."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileSecretBackend({str(self.path)!r})"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise ConfigError([f"secrets: {self.path} is not valid JSON"]) from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: Mapping[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(dict(data), fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, name: str) -> bytes | None:
        with self._lock:
            value = self._read().get(name)
        return value.encode("ascii") if value is not None else None

    def put(self, name: str, ciphertext: bytes) -> None:
        with self._lock:
            data = self._read()
            data[name] = ciphertext.decode("ascii")
            self._write(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(name, None) is not None:
                self._write(data)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._read())


class SecretStore:
    """Encrypt/decrypt with the master key; keep ciphertexts in a backend. The name is sealed inside the
    ciphertext, so a ciphertext copied to another name is refused."""

    def __init__(self, backend: SecretBackend, master_key: MasterKey, known: KnownSecrets | None = None):
        self.backend = backend
        self._key = master_key
        self.known = known if known is not None else KnownSecrets()

    def __repr__(self) -> str:
        return f"SecretStore({self.backend!r})"

    def encrypt(self, name: str, value: str) -> bytes:
        payload = json.dumps({"n": validate_name(name), "v": value}).encode("utf-8")
        return self._key.fernet.encrypt(payload)

    def decrypt(self, token: bytes, name: str | None = None) -> str:
        try:
            payload = json.loads(self._key.fernet.decrypt(token))
        except (InvalidToken, ValueError):
            raise ConfigError([f"secret {name or '?'}: cannot be decrypted with this master key"]) from None
        if name is not None and payload.get("n") != name:
            raise ConfigError([f"secret {name}: the stored ciphertext belongs to another name"])
        return str(payload["v"])

    def set(self, name: str, value: str | Secret) -> None:
        if len(reveal(value)) < MIN_REDACT_LENGTH:
            raise InvalidInputError(f"secret {name}: a value shorter than {MIN_REDACT_LENGTH} characters "
                                    "cannot be kept out of logs")
        self.known.add(value)
        self.backend.put(validate_name(name), self.encrypt(name, reveal(value)))

    def get(self, name: str) -> Secret | None:
        token = self.backend.get(validate_name(name))
        if token is None:
            return None
        secret = Secret(self.decrypt(token, name))
        self.known.add(secret)
        return secret

    def delete(self, name: str) -> None:
        self.backend.delete(validate_name(name))

    def names(self) -> list[str]:
        return self.backend.names()

    def values(self) -> list[str]:
        """Every stored plaintext (decrypts all; for redaction prefer ``store.known.values``)."""
        return [s.reveal() for n in self.names() if (s := self.get(n)) is not None]


# --- references in the config -------------------------------------------------------------------------

RefKind = Literal["secret", "env", "file", "literal"]


@dataclass(frozen=True)
class SecretRef:
    kind: RefKind
    target: str = field(repr=False)  # the name, variable or path; for a literal, the value itself

    def __repr__(self) -> str:
        return f"SecretRef({self.kind}:{MASK if self.kind == 'literal' else self.target})"

    @classmethod
    def parse(cls, value: str) -> SecretRef:
        for kind in ("secret", "env", "file"):
            if value.startswith(kind + ":"):
                target = value[len(kind) + 1:]
                if not target:
                    raise ConfigError([f"empty {kind}: reference"])
                return cls(kind, target)
        return cls("literal", value)


def resolve(ref: SecretRef | str, *, store: SecretStore | None = None,
            environ: Mapping[str, str] | None = None, known: KnownSecrets | None = None) -> Secret:
    """The value a reference points to (added to ``known`` for log redaction). ConfigError (naming the
    reference, never a value) if it is missing."""
    secret = _resolve(SecretRef.parse(ref) if isinstance(ref, str) else ref, store, environ)
    if known is not None:
        known.add(secret)
    return secret


def _resolve(ref: SecretRef, store: SecretStore | None, environ: Mapping[str, str] | None) -> Secret:
    if ref.kind == "literal":
        return Secret(ref.target)
    if ref.kind == "env":
        env = os.environ if environ is None else environ
        if ref.target not in env:
            raise ConfigError([f"env:{ref.target}: environment variable is not set"])
        return Secret(env[ref.target])
    if ref.kind == "file":
        try:
            return Secret(Path(ref.target).read_text().rstrip("\r\n"))
        except OSError as exc:
            raise ConfigError([f"file:{ref.target}: cannot be read ({exc.strerror})"]) from None
    if store is None:
        raise ConfigError([f"secret:{ref.target}: no secret store configured"])
    secret = store.get(ref.target)
    if secret is None:
        raise ConfigError([f"secret:{ref.target}: not in the secret store (run `annexd secret set {ref.target}`)"])
    return secret


def write_private_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only (0600; the directory 0700 when created)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def generate_token(nbytes: int = 32) -> str:
    """A random URL-safe token (for API keys and agent credentials)."""
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode("ascii")
