"""A delivery target's settings and their validation (pure): local, rsync over ssh, or SFTP.

Owned here, next to the delivery client, so ``annexd.config`` builds ``[[targets]]`` without importing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from annexd.errors import InvalidInputError

ProtocolName = Literal["local", "rsync", "sftp"]
OverwritePolicy = Literal["never", "if_different", "always"]
MediaKind = Literal["movie", "tv"]

PROTOCOLS = ("local", "rsync", "sftp")
OVERWRITE_POLICIES = ("never", "if_different", "always")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")


@dataclass(frozen=True)
class Target:
    name: str
    protocol: ProtocolName = "local"
    host: str = ""
    port: int = 22
    user: str = ""
    key_file: str = ""
    known_hosts_file: str = ""  # a state file: host keys are accepted on first use, then pinned
    movie_root: str = ""
    tv_root: str = ""
    encode_profile: str = ""
    media_server: str = ""
    max_concurrent: int = 2  # transfers to this target at once
    overwrite: OverwritePolicy = "never"
    timeout: float = 6 * 3600.0  # whole transfer (and remote checksum) of one file
    command_timeout: float = 60.0  # small remote commands: stat, mkdir, rename
    connect_timeout: float = 15.0
    io_timeout: float = 300.0  # rsync --timeout: no data for this long aborts the transfer
    bandwidth_limit_kbps: int = 0  # KiB/s for rsync --bwlimit and sftp -l; 0 = unlimited
    # rsync/sftp: one authenticated ssh connection is shared by all commands and transfers (OpenSSH
    # ControlMaster) and kept open this long after its last use; 0 = a new connection per command.
    ssh_reuse_seconds: int = 60
    control_dir: str = ""  # a state directory for the shared connections' sockets (default <state_dir>/ssh)

    def root_for(self, kind: MediaKind) -> str:
        root = self.movie_root if kind == "movie" else self.tv_root
        if not root:
            raise InvalidInputError(f"target {self.name} has no {kind} root")
        return root


def validate_target(t: Target) -> list[str]:
    """Every problem of a target's settings, each naming its key."""
    key = f"targets.{t.name or '?'}"
    problems: list[str] = []
    if t.protocol not in PROTOCOLS:
        problems.append(f"{key}.protocol: {t.protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if t.overwrite not in OVERWRITE_POLICIES:
        problems.append(f"{key}.overwrite: {t.overwrite!r} is not one of {', '.join(OVERWRITE_POLICIES)}")
    if not (t.movie_root or t.tv_root):
        problems.append(f"{key}: set movie_root and/or tv_root")
    for field_name in ("movie_root", "tv_root"):
        root = getattr(t, field_name)
        if root and (not root.startswith("/") or any(p in (".", "..") for p in root.split("/"))
                     or any(c in root for c in "\0\n\r")):
            problems.append(f"{key}.{field_name}: must be an absolute path without '.' or '..' parts")
    if t.ssh_reuse_seconds < 0:
        problems.append(f"{key}.ssh_reuse_seconds: must be 0 (no reuse) or positive")
    if any(c in t.control_dir for c in "\0\n\r"):
        problems.append(f"{key}.control_dir: must not contain control characters")
    if t.bandwidth_limit_kbps < 0:
        problems.append(f"{key}.bandwidth_limit_kbps: must be 0 (unlimited) or positive")
    if t.max_concurrent < 1:
        problems.append(f"{key}.max_concurrent: must be at least 1")
    if min(t.timeout, t.command_timeout, t.connect_timeout, t.io_timeout) <= 0:
        problems.append(f"{key}: timeouts must be positive")
    if t.protocol in ("rsync", "sftp"):
        problems += _validate_remote(t, key)
    return problems


def _validate_remote(t: Target, key: str) -> list[str]:
    problems = []
    if not _HOST.match(t.host):
        problems.append(f"{key}.host: {t.host!r} is not a valid host name")
    if not _USER.match(t.user):
        problems.append(f"{key}.user: {t.user!r} is not a valid user name")
    if not 0 < t.port < 65536:
        problems.append(f"{key}.port: {t.port} is out of range")
    for field_name in ("key_file", "known_hosts_file"):
        value = getattr(t, field_name)
        if not value:
            problems.append(f"{key}.{field_name}: required for {t.protocol} targets")
        elif any(c in value for c in "'\"\0\n\r"):
            problems.append(f"{key}.{field_name}: must not contain quotes or control characters")
    return problems
