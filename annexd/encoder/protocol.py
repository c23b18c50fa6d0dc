"""The encoder WebSocket protocol (pure): JSON messages as frozen dataclasses, strict decoding, path mapping.

Every message is a JSON object ``{"type": "<type>", ...fields}``. ``decode`` rejects (InvalidInputError) unknown
types, missing or ill-typed fields, out-of-range values and oversized frames; unknown extra keys are ignored so
that a newer agent can talk to an older daemon. Authentication is NOT part of any message: the agent sends
``Authorization: Bearer <token>`` in the WebSocket handshake.

Agent -> server: register, capabilities, heartbeat, job_accepted, job_refused, job_progress, job_complete,
job_failed. Server -> agent: registered, job_assign, job_cancel, shutdown.

Versions (``register.protocol``): 1 is the original. 2 adds ``register.jobs`` (the jobs an agent reconnecting
still runs, or finished while disconnected) and ``registered.reconnect_grace`` (how long the server keeps a
disconnected agent's jobs assigned). Both default to "none", so a v1 agent and a v2 server (or the reverse)
behave as v1: the jobs of a dropped connection are cancelled and requeued at once.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import PurePosixPath
from typing import Any, ClassVar

from annexd.errors import InvalidInputError, UnsafePathError

PROTOCOL_VERSION = 2
MAX_MESSAGE_BYTES = 256 * 1024
MAX_ERROR_CHARS = 8000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


class Message:
    """Base of all messages. Subclasses are frozen dataclasses with a ``type`` class variable."""

    type: ClassVar[str]

    def encode(self) -> str:
        body: dict[str, Any] = {"type": self.type}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            body[key] = list(value) if isinstance(value, tuple) else value
        return json.dumps(body, separators=(",", ":"), allow_nan=False)

    @classmethod
    def decode(cls, text: str | bytes) -> Message:
        """Decode and validate; when called on a subclass, the message must be of that type."""
        msg = decode(text)
        if cls is not Message and not isinstance(msg, cls):
            raise InvalidInputError(f"expected a {cls.type!r} message, got {msg.type!r}")
        return msg

    def validate(self) -> None:
        """Extra per-message checks beyond the field types; raise InvalidInputError."""


def _check_id(name: str, value: str) -> None:
    if not _ID_RE.match(value):
        raise InvalidInputError(f"{name} must match {_ID_RE.pattern}")


def _check_job_ids(jobs: tuple[str, ...]) -> None:
    if len(jobs) > 64:
        raise InvalidInputError("too many jobs listed")
    for j in jobs:
        _check_id("job id", j)


def _check_non_negative(name: str, value: float | int | None) -> None:
    if value is not None and value < 0:
        raise InvalidInputError(f"{name} must not be negative")


@dataclass(frozen=True)
class JobMessage(Message):
    """A message about one job: its ``job_id`` is checked first."""

    job_id: str

    def validate(self) -> None:
        _check_id("job_id", self.job_id)


# --- agent -> server ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Register(Message):
    type: ClassVar[str] = "register"
    agent_id: str
    version: str = ""
    host: str = ""
    protocol: int = PROTOCOL_VERSION
    jobs: tuple[str, ...] = ()  # v2: jobs still running (or finished, result not yet sent) after a reconnect

    def validate(self) -> None:
        _check_id("agent_id", self.agent_id)
        if len(self.version) > 64 or len(self.host) > 255:
            raise InvalidInputError("version/host too long")
        _check_job_ids(self.jobs)


@dataclass(frozen=True)
class Capabilities(Message):
    type: ClassVar[str] = "capabilities"
    encoders: tuple[str, ...]
    max_jobs: int

    def validate(self) -> None:
        if not 1 <= self.max_jobs <= 64:
            raise InvalidInputError("max_jobs must be 1..64")
        if len(self.encoders) > 2000 or any(not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", e) for e in self.encoders):
            raise InvalidInputError("invalid encoder list")


@dataclass(frozen=True)
class Heartbeat(Message):
    type: ClassVar[str] = "heartbeat"
    jobs: tuple[str, ...] = ()

    def validate(self) -> None:
        _check_job_ids(self.jobs)


@dataclass(frozen=True)
class JobAccepted(JobMessage):
    type: ClassVar[str] = "job_accepted"


@dataclass(frozen=True)
class JobRefused(JobMessage):
    """The agent cannot take the job now (capacity, draining). Does not use an attempt."""

    type: ClassVar[str] = "job_refused"
    reason: str = "capacity"

    def validate(self) -> None:
        super().validate()
        if len(self.reason) > 200:
            raise InvalidInputError("reason too long")


@dataclass(frozen=True)
class JobProgress(JobMessage):
    type: ClassVar[str] = "job_progress"
    percent: float | None = None
    fps: float | None = None
    speed: float | None = None
    eta: float | None = None
    frame: int | None = None

    def validate(self) -> None:
        super().validate()
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise InvalidInputError("percent must be 0..100")
        for name in ("fps", "speed", "eta", "frame"):
            _check_non_negative(name, getattr(self, name))


@dataclass(frozen=True)
class JobComplete(JobMessage):
    type: ClassVar[str] = "job_complete"
    output_path: str
    size: int
    duration: float
    elapsed: float = 0.0

    def validate(self) -> None:
        super().validate()
        for name in ("size", "duration", "elapsed"):
            _check_non_negative(name, getattr(self, name))
        if len(self.output_path) > 4096:
            raise InvalidInputError("output_path too long")


@dataclass(frozen=True)
class JobFailed(JobMessage):
    type: ClassVar[str] = "job_failed"
    error: str
    retriable: bool

    def validate(self) -> None:
        super().validate()
        if len(self.error) > MAX_ERROR_CHARS:
            raise InvalidInputError("error too long")


# --- server -> agent ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Registered(Message):
    type: ClassVar[str] = "registered"
    agent_id: str
    heartbeat_interval: float = 30.0
    reconnect_grace: float = 0.0  # v2: seconds a disconnected agent's jobs stay assigned; 0 = cancel at once

    def validate(self) -> None:
        _check_id("agent_id", self.agent_id)
        if not 0.05 <= self.heartbeat_interval <= 3600:
            raise InvalidInputError("heartbeat_interval out of range")
        if not 0 <= self.reconnect_grace <= 3600:
            raise InvalidInputError("reconnect_grace out of range")


@dataclass(frozen=True)
class JobAssign(JobMessage):
    type: ClassVar[str] = "job_assign"
    input_path: str
    output_path: str
    profile: dict[str, Any]

    def validate(self) -> None:
        super().validate()
        for p in (self.input_path, self.output_path):
            if not p.startswith("/") or len(p) > 4096:
                raise InvalidInputError("job paths must be absolute")


@dataclass(frozen=True)
class JobCancel(JobMessage):
    type: ClassVar[str] = "job_cancel"


@dataclass(frozen=True)
class Shutdown(Message):
    type: ClassVar[str] = "shutdown"
    reconnect_delay: float = 5.0

    def validate(self) -> None:
        if not 0 <= self.reconnect_delay <= 3600:
            raise InvalidInputError("reconnect_delay out of range")


AGENT_MESSAGES: dict[str, type[Message]] = {m.type: m for m in (
    Register, Capabilities, Heartbeat, JobAccepted, JobRefused, JobProgress, JobComplete, JobFailed)}
SERVER_MESSAGES: dict[str, type[Message]] = {m.type: m for m in (Registered, JobAssign, JobCancel, Shutdown)}
ALL_MESSAGES = {**AGENT_MESSAGES, **SERVER_MESSAGES}


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Check ``value`` against a (simple) type hint; return it converted (lists -> tuples)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, inner[0], value)
    if origin is tuple:
        if not isinstance(value, list):
            raise InvalidInputError(f"{name} must be a list")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(f"{name}[]", item, v) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise InvalidInputError(f"{name} must be an object")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidInputError(f"{name} must be a boolean")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{name} must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInputError(f"{name} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or "\x00" in value:
            raise InvalidInputError(f"{name} must be a string")
        return value
    raise InvalidInputError(f"{name}: unsupported field type")  # pragma: no cover - programming error


_HINTS = {cls: typing.get_type_hints(cls) for cls in ALL_MESSAGES.values()}


def from_dict(data: Any, allowed: dict[str, type[Message]] | None = None) -> Message:
    if not isinstance(data, dict):
        raise InvalidInputError("message must be a JSON object")
    kind = data.get("type")
    registry = ALL_MESSAGES if allowed is None else allowed
    if not isinstance(kind, str) or kind not in registry:
        raise InvalidInputError(f"unknown message type {str(kind)[:40]!r}")
    cls = registry[kind]
    hints = _HINTS[cls]
    kwargs = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise InvalidInputError(f"{kind}: missing field {f.name!r}")
            continue
        kwargs[f.name] = _coerce(f"{kind}.{f.name}", hints[f.name], data[f.name])
    msg = cls(**kwargs)
    msg.validate()
    return msg


def decode(text: str | bytes, allowed: dict[str, type[Message]] | None = None) -> Message:
    """Parse one frame. ``allowed`` restricts the accepted types (e.g. AGENT_MESSAGES on the server)."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise InvalidInputError("message too large")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("message is not valid JSON") from None
    return from_dict(data, allowed)


# --- paths ------------------------------------------------------------------------------------------------

def _normalise(path: str) -> str:
    if not isinstance(path, str) or not path or "\x00" in path:
        raise UnsafePathError("empty or invalid path")
    if not path.startswith("/"):
        raise UnsafePathError(f"path is not absolute: {path!r}")
    norm = posixpath.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading double slash
        norm = "/" + norm.lstrip("/")
    return str(PurePosixPath(norm))


def _relative_under(root: str, path: str) -> str:
    """``path`` relative to ``root`` after lexical normalisation, or UnsafePathError."""
    norm = _normalise(path)
    if norm == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    if not norm.startswith(prefix):
        raise UnsafePathError(f"path {path!r} is not under {root!r}")
    rel = norm[len(prefix):]
    if any(part in ("..", ".") for part in PurePosixPath(rel).parts):  # pragma: no cover - normpath removed them
        raise UnsafePathError(f"path {path!r} escapes {root!r}")
    return rel


@dataclass(frozen=True)
class PathMapping:
    """The same directory seen by the daemon (``daemon_prefix``) and by an agent (``agent_prefix``)."""

    daemon_prefix: str
    agent_prefix: str

    def __post_init__(self) -> None:
        for name in ("daemon_prefix", "agent_prefix"):
            object.__setattr__(self, name, _normalise(getattr(self, name)))

    def to_agent(self, path: str | os.PathLike[str]) -> str:
        return _join(self.agent_prefix, _relative_under(self.daemon_prefix, os.fspath(path)))

    def to_daemon(self, path: str | os.PathLike[str]) -> str:
        return _join(self.daemon_prefix, _relative_under(self.agent_prefix, os.fspath(path)))

    def covers_agent_path(self, path: str) -> bool:
        try:
            _relative_under(self.agent_prefix, path)
        except UnsafePathError:
            return False
        return True

    @classmethod
    def parse(cls, spec: str) -> PathMapping:
        """``DAEMON_PREFIX=AGENT_PREFIX`` (or a single path used for both)."""
        daemon, sep, agent = spec.partition("=")
        return cls(daemon, agent if sep else daemon)


def _join(root: str, rel: str) -> str:
    return root if not rel else posixpath.join(root, rel)


def map_path(mappings: typing.Sequence[PathMapping], path: str, to: str) -> str:
    """Translate with the first mapping whose root contains the path (longest root first).

    ``to`` is "agent" or "daemon". With no mappings, paths are the same on both sides but still normalised.
    UnsafePathError when no mapping covers the path.
    """
    if not mappings:
        return _normalise(path)
    key = "daemon_prefix" if to == "agent" else "agent_prefix"
    for m in sorted(mappings, key=lambda m: len(getattr(m, key)), reverse=True):
        try:
            return m.to_agent(path) if to == "agent" else m.to_daemon(path)
        except UnsafePathError:
            continue
    raise UnsafePathError(f"no path mapping covers {path!r}")
