"""Keeping secret values out of output (pure): a ``Secret`` wrapper that never prints its value, the set of
known values, and redaction of those values and of credential-bearing URL parameters in text and log events.
"""

from __future__ import annotations

import functools
import hmac
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from structlog.typing import Processor

MASK = "********"
MIN_REDACT_LENGTH = 4  # shorter "secrets" would mask ordinary words everywhere; SecretStore.set refuses them


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
