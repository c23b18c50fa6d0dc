"""Deliver a finished file to a storage target: local copy, rsync over ssh, or SFTP.

Every transport writes to a hidden temp name (``.annexd-<random>.part``) in the destination directory,
verifies it (size + sha256 for local and rsync; size only for SFTP, which has no checksum command), then
renames it into place: without clobbering (hard link, fails if the name exists) unless the target's
overwrite policy allows replacing a different file. An identical existing file counts as delivered.
An upgrade names the files it ``replaces``: a file of that name is renamed over (whatever the policy: it is
annexd's own), and the others are removed only after the new file is committed -- a target never lacks a file.
Remote paths are only ever ``target root / sanitised relative path`` (see :func:`annexd.domain.naming.join_under`)
and are shell-quoted for ssh and double-quoted for sftp batch files. Every subprocess has a timeout.

This module is the algorithm (stat, decide, upload to a temp name, verify, commit) and the per-target limiter;
the transports are in ``delivery_local`` and ``delivery_ssh``, a target's settings in ``delivery_settings``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal

import structlog

from annexd import metrics
from annexd.clients.delivery_local import LocalTransport, cleanup_stale_temp_files
from annexd.clients.delivery_settings import MediaKind, OverwritePolicy, Target
from annexd.clients.delivery_ssh import RsyncTransport, SftpTransport, close_shared_connection
from annexd.clients.delivery_transport import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    DestinationConflictError,
    ProgressCallback,
    Transport,
    provider_name,
    sha256_file,
)
from annexd.domain.naming import check_sanitized, join_under
from annexd.errors import InvalidInputError, ProviderError, UnsafePathError

logger = structlog.get_logger(__name__)
__all__ = ["TEMP_PREFIX", "TEMP_SUFFIX", "DeliveryResult", "TargetLimiter", "cleanup_stale_temp_files",
           "close_shared_connection", "deliver", "decide_existing", "destination", "make_transport",
           "remove_delivered", "sweep_temp_files", "temp_name"]



@dataclass(frozen=True)
class DeliveryResult:
    target: str
    remote_path: str
    size: int
    checksum: str  # sha256 of the delivered file
    skipped_identical: bool
    verification: Literal["sha256", "size"]  # what was checked on the target side
    seconds: float = 0.0
    replaced: tuple[str, ...] = ()  # upgrade: the old files removed after this one was verified and committed


Decision = Literal["upload", "skip", "replace", "conflict"]


def decide_existing(policy: OverwritePolicy, existing_size: int | None, local_size: int,
                    same_content: Callable[[], bool]) -> Decision:
    """What to do about the file already at the destination. ``same_content`` (costly: a remote checksum)
    is only called when sizes match."""
    if existing_size is None:
        return "upload"
    if policy == "always":
        return "replace"
    if existing_size == local_size and same_content():
        return "skip"
    return "replace" if policy == "if_different" else "conflict"


def temp_name() -> str:
    return f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}{TEMP_SUFFIX}"


def make_transport(target: Target) -> Transport:
    if target.protocol == "local":
        return LocalTransport(target)
    if target.protocol == "rsync":
        return RsyncTransport(target)
    if target.protocol == "sftp":
        return SftpTransport(target)
    raise InvalidInputError(f"target {target.name}: unknown protocol {target.protocol!r}")


def probe(target: Target) -> str:
    """Whether the target answers, over its own transport: one stat of its first root (the health check).
    Raises ProviderError when it cannot be reached."""
    root = PurePosixPath(target.movie_root or target.tv_root)
    try:  # over a connection of its own: a shared one outlives the server's listener
        found = make_transport(replace(target, ssh_reuse_seconds=0)).stat(root)
    except DestinationConflictError:  # not a file: a directory, as a root should be
        return f"{root} reachable"
    return f"{root} reachable" + (" (not created yet)" if found is None else "")


# --- delivery -----------------------------------------------------------------------------------------

def _noop_progress(done: int, total: int) -> None:
    return None


def deliver(target: Target, local_file: str | Path, relative_dest: PurePosixPath | str,
            on_progress: ProgressCallback | None = None, *, kind: MediaKind = "movie",
            transport: Transport | None = None, temp: str | None = None,
            replaces: Sequence[str] = ()) -> DeliveryResult:
    """Deliver ``local_file`` to ``<target's movie/tv root>/<relative_dest>``.

    ``relative_dest`` must be made of sanitised components (as :mod:`annexd.domain.naming` renders them).
    Raises UnsafePathError (nothing written) if it is not, or if the destination would leave the root,
    DestinationConflictError if a different file is there and the policy is "never",
    ProviderError (retriable) on network/transfer/verification failures. Temp files are removed on failure.
    ``temp`` is the temporary file name to write (from :func:`temp_name`; the caller records it first, so a
    crash leftover can be removed by name), else one is made here. ``replaces``: the files an upgrade replaces
    on this target (see the module docs).
    Blocking; call it from a worker thread and bound concurrency with :class:`TargetLimiter`.
    """
    log = logger.bind(target=target.name, protocol=target.protocol, dest=str(relative_dest))
    started = time.monotonic()
    outcome = "error"
    try:
        transport = transport or make_transport(target)
        result = _deliver(target, Path(local_file), relative_dest, on_progress or _noop_progress, kind,
                          transport, temp or temp_name(), tuple(replaces))
        result = _remove_replaced(target, transport, result, replaces, kind)
        outcome = "skipped" if result.skipped_identical else "ok"
        result = _with_seconds(result, time.monotonic() - started)
        log.info("delivered", remote_path=result.remote_path, size=result.size, skipped=result.skipped_identical,
                 seconds=round(result.seconds, 3))
        if not result.skipped_identical:
            metrics.DELIVERY_BYTES.labels(target=target.name).inc(result.size)
        return result
    except DestinationConflictError as exc:
        outcome = "conflict"
        log.warning("delivery_conflict", error=str(exc))
        raise
    except UnsafePathError as exc:
        outcome = "unsafe"
        log.warning("delivery_unsafe_path", error=str(exc))
        raise
    except ProviderError as exc:
        log.warning("delivery_failed", error=str(exc))
        raise
    finally:
        metrics.DELIVERIES.labels(target=target.name, outcome=outcome).inc()
        metrics.DELIVERY_SECONDS.labels(target=target.name).observe(time.monotonic() - started)


def _with_seconds(result: DeliveryResult, seconds: float) -> DeliveryResult:
    return replace(result, seconds=seconds)


def destination(target: Target, relative_dest: PurePosixPath | str, kind: MediaKind) -> PurePosixPath:
    """Where ``relative_dest`` lands on ``target`` (UnsafePathError if it would leave the root)."""
    return join_under(target.root_for(kind), check_sanitized(relative_dest))


def _remove_replaced(target: Target, transport: Transport, result: DeliveryResult, replaces: Sequence[str],
                     kind: MediaKind) -> DeliveryResult:
    """The new file is verified and in place: remove the old files it replaces (those under the target's root,
    other than the new file's name)."""
    root = PurePosixPath(target.root_for(kind))
    old = [PurePosixPath(p) for p in dict.fromkeys(replaces) if p and p != result.remote_path]
    gone = [p for p in old if p.is_relative_to(root)]
    for path in gone:
        transport.remove(path)
    if gone:
        logger.info("replaced_files_removed", target=target.name, new=result.remote_path, removed=[str(p) for p in gone])
    return replace(result, replaced=tuple(str(p) for p in gone))


def _deliver(target: Target, local: Path, relative_dest: PurePosixPath | str, on_progress: ProgressCallback,
             kind: MediaKind, transport: Transport, temp: str, replaces: tuple[str, ...] = ()) -> DeliveryResult:
    if not (temp.startswith(TEMP_PREFIX) and temp.endswith(TEMP_SUFFIX) and "/" not in temp):
        raise InvalidInputError(f"not a delivery temp name: {temp!r}")
    dest = destination(target, relative_dest, kind)
    try:
        size, digest = local.stat().st_size, sha256_file(local)
    except OSError as exc:
        raise InvalidInputError(f"local file {local} cannot be read: {exc.strerror}") from None
    existing = transport.stat(dest)
    policy: OverwritePolicy = "if_different" if str(dest) in replaces else target.overwrite  # our own old file
    decision = decide_existing(policy, existing, size, lambda: transport.sha256(dest) == digest)
    if decision == "conflict":
        raise DestinationConflictError(target.name, str(dest))
    if decision == "skip":
        return DeliveryResult(target.name, str(dest), size, digest, True, transport.verification)
    transport.makedirs(dest.parent)
    tmp = dest.parent / temp
    try:
        transport.upload(local, tmp, size, on_progress)
        _verify(target, transport, tmp, size, digest)
        transport.commit(tmp, dest, replace=decision == "replace")
    except DestinationConflictError:
        transport.remove(tmp)
        # Another transfer of the same file (a restarted deliverer's) committed first: delivered, once.
        if transport.stat(dest) == size and transport.sha256(dest) == digest:
            return DeliveryResult(target.name, str(dest), size, digest, True, transport.verification)
        raise
    except BaseException:
        transport.remove(tmp)
        raise
    return DeliveryResult(target.name, str(dest), size, digest, False, transport.verification)


def _verify(target: Target, transport: Transport, tmp: PurePosixPath, size: int, digest: str) -> None:
    remote_size = transport.stat(tmp)
    if remote_size != size:
        raise ProviderError(provider_name(target), f"verification failed: {remote_size} bytes arrived, {size} sent")
    if transport.verification == "sha256" and transport.sha256(tmp) != digest:
        raise ProviderError(provider_name(target), "verification failed: sha256 differs")


# --- concurrency --------------------------------------------------------------------------------------

class TargetLimiter:
    """At most ``target.max_concurrent`` deliveries per target at once (one BoundedSemaphore per name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, target: Target) -> threading.BoundedSemaphore:
        with self._lock:
            if target.name not in self._semaphores:
                self._semaphores[target.name] = threading.BoundedSemaphore(max(1, target.max_concurrent))
            return self._semaphores[target.name]

    @contextlib.contextmanager
    def slot(self, target: Target, timeout: float | None = None) -> Iterator[None]:
        """Hold one of the target's slots; ProviderError (retry later) if none frees up within ``timeout``."""
        semaphore = self._semaphore(target)
        if not semaphore.acquire(timeout=timeout):
            raise ProviderError(provider_name(target), "all delivery slots busy", retry_after=timeout or 1.0)
        try:
            yield
        finally:
            semaphore.release()


def remove_delivered(target: Target, remote_path: str, transport: Transport | None = None) -> bool:
    """Remove a file delivered to ``target``, then its folder when that is left empty (as Radarr and Sonarr
    remove a title's folder), never a root itself. Only a normalised path under the target's movie or TV root
    is touched (UnsafePathError otherwise; a local target also refuses a path that resolves outside through a
    symlink). Returns whether the folder went too."""
    path, root = _under_a_root(target, remote_path)
    transport = transport or make_transport(target)
    if isinstance(transport, LocalTransport):
        transport.check_inside_root(path)
    transport.remove(path)
    logger.info("delivered_file_removed", target=target.name, path=str(path))
    folder = path.parent
    return folder != root and transport.remove_empty_dir(folder)


def _under_a_root(target: Target, remote_path: str) -> tuple[PurePosixPath, PurePosixPath]:
    """(the path, the root it is under) or UnsafePathError."""
    path = PurePosixPath(remote_path)
    parts = remote_path.split("/")
    if not remote_path.startswith("/") or any(p in (".", "..") for p in parts) or "\0" in remote_path:
        raise UnsafePathError(f"{remote_path!r} is not an absolute normalised path")
    for root_text in (target.movie_root, target.tv_root):
        root = PurePosixPath(root_text) if root_text else None
        if root is not None and root in path.parents:
            return path, root
    raise UnsafePathError(f"{remote_path!r} is not under a root of target {target.name}")


def sweep_temp_files(target: Target, older_than_seconds: float, transport: Transport | None = None) -> int:
    """Remove the ``.annexd-*.part`` files a crash left under the target's roots (any kind: local, rsync, SFTP)
    that have not changed for ``older_than_seconds``; returns how many. A transfer in flight keeps writing its
    file, so its age stays small."""
    transport = transport or make_transport(target)
    roots = {r for r in (target.movie_root, target.tv_root) if r}
    return sum(transport.sweep(PurePosixPath(root), older_than_seconds) for root in sorted(roots))
