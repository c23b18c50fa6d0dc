"""Torrent metadata (pure): info hashes from .torrent bytes and magnet URIs, file lists, path safety.

Everything here treats its input as hostile: the bdecoder caps size, nesting depth and item count, and every
path that comes out of a torrent is checked before anyone joins it onto a directory. The info hash is taken
over the *raw* bytes of the info dict as they appear in the file (re-encoding could change them).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import parse_qs, urlsplit

from annexd.errors import InvalidInputError, UnsafePathError

MAX_TORRENT_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
MAX_FILES = 100_000

_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_B32 = re.compile(r"^[A-Za-z2-7]{32}$")
_DIGITS = re.compile(rb"^(0|-?[1-9][0-9]*)$")

Bencoded = int | bytes | list["Bencoded"] | dict[bytes, "Bencoded"]


@dataclass(frozen=True)
class TorrentFileEntry:
    """One file of a torrent; ``path`` is relative to the save path (includes the root folder if any)."""

    path: str
    size: int


@dataclass(frozen=True)
class TorrentMeta:
    info_hash: str
    name: str
    files: tuple[TorrentFileEntry, ...]
    total_size: int
    multi_file: bool
    private: bool


# --- bdecoding -----------------------------------------------------------------------------------------


class _Decoder:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.items = 0
        self.info_span: tuple[int, int] | None = None

    def fail(self, why: str) -> InvalidInputError:
        return InvalidInputError(f"malformed torrent: {why} at byte {self.pos}")

    def decode(self, depth: int = 0) -> Bencoded:
        if depth > MAX_DEPTH:
            raise self.fail("nesting too deep")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise self.fail("too many items")
        if self.pos >= len(self.data):
            raise self.fail("truncated")
        lead = self.data[self.pos : self.pos + 1]
        if lead == b"i":
            return self._int()
        if lead == b"l":
            return self._list(depth)
        if lead == b"d":
            return self._dict(depth)
        if lead.isdigit():
            return self._bytes()
        raise self.fail(f"unexpected {lead!r}")

    def _int(self) -> int:
        end = self.data.find(b"e", self.pos + 1)
        if end < 0 or end - self.pos > 32:
            raise self.fail("bad integer")
        digits = self.data[self.pos + 1 : end]
        if not _DIGITS.match(digits) or digits == b"-0":
            raise self.fail("bad integer")
        self.pos = end + 1
        return int(digits)

    def _bytes(self) -> bytes:
        colon = self.data.find(b":", self.pos)
        if colon < 0 or colon - self.pos > 10 or not _DIGITS.match(self.data[self.pos : colon]):
            raise self.fail("bad string length")
        length = int(self.data[self.pos : colon])
        start = colon + 1
        if length < 0 or start + length > len(self.data):
            raise self.fail("string past end")
        self.pos = start + length
        return self.data[start : self.pos]

    def _list(self, depth: int) -> list[Bencoded]:
        self.pos += 1
        out: list[Bencoded] = []
        while self.data[self.pos : self.pos + 1] != b"e":
            out.append(self.decode(depth + 1))
        self.pos += 1
        return out

    def _dict(self, depth: int) -> dict[bytes, Bencoded]:
        self.pos += 1
        out: dict[bytes, Bencoded] = {}
        while self.data[self.pos : self.pos + 1] != b"e":
            if not self.data[self.pos : self.pos + 1].isdigit():
                raise self.fail("dict key is not a string")
            key = self._bytes()
            start = self.pos
            out[key] = self.decode(depth + 1)
            if depth == 0 and key == b"info":
                self.info_span = (start, self.pos)
        self.pos += 1
        return out


def bdecode(data: bytes) -> Bencoded:
    """Decode one bencoded value that must span all of ``data``."""
    value, _ = _bdecode_with_info(data)
    return value


def _bdecode_with_info(data: bytes) -> tuple[Bencoded, tuple[int, int] | None]:
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidInputError("malformed torrent: empty")
    if len(data) > MAX_TORRENT_BYTES:
        raise InvalidInputError(f"malformed torrent: larger than {MAX_TORRENT_BYTES} bytes")
    dec = _Decoder(bytes(data))
    value = dec.decode()
    if dec.pos != len(data):
        raise dec.fail("trailing data")
    return value, dec.info_span


# --- paths ---------------------------------------------------------------------------------------------


def check_component(part: str) -> str:
    """One path component from untrusted input: not empty, not ``.``/``..``, no separators, no NUL."""
    if part in ("", ".", "..") or "/" in part or "\\" in part or "\x00" in part:
        raise UnsafePathError(f"unsafe path component {part!r}")
    return part


def validate_relative_path(path: str | PurePosixPath) -> str:
    """Check a ``/``-separated relative path from a torrent or a client; return it normalised as a string."""
    text = str(path)
    if not text or text.startswith(("/", "\\")) or "\x00" in text or re.match(r"^[A-Za-z]:", text):
        raise UnsafePathError(f"unsafe path {text!r}")
    for part in text.split("/"):
        check_component(part)
    return text


# --- metadata ------------------------------------------------------------------------------------------


def _text(value: object, what: str) -> str:
    if not isinstance(value, bytes):
        raise InvalidInputError(f"malformed torrent: {what} is not a string")
    return value.decode("utf-8", errors="replace")


def _size(value: object, what: str) -> int:
    if not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"malformed torrent: {what} is not a size")
    return value


def _files_v1(info: dict[bytes, Bencoded], name: str) -> tuple[tuple[TorrentFileEntry, ...], bool]:
    if b"files" not in info:
        return (TorrentFileEntry(name, _size(info.get(b"length"), "length")),), False
    raw = info[b"files"]
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FILES:
        raise InvalidInputError("malformed torrent: bad file list")
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get(b"path"), list):
            raise InvalidInputError("malformed torrent: bad file entry")
        parts = [check_component(_text(p, "path")) for p in entry[b"path"]]  # type: ignore[union-attr]
        if not parts:
            raise UnsafePathError("empty path in torrent")
        if b"attr" in entry and b"p" in entry[b"attr"]:  # type: ignore[operator]
            continue  # BEP 47 padding file: not a real file
        out.append(TorrentFileEntry("/".join([name, *parts]), _size(entry.get(b"length"), "length")))
    return tuple(out), True


def _files_v2(tree: Bencoded, prefix: list[str], out: list[TorrentFileEntry], depth: int = 0) -> None:
    if not isinstance(tree, dict) or depth > MAX_DEPTH:
        raise InvalidInputError("malformed torrent: bad file tree")
    for key, sub in tree.items():
        if key == b"" and isinstance(sub, dict):
            out.append(TorrentFileEntry("/".join(prefix), _size(sub.get(b"length"), "length")))
            continue
        _files_v2(sub, [*prefix, check_component(_text(key, "path"))], out, depth + 1)
    if len(out) > MAX_FILES:
        raise InvalidInputError("malformed torrent: too many files")


def info_hash_from_info_bytes(info_bytes: bytes, info: dict[bytes, Bencoded]) -> str:
    """v1 (and hybrid) torrents: sha1 of the info dict; v2-only: sha256 truncated to 40 hex like qBittorrent."""
    if info.get(b"meta version") == 2 and b"pieces" not in info:
        return hashlib.sha256(info_bytes).hexdigest()[:40]
    return hashlib.sha1(info_bytes).hexdigest()


def parse_torrent(data: bytes) -> TorrentMeta:
    """Parse .torrent bytes; raises InvalidInputError (malformed) or UnsafePathError (hostile paths)."""
    top, span = _bdecode_with_info(data)
    if not isinstance(top, dict) or span is None or not isinstance(top.get(b"info"), dict):
        raise InvalidInputError("malformed torrent: no info dictionary")
    info: dict[bytes, Bencoded] = top[b"info"]  # type: ignore[assignment]
    name = check_component(_text(info.get(b"name"), "name"))
    if b"pieces" in info or b"length" in info or b"files" in info:
        files, multi = _files_v1(info, name)
    elif b"file tree" in info:
        entries: list[TorrentFileEntry] = []
        _files_v2(info[b"file tree"], [], entries)
        multi = not (len(entries) == 1 and entries[0].path == name)
        files = tuple(TorrentFileEntry(e.path if not multi else f"{name}/{e.path}", e.size) for e in entries)
    else:
        raise InvalidInputError("malformed torrent: no files")
    return TorrentMeta(
        info_hash=info_hash_from_info_bytes(data[span[0] : span[1]], info),
        name=name,
        files=files,
        total_size=sum(f.size for f in files),
        multi_file=multi,
        private=info.get(b"private") == 1,
    )


def info_hash_from_torrent(data: bytes) -> str:
    return parse_torrent(data).info_hash


def info_hash_from_magnet(uri: str) -> str:
    """Lower-case hex v1 info hash from ``magnet:?xt=urn:btih:<hex40|base32>``."""
    if not isinstance(uri, str) or len(uri) > 8192 or not uri.lower().startswith("magnet:?"):
        raise InvalidInputError("not a magnet URI")
    for xt in parse_qs(urlsplit(uri).query).get("xt", []):
        if not xt.lower().startswith("urn:btih:"):
            continue
        value = xt[len("urn:btih:") :]
        if _HEX40.match(value):
            return value.lower()
        if _B32.match(value):
            return base64.b32decode(value.upper()).hex()
        raise InvalidInputError("magnet URI has a malformed btih")
    raise InvalidInputError("magnet URI has no urn:btih")


def info_hash_of(torrent_bytes: bytes | None = None, magnet: str | None = None) -> str:
    """The hash annexd stores as the Download's key, computed before anything talks to a client."""
    if (torrent_bytes is None) == (magnet is None):
        raise InvalidInputError("give exactly one of torrent bytes or a magnet URI")
    return info_hash_from_torrent(torrent_bytes) if torrent_bytes is not None else info_hash_from_magnet(magnet or "")


def normalize_info_hash(value: str | None) -> str | None:
    """Lower-case 40-hex info hash, from hex or base32 (as in some magnets); None when invalid."""
    if not value:
        return None
    value = value.strip()
    if _HEX40.match(value):
        return value.lower()
    if _B32.match(value):
        return base64.b32decode(value.upper()).hex()
    return None
