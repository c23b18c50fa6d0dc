"""Release links without credentials, rebuilt with the indexer's key at grab time (pure)."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from annexd.domain.quality import Release
from annexd.domain.release_links import (
    MAGNET_TRACKERS,
    LinkCredentials,
    clean_url,
    feed_credentials,
    grab_link,
    link_with_credentials,
    prefers_link,
    scrub_release,
    secret_free,
)
from annexd.domain.releases import parse_release

HASH = "0123456789abcdef0123456789abcdef01234567"
KEY = "prowlarr-key-5f3a9c"


def test_prowlarr_and_jackett_links_lose_their_key_and_get_it_back_at_grab_time() -> None:
    for url, name in ((f"http://prowlarr:9696/1/download?apikey={KEY}&link=b64&file=Film", "apikey"),
                      (f"http://jackett:9117/dl/tracker/?jackett_apikey={KEY}&path=enc&file=Film", "jackett_apikey")):
        stored = scrub_release({"title": "Film", "indexer": "prowlarr", "download_url": url, "magnet": None})
        assert KEY not in json.dumps(stored) and stored["credentials_removed"] == [name]
        rebuilt = grab_link(stored, {"prowlarr": LinkCredentials(key=KEY)})
        assert rebuilt is not None and f"{name}={KEY}" in rebuilt and rebuilt.startswith(url.split("?")[0])
        assert grab_link(stored, {}) == stored["download_url"]  # an indexer no longer configured: as stored


def test_scrubbing_is_idempotent_and_keeps_what_it_removed() -> None:
    once = scrub_release({"download_url": f"https://idx/dl?id=1&apikey={KEY}", "indexer": "i",
                          "download_headers": {"Cookie": "uid=1; pass=x"}})
    assert "download_headers" not in once
    assert scrub_release(once) == once


def test_a_known_secret_anywhere_in_a_link_drops_it() -> None:
    url, removed = clean_url(f"https://idx.example/dl/{KEY}/file.torrent?id=3", secrets=[KEY])
    assert (url, removed) == (None, ())
    assert clean_url("https://idx.example/dl/abc/file.torrent?id=3", secrets=[KEY])[0] is not None


def test_a_magnet_that_lost_a_passkey_tracker_prefers_the_link() -> None:
    magnet = (f"magnet:?xt=urn:btih:{HASH}&dn=Film&tr=https%3A%2F%2Ft.example%2Fannounce%3Fpasskey%3Dabcdef1234"
              "&tr=udp%3A%2F%2Fopen.example%3A1337")
    stored = scrub_release({"download_url": "https://idx/dl?id=1", "magnet": magnet, "indexer": "i"})
    assert "abcdef1234" not in json.dumps(stored) and MAGNET_TRACKERS in stored["credentials_removed"]
    assert prefers_link(stored)
    assert grab_link(stored, {"i": LinkCredentials(key=KEY)}) == "https://idx/dl?id=1"  # the marker is no parameter
    public = scrub_release({"download_url": "https://idx/dl?id=1", "magnet": f"magnet:?xt=urn:btih:{HASH}"})
    assert not prefers_link(public)


def test_a_release_round_trips_with_what_was_removed() -> None:
    release = Release(guid=HASH, title="Film.2020.1080p.WEB-DL-GRP", size=1, indexer="i",
                      parsed=parse_release("Film.2020.1080p.WEB-DL-GRP"), download_url="https://idx/dl?id=1",
                      credentials_removed=("apikey",))
    data = release.to_dict()
    assert data["credentials_removed"] == ["apikey"]
    assert Release.from_dict(data).credentials_removed == ("apikey",)


def test_link_with_credentials_encodes_the_key() -> None:
    key = LinkCredentials(key="a&b c")
    assert link_with_credentials("https://i/dl", ["apikey"], key) == "https://i/dl?apikey=a%26b%20c"
    assert link_with_credentials("https://i/dl?x=1", [], key) == "https://i/dl?x=1"


def test_a_feed_puts_its_own_passkey_back() -> None:
    feed = feed_credentials("https://tracker.example/rss?uid=7&passkey=PK123456&cat=5")
    assert feed.params == {"uid": "7", "passkey": "PK123456"} and feed.key == ""  # two values: no shared one
    stored = scrub_release({"download_url": "https://tracker.example/dl/9?passkey=PK123456", "indexer": "tl"},
                           feed.values())
    assert stored["download_url"] == "https://tracker.example/dl/9"
    assert grab_link(stored, {"tl": feed}) == "https://tracker.example/dl/9?passkey=PK123456"
    single = feed_credentials("https://tracker.example/rss?torrent_pass=TP98765")
    assert link_with_credentials("https://t/dl/9", ["passkey"], single) == "https://t/dl/9?passkey=TP98765"
    path_form = scrub_release({"download_url": "https://tracker.example/dl/TP98765/9.torrent"}, single.values())
    assert path_form["download_url"] is None  # a passkey in the path cannot be taken out: the link is dropped


@given(st.text(min_size=6, max_size=30, alphabet=st.characters(min_codepoint=33, max_codepoint=126)),
       st.sampled_from(["apikey", "api_key", "passkey", "token", "jackett_apikey", "auth", "rsskey"]),
       st.text(max_size=20))
def test_no_credential_parameter_survives(secret: str, name: str, other: str) -> None:
    url = f"https://idx.example/dl?id=7&{name}={secret}&file={other}"
    stored = scrub_release({"download_url": url, "magnet": f"magnet:?xt=urn:btih:{HASH}&tr=https://t/a?{name}={secret}"},
                           secrets=[secret])
    assert secret_free(stored, [secret]), stored
