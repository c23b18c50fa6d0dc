"""Legacy release objects to annexd's shape, credentials removed; hostile input never crashes (pure)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, strategies as st

from annexd.domain.quality import Release
from annexd.legacy.releases import clean_magnet, clean_url, convert_release, convert_releases

HASH = "0123456789abcdef0123456789abcdef01234567"


def test_credential_parameters_and_userinfo_are_removed() -> None:
    url, removed = clean_url("https://user:pw@idx.example:8443/api/dl?id=5&apikey=K1&passkey=K2&torrent_pass=K3"
                             "&jackett_apikey=K4&RSSKEY=K5&file=x.torrent")
    assert url == "https://idx.example:8443/api/dl?id=5&file=x.torrent"
    assert removed == ("RSSKEY", "apikey", "jackett_apikey", "passkey", "torrent_pass")


def test_a_passkey_in_the_path_drops_the_url() -> None:
    assert clean_url("https://t.example/download/12/0123456789abcdef0123456789abcdef/x.torrent") == (None, ())
    assert clean_url("https://t.example/download/12/Some.Release.1080p.torrent")[0] is not None


def test_only_web_urls_are_kept() -> None:
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "http://", "http://h:99999/", 42, None, ""):
        assert clean_url(bad) == (None, ())


def test_magnet_trackers_lose_their_passkeys() -> None:
    magnet = (f"magnet:?xt=urn:btih:{HASH.upper()}&dn=Name&tr=https%3A%2F%2Ft.example%2Fa%3Fpasskey%3DSECRETKEY1"
              "&tr=https%3A%2F%2Ft.example%2F0123456789abcdef0123456789abcdef%2Fannounce")
    cleaned, info_hash = clean_magnet(magnet)
    assert info_hash == HASH
    assert cleaned == f"magnet:?xt=urn:btih:{HASH}&dn=Name&tr=https%3A%2F%2Ft.example%2Fa"
    assert clean_magnet("magnet:?dn=no-hash") == (None, None)


def test_a_converted_release_is_one_annexd_can_load() -> None:
    legacy = {"id": "r1", "title": "Movie.2020.1080p.WEB-DL-GRP", "indexerId": "i1", "indexerName": "Old Name",
              "size": "1234", "seeders": 5, "leechers": 2, "magnetUri": f"magnet:?xt=urn:btih:{HASH}",
              "downloadUrl": "http://idx/dl?apikey=SECRET", "downloadHeaders": {"Authorization": "Bearer T"},
              "publishDate": "2024-01-02T03:04:05.000Z", "categories": [2000, "x"], "score": 1}
    converted = convert_release(legacy, {"i1": "prowlarr"})
    assert converted is not None
    release = Release.from_dict(converted)
    assert (release.guid, release.info_hash, release.indexer, release.size, release.peers) == \
        (HASH, HASH, "prowlarr", 1234, 7)
    assert release.published is not None and release.categories == (2000,)
    assert "SECRET" not in json.dumps(converted) and "Bearer" not in json.dumps(converted)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=20)
release_like = st.fixed_dictionaries({}, optional={k: json_values | st.text() for k in (
    "title", "magnetUri", "downloadUrl", "size", "seeders", "leechers", "publishDate", "categories", "indexerId")})


@given(st.one_of(json_values, release_like, st.lists(release_like, max_size=3)))
def test_any_json_converts_or_is_skipped_without_raising(value: Any) -> None:
    for converted in convert_releases(value if isinstance(value, list) else [value]):
        assert isinstance(converted["title"], str) and converted["title"]
        Release.from_dict(converted)  # what annexd stores, it can load


def test_an_imported_alternative_is_grabbed_with_the_configured_indexers_key() -> None:
    """The grab path of issue 11 rebuilds an imported link: the legacy indexer id names the annexd indexer the
    written config has, whose key goes back where Annex's was removed (and only there)."""
    from annexd.domain.release_links import LinkCredentials, grab_link

    legacy = {"title": "Show.S01E01.720p.HDTV-GRP", "indexerId": "idx1", "indexerName": "Prowlarr",
              "downloadUrl": "http://prowlarr.local:9696/1/download?apikey=OLD-KEY-123&link=blob"}
    release = convert_release(legacy, {"idx1": "prowlarr"})
    assert release is not None and "OLD-KEY-123" not in json.dumps(release)
    assert release["indexer"] == "prowlarr" and release["credentials_removed"] == ["apikey"]
    link = grab_link(release, {"prowlarr": LinkCredentials(key="NEW-KEY-456")})
    assert link == "http://prowlarr.local:9696/1/download?link=blob&apikey=NEW-KEY-456"
