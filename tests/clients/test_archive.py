"""annexd.clients.archive: extracting RAR sets with a real bsdtar (libarchive), then mapping what came out."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from annexd.clients.archive import extract_archives
from annexd.domain.filemap import WantedEpisode, map_files

# --- extraction with bsdtar (libarchive) -----------------------------------------------------------------
# No RAR creator exists in Debian's free archive, so the test writes a RAR 4 archive by hand with the
# "store" method (no compression): marker block, archive header, one file header per member, end block.


def _rar_block(head_type: int, flags: int, body: bytes) -> bytes:
    header = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header


def stored_rar(members: dict[str, bytes]) -> bytes:
    out = b"Rar!\x1a\x07\x00" + _rar_block(0x73, 0, b"\x00" * 6)
    for name, data in members.items():
        raw = name.encode()
        body = struct.pack(
            "<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), 0x5A210000, 20, 0x30, len(raw), 0o100644
        )
        out += _rar_block(0x74, 0x8000, body + raw) + data
    return out + _rar_block(0x7B, 0x4000, b"")


def test_extract_a_stored_rar_with_bsdtar(tmp_path: Path, bsdtar: str) -> None:
    payload = b"video bytes " * 1000
    archive = tmp_path / "Show.S01E01.720p-GRP" / "show.rar"
    archive.parent.mkdir()
    archive.write_bytes(stored_rar({"Show.S01E01.720p-GRP.mkv": payload}))
    [result] = extract_archives([archive], tmp_path / "out")
    assert result.ok, result.error
    assert result.files == ((tmp_path / "out" / "Show.S01E01.720p-GRP.mkv").resolve(),)
    assert result.files[0].read_bytes() == payload
    again = map_files([(p.name, p.stat().st_size) for p in result.files], [WantedEpisode(1, 1)])
    assert again.complete


def test_extract_refuses_members_that_escape(tmp_path: Path, bsdtar: str) -> None:
    archive = tmp_path / "evil.rar"
    archive.write_bytes(stored_rar({"../evil.mkv": b"x" * 100}))
    [result] = extract_archives([archive], tmp_path / "out")
    assert not result.ok and "unsafe" in (result.error or "")
    assert not (tmp_path / "evil.mkv").exists()


def test_extract_reports_a_broken_archive(tmp_path: Path, bsdtar: str) -> None:
    archive = tmp_path / "broken.rar"
    archive.write_bytes(b"Rar!\x1a\x07\x00garbage")
    [result] = extract_archives([archive], tmp_path / "out")
    assert not result.ok and result.error
