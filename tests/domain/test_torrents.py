"""annexd.domain.torrents: info hashes, metadata, hostile torrents, safe paths."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import torf
from hypothesis import given, settings, strategies as st

from annexd.domain.torrents import (
    bdecode,
    info_hash_from_magnet,
    info_hash_from_torrent,
    info_hash_of,
    parse_torrent,
    validate_relative_path,
)
from annexd.errors import InvalidInputError, UnsafePathError


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(value)


def multi_file_torrent(paths: list[list[str]], name: str = "Pack") -> bytes:
    files = [{"length": 10, "path": p} for p in paths]
    return bencode({"info": {"name": name, "piece length": 16384, "pieces": b"x" * 20, "files": files}})


def torf_torrent(path: Path) -> torf.Torrent:
    t = torf.Torrent(path=path, private=True, trackers=[])
    t.generate()
    return t


def test_hash_and_files_match_torf_for_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "Show.S01"
    (root / "Sub").mkdir(parents=True)
    (root / "Show.S01E01.mkv").write_bytes(os.urandom(50_000))
    (root / "Sub" / "en.srt").write_bytes(b"1\n")
    t = torf_torrent(root)
    meta = parse_torrent(bytes(t.dump()))
    assert meta.info_hash == t.infohash.lower()
    assert meta.name == "Show.S01" and meta.multi_file and meta.private
    assert sorted((f.path, f.size) for f in meta.files) == [("Show.S01/Show.S01E01.mkv", 50_000), ("Show.S01/Sub/en.srt", 2)]
    assert meta.total_size == 50_002


def test_single_file_torrent(tmp_path: Path) -> None:
    f = tmp_path / "Movie.2020.mkv"
    f.write_bytes(os.urandom(30_000))
    t = torf_torrent(f)
    meta = parse_torrent(bytes(t.dump()))
    assert (meta.info_hash, meta.multi_file, [x.path for x in meta.files]) == (t.infohash.lower(), False, ["Movie.2020.mkv"])
    assert info_hash_of(torrent_bytes=bytes(t.dump())) == t.infohash.lower()


def test_hash_uses_the_raw_info_bytes() -> None:
    info = bencode({"name": "a", "length": 1, "piece length": 16384, "pieces": b"p" * 20})
    data = b"d4:info" + info + b"e"
    assert info_hash_from_torrent(data) == hashlib.sha1(info).hexdigest()


def test_v2_only_hash_is_truncated_sha256() -> None:
    tree = {"a.mkv": {"": {"length": 5, "pieces root": b"r" * 32}}}
    info = bencode({"name": "a.mkv", "meta version": 2, "piece length": 16384, "file tree": tree})
    meta = parse_torrent(b"d4:info" + info + b"e")
    assert meta.info_hash == hashlib.sha256(info).hexdigest()[:40]
    assert [f.path for f in meta.files] == ["a.mkv"]


def test_magnets() -> None:
    hexhash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
    assert info_hash_from_magnet(f"magnet:?xt=urn:btih:{hexhash.upper()}&dn=x") == hexhash
    b32 = base64.b32encode(bytes.fromhex(hexhash)).decode()
    assert info_hash_from_magnet(f"magnet:?dn=x&xt=urn:btih:{b32}") == hexhash
    for bad in ("http://x", "magnet:?dn=x", "magnet:?xt=urn:btih:1234", "magnet:?xt=urn:btih:" + "z" * 40):
        with pytest.raises(InvalidInputError):
            info_hash_from_magnet(bad)
    with pytest.raises(InvalidInputError):
        info_hash_of(None, None)


@pytest.mark.parametrize(
    "data",
    [
        b"", b"d", b"d4:info", b"i12", b"le", b"d4:infoi1ee", b"d4:infod4:name1:aee", b"x",
        b"d4:infod4:name1:a6:lengthi1eeeXX", b"i-0e", b"i01e", b"99999999999:abc", b"l" * 100 + b"e" * 100,
        b"d1:ai1e", b"di1ei2ee",
    ],
)
def test_malformed_torrents_are_rejected(data: bytes) -> None:
    with pytest.raises(InvalidInputError):
        parse_torrent(data)


@pytest.mark.parametrize(
    "paths",
    [[[".."]], [["a", "..", "b"]], [[""]], [["a", ""]], [["/etc/passwd"]], [["a\x00b"]], [[]], [["a/b"]], [["."]]],
)
def test_hostile_paths_inside_a_torrent_are_unsafe(paths: list[list[str]]) -> None:
    with pytest.raises(UnsafePathError):
        parse_torrent(multi_file_torrent(paths))


@pytest.mark.parametrize("name", ["..", "", "a/b", "/abs"])
def test_hostile_torrent_names_are_unsafe(name: str) -> None:
    with pytest.raises(UnsafePathError):
        parse_torrent(multi_file_torrent([["ok.mkv"]], name=name))


def test_validate_relative_path_accepts_ordinary_names() -> None:
    assert validate_relative_path("Show (2020)/Season 01/Show - S01E01 - Ünïcode.mkv").endswith(".mkv")


bencodable = st.recursive(
    st.integers(-(10**12), 10**12) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.binary(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(bencodable)
@settings(max_examples=200)
def test_bdecode_roundtrip(value: object) -> None:
    assert bdecode(bencode(value)) == value


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse_torrent(data)
    except InvalidInputError:
        pass
