"""A completed announce as a release dict: the seam for matching and grabbing."""

from __future__ import annotations

from pathlib import Path

import pytest

from annexd.domain.announce.assembler import apply_mappings
from annexd.domain.announce.definition import load_file, parse_definition
from annexd.domain.announce.gourl import clean, join_path, template_url
from annexd.domain.announce.release import ReleaseError, build_release, parse_bytes
from tests.domain.announce.corpus import CORPUS, corpus_files

MOCK = """\
identifier: mock
urls: [https://mock.local/]
settings:
  - name: rsskey
    type: secret
irc:
  parse:
    lines:
      - pattern: '(.*) (\\d+) (.*)'
        vars: [torrentName, torrentId, torrentSize]
    match:
      infourl: "/torrents.php?id={{ .torrentId }}#frag"
      torrenturl: "/rss/download/{{ .torrentId }}/{{ .rsskey }}/{{ .torrentName }}.torrent"
      encode:
        - torrentName
"""


def test_autobrr_url_example_with_encode_and_settings() -> None:
    rel = build_release({"torrentName": "The Show 2019 S01E01 1080p-GROUP", "torrentId": "240860011",
                         "torrentSize": "1,5 GiB", "freeleech": "Freeleech"},
                        parse_definition(MOCK), {"rsskey": "000aaa", "torrentId": ""})
    assert rel["download_url"] == \
        "https://mock.local/rss/download/240860011/000aaa/The+Show+2019+S01E01+1080p-GROUP.torrent"
    assert rel["info_url"] == "https://mock.local/torrents.php?id=240860011"
    assert rel["title"] == "The Show 2019 S01E01 1080p-GROUP"  # encode only touches the template vars
    assert rel["size"] == int(1.5 * 1024 ** 3)
    assert (rel["freeleech"], rel["freeleech_percent"], rel["bonus"]) == (True, 100, ["Freeleech", "Freeleech100"])
    assert rel["indexer"] == "mock" and rel["magnet_uri"] is None


def test_settings_win_and_user_base_url_only_contributes_the_path_join() -> None:
    rel = build_release({"torrentName": "A", "torrentId": "1", "rsskey": "captured"}, parse_definition(MOCK),
                        {"rsskey": "mine"}, base_url="https://mirror.example/sub/")
    assert rel["download_url"] == "https://mirror.example/sub/rss/download/1/mine/A.torrent"


def test_animebytes_name_template_and_t66y_magnet() -> None:
    ab = build_release({"torrentName": "Awesome Series", "releaseGroup": "Sub", "releaseEpisode": "3",
                        "year": "2022", "releaseTags": "Web / MKV", "groupId": "5", "torrentId": "6"},
                       load_file(CORPUS / "animebytes.yaml"), {"passkey": "pk"})
    assert ab["title"] == "[Sub] Awesome Series - 03  [2022][Web][MKV]"
    assert ab["download_url"] == "https://animebytes.tv/torrent/6/download/pk"
    assert (ab["year"], ab["episode"]) == (2022, 3)
    t66y = build_release({"torrentName": "[MP4] a b", "torrentHash": "ab" * 20, "postId": "1", "category": "2"},
                         load_file(CORPUS / "t66y.yaml"), {})
    assert t66y["magnet_uri"] == f"magnet:?xt=urn:btih:{'ab' * 20}&dn=%5BMP4%5D+a+b"


def test_no_torrent_name_or_base_url_is_refused() -> None:
    definition = parse_definition(MOCK)
    with pytest.raises(ReleaseError, match="torrentName"):
        build_release({"torrentId": "1"}, definition, {})
    with pytest.raises(ReleaseError, match="baseUrl"):
        build_release({"torrentName": "A"}, parse_definition(MOCK.replace("urls: [https://mock.local/]", "")), {})


@pytest.mark.parametrize(("text", "size"), [
    ("1.5 GB", 1_500_000_000), ("1.5GiB", int(1.5 * 2 ** 30)), ("700 MB", 700_000_000), ("1,024 KB", 1_024_000),
    ("12", 12), ("3 kb", 3000), ("", None), ("GB", None), ("1.2.3 MB", None), ("5 furlongs", None),
])
def test_parse_bytes_like_go_humanize(text: str, size: int | None) -> None:
    assert parse_bytes(text) == size


def test_forcesizeunit_and_size_bytes_and_volume_factor() -> None:
    forced = parse_definition(MOCK.replace("  parse:\n", "  parse:\n    forcesizeunit: MB\n"))
    assert build_release({"torrentName": "A", "torrentSize": "700"}, forced, {})["size"] == 700_000_000
    assert build_release({"torrentName": "A", "torrentSize": "700 MB"}, forced, {})["size"] == 0  # Go: unit twice
    rel = build_release({"torrentName": "A", "torrentSizeBytes": "123", "downloadVolumeFactor": "0.25"},
                        parse_definition(MOCK), {})
    assert (rel["size"], rel["freeleech_percent"], rel["bonus"]) == (123, 75, ["Freeleech", "Freeleech75"])


def test_go_path_joining() -> None:
    assert clean("//a/./b/../c//") == "/a/c"
    assert join_path("/base/", "/x/y/") == "/base/x/y/"
    assert template_url("https://h.example", "/a b/%2Fc?q=1 2") == "https://h.example/a%20b/c?q=1 2"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_every_shared_definitions_test_announce_becomes_a_release(path: Path) -> None:
    definition = load_file(path)
    announce: dict[str, str] = {}
    for line in definition.lines:  # one announce from each line's first test, as the lines would assemble
        announce.update(line.tests[0].expect or {} if line.tests else {})
    settings = {name: "SETTING" for name in definition.setting_names}
    release = build_release(apply_mappings(announce, definition.mappings), definition, settings)
    assert release["title"] and (release["download_url"] or release["magnet_uri"])
    assert "<no value>" not in str(release)
