"""Feed clients: RSS 2.0 and Atom parsed safely, malformed feeds rejected with a reason, an indexer's recent
releases paged."""

import pytest
from aiohttp import web

from annexd.clients.feed_settings import RssFeed
from annexd.clients.feeds import IndexerFeed, RssFeedClient, parse_feed
from annexd.clients.torznab import TorznabClient
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.domain.release_links import feed_credentials, grab_link
from annexd.errors import InvalidInputError, ProviderError
from tests.fakes.torznab import BILLION_LAUGHS, FakeItem, FakeTorznab, serve_in_thread

HASH = "a" * 40
RSS = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>The.Show.S01E03.1080p.WEB-DL.x264-GRP</title><guid>https://t.example/1</guid>
<link>https://t.example/dl/1.torrent?passkey=pk-123</link><pubDate>Mon, 01 Jun 2026 12:00:00 +0000</pubDate>
<enclosure url="https://t.example/dl/1.torrent?passkey=pk-123" length="2000000000" type="application/x-bittorrent"/>
</item>
<item><title>Magnet.Only.S01E01.720p.HDTV.x264-G</title><link>magnet:?xt=urn:btih:{HASH}&amp;dn=x</link></item>
<item><title></title><link>https://t.example/none</link></item>
</channel></rss>""".encode()
ATOM = f"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>Dune.2021.1080p.WEB-DL.x264-GRP</title><id>urn:x:1</id><updated>2026-06-01T12:00:00Z</updated>
<link rel="enclosure" href="https://t.example/d.torrent" length="5000000000"/></entry>
<entry><title>Magnet.S02E02.720p.HDTV.x264-G</title><link href="magnet:?xt=urn:btih:{HASH}"/></entry>
<entry><title>no link</title></entry>
</feed>""".encode()


def test_rss_items_become_releases():
    first, magnet = parse_feed(RSS, "t")
    assert first.title == "The.Show.S01E03.1080p.WEB-DL.x264-GRP" and first.size == 2_000_000_000
    assert first.published is not None and first.download_url == "https://t.example/dl/1.torrent"
    assert first.credentials_removed == ("passkey",)  # stored without it; put back from the feed URL at grab time
    assert first.parsed.episodes == (3,)
    assert magnet.info_hash == HASH and magnet.guid == HASH and magnet.download_url is None


def test_atom_entries_become_releases():
    dune, magnet = parse_feed(ATOM, "t")
    assert (dune.title, dune.size, dune.download_url) == ("Dune.2021.1080p.WEB-DL.x264-GRP", 5_000_000_000,
                                                          "https://t.example/d.torrent")
    assert dune.published.year == 2026 and dune.guid.startswith("sha1:")
    assert magnet.info_hash == HASH


@pytest.mark.parametrize(("body", "reason"), [
    (b"<rss><channel><item><title>x</title></channel>", "invalid XML"),
    (BILLION_LAUGHS.encode(), "invalid XML"),
    (b"<html><body>login</body></html>", "not an RSS or Atom feed"),
    (b"<rss version='2.0'></rss>", "without a <channel>"),
    (b"", "invalid XML"),
])
def test_malformed_feeds_are_rejected_with_a_reason(body, reason):
    with pytest.raises(InvalidInputError, match=reason):
        parse_feed(body, "t")


@pytest.fixture
def http_feed():
    state = {"body": RSS, "status": 200}

    async def handler(request):
        return web.Response(body=state["body"], status=state["status"], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/rss", handler)
    base, stop = serve_in_thread(app)
    yield base, state
    stop()


def test_the_rss_client_reads_one_page_and_hides_the_passkey(http_feed):
    base, state = http_feed
    client = RssFeedClient(RssFeed(name="t", url=f"{base}/rss?passkey=pk-123"))
    releases = client.page(0)
    assert len(releases) == 2 and client.page(10) == []
    assert not any("pk-123" in str(r.to_dict()) for r in releases)
    assert grab_link(releases[0].to_dict(), {"t": feed_credentials(client.feed.url)}) == \
        "https://t.example/dl/1.torrent?passkey=pk-123"
    state["status"] = 500
    with pytest.raises(ProviderError) as failed:
        client.page(0)
    assert "pk-123" not in str(failed.value)
    state.update(status=200, body=b"x" * 2000)
    with pytest.raises(InvalidInputError, match="larger than"):
        RssFeedClient(RssFeed(name="t", url=f"{base}/rss", max_response_bytes=1000)).page(0)


def test_an_indexer_feed_is_paged_with_limit_and_offset():
    fake = FakeTorznab(api_key="k", max_limit=3).start()
    try:
        fake.feed = [FakeItem(f"Show.S01E{n:02d}.720p.WEB-DL.x264-G", 10**9, info_hash=f"{n:040x}")
                     for n in range(7, 0, -1)]
        feed = IndexerFeed(TorznabClient(TorznabIndexer(name="idx", url=fake.base_url, api_key="k",
                                                         min_interval=0.0)))
        assert [r.info_hash for r in feed.page(0)] == [f"{n:040x}" for n in (7, 6, 5)]
        assert [r.info_hash for r in feed.page(6)] == [f"{1:040x}"]
        reads = fake.feed_reads()
        assert [(q["offset"], q["limit"]) for q in reads] == [("0", "3"), ("6", "3")]
        assert all("q" not in q and q["cat"] == "5000,2000" for q in reads)
    finally:
        fake.stop()
