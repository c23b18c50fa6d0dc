"""A fake Torznab indexer (Prowlarr/Jackett dialect) and a helper that serves any aiohttp app from a thread.

The fake speaks ``t=caps``, ``t=search``, ``t=tvsearch``, ``t=movie`` with ``limit``/``offset`` paging and
records every query it receives. ``feed`` is its recent-releases feed (``t=search`` without ``q``, Torznab's RSS
mode), newest first, served in pages; ``feed_keep`` is how far back it goes (older releases fall off, as on a
real indexer), so a test can make a poll miss releases. ``FakeTorznab.mode`` switches misbehaviour per test: ``"malformed"``,
``"bomb"`` (billion laughs), ``"http429"`` (with ``Retry-After``), ``"error100"``, ``"error429"``, ``"slow"``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

TORZNAB_NS = "http://torznab.com/schemas/2015/feed"


def serve_in_thread(app: web.Application, *, start_timeout: float = 10.0) -> tuple[str, Callable[[], None]]:
    """Run ``app`` on a free 127.0.0.1 port in a daemon thread with its own loop; returns (base_url, stop)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # surfaced to the caller below
            state["error"] = exc
        ready.set()
        if "error" not in state:
            loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="fake-http", daemon=True)
    thread.start()
    if not ready.wait(start_timeout):
        raise RuntimeError("fake server did not start in time")
    if "error" in state:
        raise RuntimeError(f"fake server failed to start: {state['error']!r}")

    def stop() -> None:
        async def cleanup() -> None:
            await state["runner"].cleanup()  # type: ignore[union-attr]
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        if not loop.is_closed():
            asyncio.run_coroutine_threadsafe(cleanup(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    return f"http://127.0.0.1:{state['port']}", stop


@dataclass
class FakeItem:
    title: str
    size: int
    seeders: int = 10
    peers: int = 15
    info_hash: str | None = None
    category: int = 5000
    magnet: bool = True
    pub_date: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

    def to_xml(self, base_url: str, api_key: str, idx: int) -> str:
        link = f"{base_url}/dl/{idx}?apikey={api_key}&file={idx}"
        attrs = [("category", str(self.category)), ("size", str(self.size)), ("seeders", str(self.seeders)),
                 ("peers", str(self.peers))]
        if self.info_hash:
            attrs.append(("infohash", self.info_hash))
            if self.magnet:
                attrs.append(("magneturl", f"magnet:?xt=urn:btih:{self.info_hash}&dn=x"))
        attr_xml = "".join(f"<torznab:attr name={quoteattr(n)} value={quoteattr(v)}/>" for n, v in attrs)
        return (
            f"<item><title>{escape(self.title)}</title><guid>{escape(base_url)}/details/{idx}</guid>"
            f"<link>{escape(link)}</link><pubDate>{format_datetime(self.pub_date)}</pubDate>"
            f"<size>{self.size}</size><category>{self.category}</category>"
            f"<enclosure url={quoteattr(link)} length=\"{self.size}\" type=\"application/x-bittorrent\"/>"
            f"{attr_xml}</item>"
        )


CAPS_FULL = {
    "search": "q",
    "tv-search": "q,season,ep,tvdbid,tmdbid,imdbid",
    "movie-search": "q,imdbid,tmdbid",
}
CAPS_QUERY_ONLY = {"search": "q", "tv-search": "q,season,ep", "movie-search": "q"}


def caps_xml(modes: dict[str, str], default_limit: int, max_limit: int) -> str:
    searching = "".join(
        f'<{mode} available="yes" supportedParams="{params}"/>' for mode, params in modes.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><caps>'
        '<server version="1.0" title="Fake Indexer"/>'
        f'<limits default="{default_limit}" max="{max_limit}"/>'
        f"<searching>{searching}</searching>"
        '<categories><category id="2000" name="Movies"><subcat id="2040" name="Movies/HD"/></category>'
        '<category id="5000" name="TV"><subcat id="5040" name="TV/HD"/></category></categories></caps>'
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">'
    ']><rss><channel><item><title>&lol9;</title></item></channel></rss>'
)


class FakeTorznab:
    """Configurable fake indexer. ``results(params) -> list[FakeItem]`` decides what a search returns (before
    paging); by default every item in ``items`` is returned for every search."""

    def __init__(self, api_key: str = "s3cr3t-key", *, items: list[FakeItem] | None = None,
                 modes: dict[str, str] | None = None, default_limit: int = 100, max_limit: int = 100):
        self.api_key = api_key
        self.items = list(items or [])
        self.modes = dict(modes or CAPS_FULL)
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.mode: str = "normal"
        self.mode_applies_to_caps = False
        self.retry_after = "120"
        self.slow_seconds = 3.0
        self.results: Callable[[dict[str, str]], list[FakeItem]] = lambda params: self.items
        self.feed: list[FakeItem] | None = None
        self.feed_keep = 10_000
        self.queries: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.base_url = ""
        self._stop: Callable[[], None] | None = None

    # lifecycle

    def start(self) -> FakeTorznab:
        app = web.Application()
        app.router.add_get("/api", self._handle)
        self.base_url, self._stop = serve_in_thread(app)
        return self

    def stop(self) -> None:
        if self._stop:
            self._stop()

    def searches(self) -> list[dict[str, str]]:
        with self._lock:
            return [q for q in self.queries if q.get("t") != "caps"]

    def feed_reads(self) -> list[dict[str, str]]:
        """The recent-releases pages read (``t=search`` without a query)."""
        return [q for q in self.searches() if q.get("t") == "search" and not q.get("q")]

    def announce(self, *items: FakeItem) -> None:
        """New releases on top of the feed (newest first)."""
        with self._lock:
            self.feed = [*items, *(self.feed or [])]

    # handler

    async def _handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        with self._lock:
            self.queries.append(params)
        if params.get("apikey") != self.api_key:
            return _xml('<error code="100" description="Incorrect user credentials"/>')
        if params.get("t") == "caps" and not self.mode_applies_to_caps:
            return _xml(caps_xml(self.modes, self.default_limit, self.max_limit))
        special = await self._misbehave()
        if special is not None:
            return special
        if params.get("t") == "caps":
            return _xml(caps_xml(self.modes, self.default_limit, self.max_limit))
        return _xml(self._feed(params))

    async def _misbehave(self) -> web.Response | None:
        if self.mode == "malformed":
            return _xml("<rss><channel><item><title>broken</title></channel>")
        if self.mode == "bomb":
            return _xml(BILLION_LAUGHS)
        if self.mode == "http429":
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": self.retry_after})
        if self.mode == "error100":
            return _xml('<error code="100" description="Invalid API Key"/>')
        if self.mode == "error429":
            return _xml('<error code="429" description="Request limit reached"/>')
        if self.mode == "error500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return None

    def _feed(self, params: dict[str, str]) -> str:
        limit = min(int(params.get("limit", self.default_limit)), self.max_limit)
        offset = int(params.get("offset", 0))
        if self.feed is not None and params.get("t") == "search" and not params.get("q"):
            matching = self.feed[: self.feed_keep]
        else:
            matching = self.results(params)
        page = matching[offset:offset + limit]
        items = "".join(item.to_xml(self.base_url, self.api_key, offset + i) for i, item in enumerate(page))
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:torznab="{TORZNAB_NS}">'
            f"<channel><title>Fake</title>{items}</channel></rss>"
        )


def _xml(body: str) -> web.Response:
    return web.Response(body=body.encode(), content_type="application/rss+xml", charset="utf-8")
