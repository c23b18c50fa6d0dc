"""An announce as a release for matching and grabbing: stored without its secret link, the link built again at
grab time from the announce and the network's settings."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from annexd.domain.announce.definition import load_file, parse_definition
from annexd.domain.announce.grab import UPLOADER_SEEDS, AnnounceSource, announce_links, announce_release
from annexd.domain.announce.release import ReleaseError
from annexd.domain.quality import Release
from annexd.domain.releases import parse_release
from tests.domain.announce.corpus import CORPUS

NOW = datetime(2026, 6, 1, 12, 0)
BTN_VARS = {"torrentName": "The Show S06E07 720p WEB-DL DD 5.1 H.264 - LP", "title": "The Show", "year": "2010",
            "category": "Episode", "releaseTags": "MKV | x264 | WEB | P2P", "uploader": "Uploader1", "preTime": "",
            "baseUrl": "https://broadcasthe.net/", "groupId": "7338", "torrentId": "9116"}
SECRETS = {"authkey": "AUTHKEY-1234abcd", "torrent_pass": "PASS-5678efgh"}
INFO_KEY = """\
identifier: leaky
urls: [https://leaky.local/]
settings: [{name: passkey, type: secret}]
irc:
  announcers: [Bot]
  parse:
    lines:
      - pattern: '(.*) id=(\\d+)'
        vars: [torrentName, torrentId]
    match:
      infourl: "/details/{{ .torrentId }}?passkey={{ .passkey }}"
      torrenturl: "/dl/{{ .torrentId }}/{{ .passkey }}"
"""


@pytest.fixture(scope="module")
def btn() -> AnnounceSource:
    return AnnounceSource("btn-net", load_file(CORPUS / "btn.yaml"), SECRETS, "http://127.0.0.1:9/")


def test_the_stored_release_holds_no_secret_and_rebuilds_its_link(btn: AnnounceSource) -> None:
    release = announce_release(BTN_VARS, btn, parse_release, NOW)
    assert release.title == BTN_VARS["torrentName"] and release.indexer == "btn-net"
    assert release.download_url is None and release.magnet is None and release.published == NOW
    assert release.seeders == UPLOADER_SEEDS and release.parsed.season == 6 and release.parsed.episodes == (7,)
    stored = release.to_dict()
    text = json.dumps(stored)
    assert not any(secret in text for secret in SECRETS.values())
    assert stored["announce"]["vars"] == BTN_VARS and stored["announce"]["definition"] == "btn"
    assert stored["announce"]["info_url"] == "http://127.0.0.1:9/torrents.php?id=7338&torrentid=9116"
    url, magnet = announce_links(stored, {"btn-net": btn})
    assert url == ("http://127.0.0.1:9/torrents.php?action=download&id=9116&authkey=AUTHKEY-1234abcd"
                   "&torrent_pass=PASS-5678efgh") and magnet is None
    assert Release.from_dict(stored).announce == stored["announce"]  # kept through the item's release column


def test_one_torrent_announced_twice_is_one_release(btn: AnnounceSource) -> None:
    first = announce_release(BTN_VARS, btn, parse_release, NOW)
    again = announce_release({**BTN_VARS, "uploader": "Other"}, btn, parse_release, NOW)
    other = announce_release({**BTN_VARS, "torrentId": "9117"}, btn, parse_release, NOW)
    assert first.guid == again.guid != other.guid and first.guid.startswith("sha1:")
    hashed = announce_release({**BTN_VARS, "torrentHash": "AB" * 20}, btn, parse_release, NOW)
    assert hashed.guid == hashed.info_hash == "ab" * 20


def test_a_link_is_built_only_for_the_network_that_announced_it(btn: AnnounceSource) -> None:
    stored = announce_release(BTN_VARS, btn, parse_release, NOW).to_dict()
    with pytest.raises(ReleaseError, match="'btn-net' that announced it is not configured"):
        announce_links(stored, {"elsewhere": btn})
    ptp = AnnounceSource("btn-net", load_file(CORPUS / "red.yaml"), {}, "")
    with pytest.raises(ReleaseError, match="now reads red"):
        announce_links(stored, {"btn-net": ptp})
    with pytest.raises(ReleaseError, match="holds no announce"):
        announce_links({"title": "x"}, {"btn-net": btn})


def test_an_info_url_holding_a_secret_is_not_kept() -> None:
    source = AnnounceSource("net", parse_definition(INFO_KEY), {"passkey": "pk-0123456789"})
    release = announce_release({"torrentName": "Movie 2020 1080p WEB-DL", "torrentId": "5"}, source,
                               parse_release, NOW)
    assert release.announce is not None and release.announce["info_url"] is None
    assert "pk-0123456789" not in json.dumps(release.to_dict())
    assert announce_links(release.to_dict(), {"net": source})[0] == "https://leaky.local/dl/5/pk-0123456789"


def test_an_announce_that_cannot_be_a_release_is_refused(btn: AnnounceSource) -> None:
    without_name = {k: v for k, v in BTN_VARS.items() if k != "torrentName"}
    with pytest.raises(ReleaseError, match="torrentName"):
        announce_release(without_name, btn, parse_release, NOW)
    with pytest.raises(ReleaseError, match="empty torrentName"):
        announce_release({**BTN_VARS, "torrentName": "  "}, btn, parse_release, NOW)
    no_link = AnnounceSource("net", parse_definition(INFO_KEY.replace('      torrenturl: "/dl/{{ .torrentId }}/'
                                                                      '{{ .passkey }}"\n', "")))
    with pytest.raises(ReleaseError, match="builds no download link"):
        announce_release({"torrentName": "A 2020 1080p WEB-DL", "torrentId": "1"}, no_link, parse_release, NOW)


def test_templates_name_the_fields_they_read() -> None:
    definition = load_file(CORPUS / "btn.yaml")
    assert definition.match.templates["torrenturl"].fields() == {"torrentId", "authkey", "torrent_pass"}
    mock = parse_definition(INFO_KEY.replace('"/dl/{{ .torrentId }}/{{ .passkey }}"',
                                             '"/dl/{{ if .x }}{{ .a | printf \\"%s\\" }}{{ else }}{{ .b }}{{ end }}"'))
    assert mock.match.templates["torrenturl"].fields() == {"x", "a", "b"}
