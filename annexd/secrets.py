"""Secrets: a master key file, Fernet-encrypted values in a pluggable backend, references in the config
(``secret:NAME``, ``env:VAR``, ``file:/path`` or a literal), a ``Secret`` wrapper that never prints its
value, and redaction of known values and credential-bearing URL parameters in logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hmac
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.fernet import Fernet, InvalidToken
from structlog.typing import Processor

from annexd.errors import ConfigError, InvalidInputError

MASK = "********"
MIN_REDACT_LENGTH = 4  # shorter "secrets" would mask ordinary words everywhere; SecretStore.set refuses them
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Secret:
    """A secret value that prints as ``********`` in reprs, str(), f-strings and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")


def reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


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


# --- redaction ----------------------------------------------------------------------------------------

class KnownSecrets:
    """The secret values this process has seen, for redaction. Cheap to read on every log event (no
    decryption, no database): :func:`resolve` and :meth:`SecretStore.set` add to it."""

    def __init__(self, values: Iterable[str | Secret] = ()):
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self.add(*values)

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._values)} values)"

    def add(self, *values: str | Secret) -> None:
        plain = {reveal(v) for v in values if reveal(v)}
        with self._lock:
            self._values = self._values | plain

    def values(self) -> frozenset[str]:
        return self._values


_CREDENTIAL_PARAMS = r"apikey|api_key|api-key|token|x-plex-token|password|passkey|access_token|auth"
_QUERY_CREDENTIAL = re.compile(r"(?i)([?&;](?:" + _CREDENTIAL_PARAMS + r")=)[^&#\s'\"]*")
_USERINFO_PASSWORD = re.compile(r"(//[^/:@\s]+:)[^@/\s]+@")


def redact_url(url: str) -> str:
    """Mask credential query parameters (apikey, api_key, token, X-Plex-Token, password, ...) and a password
    in the userinfo part. Works on any text that contains URLs."""
    return _USERINFO_PASSWORD.sub(r"\1" + MASK + "@", _QUERY_CREDENTIAL.sub(r"\1" + MASK, url))


def _known(values: Iterable[str | Secret]) -> list[str]:
    return _longest_first(frozenset(reveal(v) for v in values))


@functools.lru_cache(maxsize=4)
def _longest_first(values: frozenset[str]) -> list[str]:
    return sorted((v for v in values if len(v) >= MIN_REDACT_LENGTH), key=len, reverse=True)


def redact_text(text: str, values: Iterable[str | Secret]) -> str:
    for value in _known(values):
        text = text.replace(value, MASK)
    return redact_url(text)


def _redact_value(value: Any, known: list[str]) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, dict):
        return {k: _redact_value(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_redact_value(v, known) for v in value) if not isinstance(value, set) else \
            {_redact_value(v, known) for v in value}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)  # exceptions, paths, objects: keep them unless their text holds a secret
    redacted = redact_text(text, known)
    return value if redacted == text else redacted


Values = Iterable[str | Secret] | Callable[[], Iterable[str | Secret]]


def redact_secrets(known_values: Values) -> Processor:
    """A structlog processor: every occurrence of a known secret value in any event field (also nested,
    also inside exception texts) becomes ``********``; credential URL parameters are masked too. Pass a
    callable to pick up secrets added while running. Place it after format_exc_info so tracebacks are
    covered, and before the renderer."""

    static = None if callable(known_values) else list(known_values)

    def processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
        values = known_values() if callable(known_values) else static or []
        known = _known(values)
        return {k: _redact_value(v, known) for k, v in event_dict.items()}

    return processor


class RedactingLogFilter(logging.Filter):
    """The same redaction for stdlib logging records (aiohttp, urllib3 and friends log URLs)."""

    def __init__(self, known_values: Values):
        super().__init__()
        self._values = known_values if callable(known_values) else list(known_values)

    def filter(self, record: logging.LogRecord) -> bool:
        values = self._values() if callable(self._values) else self._values
        record.msg = redact_text(record.getMessage(), values)
        record.args = None
        return True


def generate_token(nbytes: int = 32) -> str:
    """A random URL-safe token (for API keys and agent credentials)."""
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode("ascii")
