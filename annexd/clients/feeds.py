"""Feed sources: plain RSS 2.0 / Atom feeds (sync, ``requests``) and an indexer's recent-releases feed.

Feeds are untrusted: XML is parsed with defusedxml (no DTDs, no entities), the body is capped in size and read
under a deadline, and a feed that is not RSS or Atom is rejected with the reason (InvalidInputError); one bad
entry is skipped, never the page. A feed URL may carry a passkey, so URLs are redacted from every error, and the releases' links come without it
(:mod:`annexd.domain.release_links`; the DownloadWorker puts it back when it fetches one).
RSS items are read by the Torznab item parser (enclosures, magnets and torznab attributes are the same);
Atom entries by :func:`parse_atom_entry`. The parsing functions are pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from xml.etree.ElementTree import Element

import requests
import structlog

from annexd.clients.feed_settings import RssFeed
from annexd.clients.torznab import (
    TorznabClient,
    _default_parse,
    install_redaction_filter,
    parse_item,
    parse_xml,
)
from annexd.domain.quality import Release, make_guid
from annexd.domain.release_links import feed_credentials, scrub_release
from annexd.domain.torrents import info_hash_from_magnet
from annexd.errors import InvalidInputError, ProviderError
from annexd.redaction import redact_url

log = structlog.get_logger(__name__)
ATOM = "{http://www.w3.org/2005/Atom}"


class FeedSource(Protocol):
    """What the FeedWorker polls: a named, paged (or single-page) list of releases, newest first."""

    name: str
    interval_minutes: float
    pageable: bool

    def page(self, offset: int) -> list[Release]: ...


# --- parsing (pure) --------------------------------------------------------------------------------------------

def parse_feed(body: bytes, feed: str, parse: Callable[[str], Any] = _default_parse,
               secrets: tuple[str, ...] = ()) -> list[Release]:
    """An RSS 2.0 or Atom document -> releases; anything else -> InvalidInputError naming what was wrong. Links
    come without credentials (``secrets``, the feed URL's passkey, never survives in them)."""
    root = parse_xml(body, feed)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise InvalidInputError(f"{feed}: RSS feed without a <channel>")
        return _each(channel.findall("item"), feed, lambda el: parse_item(el, feed, parse, secrets))
    if root.tag == f"{ATOM}feed":
        return _each(root.findall(f"{ATOM}entry"), feed, lambda el: parse_atom_entry(el, feed, parse, secrets))
    raise InvalidInputError(f"{feed}: not an RSS or Atom feed (root <{root.tag[:60]}>)")


def _each(elements: list[Element], feed: str, read: Callable[[Element], Release | None]) -> list[Release]:
    releases: list[Release] = []
    for element in elements:
        try:
            release = read(element)
        except Exception as exc:  # one bad entry must not lose the feed
            log.warning("feed_entry_invalid", feed=feed, error=type(exc).__name__)
            continue
        if release is not None:
            releases.append(release)
    return releases


def _atom_link(entry: Element) -> tuple[str, int]:
    links = entry.findall(f"{ATOM}link")
    # (An Element without children is falsy: compare with None, never rely on truth.)
    chosen = next((lk for lk in links if lk.get("rel") == "enclosure"), None)
    if chosen is None:
        chosen = next((lk for lk in links if lk.get("rel") in (None, "alternate")), None)
    if chosen is None:
        return "", 0
    try:
        size = int(chosen.get("length") or 0)
    except ValueError:
        size = 0
    return str(chosen.get("href") or "").strip(), max(size, 0)


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_atom_entry(entry: Element, feed: str, parse: Callable[[str], Any], secrets: tuple[str, ...] = ()
                     ) -> Release | None:
    """One Atom ``<entry>`` -> Release; None when it lacks a title or a link. Its link comes without
    credentials, like an RSS item's."""
    title = (entry.findtext(f"{ATOM}title") or "").strip()
    link, size = _atom_link(entry)
    if not title or not link:
        return None
    magnet = link if link.startswith("magnet:") else None
    info_hash = info_hash_from_magnet(magnet) if magnet else None
    published = _iso(entry.findtext(f"{ATOM}published")) or _iso(entry.findtext(f"{ATOM}updated"))
    guid_text = (entry.findtext(f"{ATOM}id") or "").strip() or link
    safe = scrub_release({"download_url": None if magnet else link, "magnet": magnet}, secrets)
    return Release(guid=make_guid(info_hash, guid_text), title=title, size=size, indexer=feed, parsed=parse(title),
                   info_hash=info_hash, download_url=safe["download_url"], magnet=safe["magnet"], published=published,
                   credentials_removed=tuple(safe.get("credentials_removed", ())))


# --- sources ---------------------------------------------------------------------------------------------------

class RssFeedClient:
    """A plain RSS/Atom feed: one page per poll (such feeds cannot be paged back)."""

    pageable = False

    def __init__(self, feed: RssFeed, session: requests.Session | None = None,
                 parse: Callable[[str], Any] = _default_parse):
        self.feed = feed
        self.name = feed.name
        self.interval_minutes = feed.interval_minutes
        self._session = session or requests.Session()
        self._parse = parse
        install_redaction_filter()

    def __repr__(self) -> str:
        return f"RssFeedClient({self.name!r})"

    def page(self, offset: int) -> list[Release]:
        if offset:
            return []
        return parse_feed(self._fetch(), self.name, self._parse, feed_credentials(self.feed.url).values())

    def _fetch(self) -> bytes:
        deadline = time.monotonic() + self.feed.timeout
        try:
            with self._session.get(self.feed.url, timeout=self.feed.timeout, stream=True) as resp:
                if resp.status_code >= 400:
                    raise ProviderError(self.name, f"HTTP {resp.status_code} from {redact_url(self.feed.url)}")
                return self._read(resp, deadline)
        except requests.Timeout:
            raise ProviderError(self.name, f"timed out after {self.feed.timeout:g}s") from None
        except requests.RequestException as exc:
            raise ProviderError(self.name, f"request failed: {type(exc).__name__}") from None

    def _read(self, resp: requests.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for chunk in resp.iter_content(64 * 1024):
            total += len(chunk)
            if total > self.feed.max_response_bytes:
                raise InvalidInputError(f"{self.name}: feed larger than {self.feed.max_response_bytes} bytes")
            if time.monotonic() > deadline:
                raise requests.Timeout()
            chunks.append(chunk)
        return b"".join(chunks)


class IndexerFeed:
    """A Torznab indexer's recent releases, paged with limit/offset."""

    pageable = True

    def __init__(self, client: TorznabClient):
        self.client = client
        self.name = client.indexer.name
        self.interval_minutes = client.indexer.rss_interval_minutes

    def __repr__(self) -> str:
        return f"IndexerFeed({self.name!r})"

    def page(self, offset: int) -> list[Release]:
        return self.client.recent(offset)
