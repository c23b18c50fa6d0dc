"""Torznab indexer client (sync, ``requests``: search workers are threads).

Every call has a timeout (per socket operation *and* an overall deadline while reading the body), a per-indexer
minimum interval between calls, a body size cap, and parses XML with defusedxml (no DTDs, no entities). The
API key travels as the ``apikey`` query parameter (the protocol demands it) and is redacted from everything
annexd writes: exception messages (raised ``from None`` so the chained ``requests`` error, which contains the
URL, is not kept), structlog events and urllib3's debug log lines (see :func:`install_redaction_filter`). The
results' download links and magnets come without credentials (:mod:`annexd.domain.release_links`): what
annexd stores holds no key, and the DownloadWorker puts the key back when it fetches a link.

One file, although over 400 lines: it is one protocol (caps, paged searches, result parsing, error codes and
Retry-After), and its parsing functions are pure and tested on their own here; its settings are in
``torznab_settings``.

The minimum interval is a deadline, not a sleep: a call before it raises :class:`annexd.errors.NotYetError`
(``retry_in``), and the caller postpones its work to that time. So that a postponed search of several calls
(caps, pages, an id search and its fallback) makes progress when run again, the answers of the last
``ANSWER_TTL_S`` seconds are replayed without a request (only while a minimum interval is set).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import requests
import structlog
from defusedxml import DefusedXmlException

from annexd import metrics
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.domain.quality import Release, make_guid
from annexd.domain.release_links import scrub_release
from annexd.domain.torrents import normalize_info_hash
from annexd.errors import InvalidInputError, NotYetError, ProviderAuthError, ProviderError

log = structlog.get_logger(__name__)

ANSWER_TTL_S = 120.0  # how long an answer is replayed to a postponed search (one search spans a few intervals)
ANSWER_CACHE_SIZE = 256
_SECRET_PARAM = re.compile(r"((?:apikey|api_key|passkey)=)[^&\s\"'#]+", re.IGNORECASE)
_BTIH = re.compile(r"xt=urn:btih:([0-9A-Za-z]+)")
_TORZNAB_NS = ("http://torznab.com/schemas/2015/feed", "http://www.newznab.com/DTD/2010/feeds/attributes/")


def redact(text: str) -> str:
    """Replace ``apikey=…``/``api_key=…``/``passkey=…`` values in any text (URLs, error strings)."""
    return _SECRET_PARAM.sub(r"\1REDACTED", text)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


_filter_lock = threading.Lock()
_filter_installed = False


def install_redaction_filter() -> None:
    """urllib3 logs full request URLs (with our API key) at DEBUG; redact them. Idempotent."""
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            logging.getLogger("urllib3.connectionpool").addFilter(_RedactFilter())
            _filter_installed = True


@dataclass(frozen=True)
class Caps:
    default_limit: int = 100
    max_limit: int = 100
    # mode ("search", "tv-search", "movie-search") -> supported params; a missing mode is unavailable
    search_params: dict[str, frozenset[str]] = field(default_factory=lambda: {"search": frozenset({"q"})})
    categories: dict[int, str] = field(default_factory=dict)

    def supports(self, mode: str, param: str) -> bool:
        return param in self.search_params.get(mode, frozenset())


# --- parsing (pure) --------------------------------------------------------------------------------------------

def parse_xml(body: bytes, indexer: str) -> Element:
    """Parse untrusted XML; malformed or hostile input (DTD, entities) -> InvalidInputError."""
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        metrics.INDEXER_MALFORMED.labels(indexer).inc()
        raise InvalidInputError(f"{indexer}: invalid XML from indexer ({type(exc).__name__})") from None


def _int_attr(el: Element | None, name: str, default: int) -> int:
    try:
        return int(el.get(name, default)) if el is not None else default
    except (TypeError, ValueError):
        return default


def parse_caps(root: Element, indexer: str) -> Caps:
    raise_if_error(root, indexer)
    if root.tag != "caps":
        raise InvalidInputError(f"{indexer}: caps response has root <{root.tag[:40]}>")
    limits = root.find("limits")
    max_limit = max(1, _int_attr(limits, "max", 100))
    default_limit = max(1, min(_int_attr(limits, "default", max_limit), max_limit))
    params: dict[str, frozenset[str]] = {}
    searching = root.find("searching")
    for mode in searching if searching is not None else ():
        if mode.get("available", "no").lower() == "yes":
            supported = mode.get("supportedParams") or "q"
            params[mode.tag] = frozenset(p.strip().lower() for p in supported.split(",") if p.strip())
    params.setdefault("search", frozenset({"q"}))
    categories: dict[int, str] = {}
    for cat in root.iter("category"):
        for el in (cat, *cat.findall("subcat")):
            cat_id = _int_attr(el, "id", -1)
            if cat_id >= 0:
                categories[cat_id] = str(el.get("name", ""))
    return Caps(default_limit, max_limit, params, categories)


def raise_if_error(root: Element, indexer: str, retry_after: float | None = None) -> None:
    """Torznab ``<error code=… description=…/>`` -> the matching annexd error."""
    if root.tag != "error":
        return
    code = _int_attr(root, "code", 900)
    description = redact(str(root.get("description", "")))[:200]
    if 100 <= code <= 199:
        raise ProviderAuthError(indexer, f"indexer refused the API key (error {code}: {description})")
    if code == 429 or "request limit" in description.lower():
        raise ProviderError(indexer, f"request limit reached (error {code}: {description})",
                            retry_after=retry_after)
    raise ProviderError(indexer, f"indexer error {code}: {description}")


def _attrs(item: Element) -> Iterator[tuple[str, str]]:
    for child in item:
        if isinstance(child.tag, str) and child.tag.endswith("}attr") and child.tag[1:].split("}")[0] in _TORZNAB_NS:
            yield str(child.get("name", "")).lower(), str(child.get("value", ""))


def _to_int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _to_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class _Fields:
    attrs: dict[str, str]
    categories: list[int]


def _collect(item: Element) -> _Fields:
    attrs: dict[str, str] = {}
    categories: list[int] = []
    for name, value in _attrs(item):
        if name == "category":
            cat = _to_int(value)
            if cat is not None:
                categories.append(cat)
        else:
            attrs.setdefault(name, value)
    for cat_el in item.findall("category"):
        cat = _to_int(cat_el.text)
        if cat is not None and cat not in categories:
            categories.append(cat)
    return _Fields(attrs, categories)


def parse_item(item: Element, indexer: str, parse: Callable[[str], Any], secrets: tuple[str, ...] = ()
               ) -> Release | None:
    """One RSS ``<item>`` -> Release; None when it lacks a title or any way to download. Its links come
    without credentials (``secrets``, the indexer's key, never survives anywhere in them)."""
    title = (item.findtext("title") or "").strip()
    fields = _collect(item)
    enclosure = item.find("enclosure")
    link = (item.findtext("link") or "").strip() or (enclosure.get("url", "") if enclosure is not None else "")
    magnet = fields.attrs.get("magneturl") or (link if link.startswith("magnet:") else None)
    if not title or not (link or magnet):
        return None
    info_hash = normalize_info_hash(fields.attrs.get("infohash"))
    if info_hash is None and magnet:
        match = _BTIH.search(magnet)
        info_hash = normalize_info_hash(match.group(1)) if match else None
    safe = scrub_release({"download_url": None if link.startswith("magnet:") else (link or None), "magnet": magnet},
                         secrets)
    size = _to_int(fields.attrs.get("size")) or _to_int(item.findtext("size"))
    if size is None and enclosure is not None:
        size = _to_int(enclosure.get("length"))
    seeders = _to_int(fields.attrs.get("seeders")) or 0
    peers = _to_int(fields.attrs.get("peers")) or 0
    guid_text = (item.findtext("guid") or "").strip() or link or magnet or title
    return Release(
        guid=make_guid(info_hash, guid_text), title=title, size=max(size or 0, 0), indexer=indexer,
        parsed=parse(title), seeders=max(seeders, 0), peers=max(peers, seeders, 0), info_hash=info_hash,
        download_url=safe["download_url"], magnet=safe["magnet"],
        published=_to_date(item.findtext("pubDate") or fields.attrs.get("usenetdate")),
        categories=tuple(fields.categories), credentials_removed=tuple(safe.get("credentials_removed", ())),
    )


def parse_results(root: Element, indexer: str, parse: Callable[[str], Any], secrets: tuple[str, ...] = ()
                  ) -> list[Release]:
    raise_if_error(root, indexer)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        metrics.INDEXER_MALFORMED.labels(indexer).inc()
        raise InvalidInputError(f"{indexer}: search response is not an RSS feed (root <{root.tag[:40]}>)")
    releases: list[Release] = []
    for item in channel.findall("item"):
        try:
            release = parse_item(item, indexer, parse, secrets)
        except Exception as exc:  # one bad item must not lose the page
            log.warning("torznab_item_invalid", indexer=indexer, error=type(exc).__name__)
            release = None
        if release is None:
            metrics.INDEXER_MALFORMED.labels(indexer).inc()
            continue
        releases.append(release)
    return releases


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date); None when absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _to_date(value)
    return max(0.0, when.timestamp() - now_epoch) if when else None


def dedupe_by_hash(releases: Iterable[Release]) -> list[Release]:
    """Drop repeats of one torrent (info hash, else guid), keeping the first seen; preserves order."""
    seen: set[str] = set()
    out: list[Release] = []
    for release in releases:
        if release.key not in seen:
            seen.add(release.key)
            out.append(release)
    return out


# --- client ----------------------------------------------------------------------------------------------------

def _default_parse(title: str) -> Any:
    from annexd.domain.releases import parse_release

    return parse_release(title)


class TorznabClient:
    """One indexer. Thread-safe: calls are serialised by the rate limiter's lock."""

    def __init__(
        self,
        indexer: TorznabIndexer,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        parse: Callable[[str], Any] = _default_parse,
    ):
        self.indexer = indexer
        self._session = session or requests.Session()
        self._clock = clock
        self._parse = parse
        self._lock = threading.Lock()
        self._last_call: float | None = None
        self._caps: Caps | None = None
        self._caps_at = 0.0
        self._answers: OrderedDict[tuple[tuple[str, str], ...], tuple[float, Element]] = OrderedDict()
        install_redaction_filter()

    def __repr__(self) -> str:
        return f"TorznabClient({self.indexer.name!r})"

    # public API

    def caps(self, refresh: bool = False) -> Caps:
        """Capabilities (cached for ``caps_ttl``)."""
        if self._caps is None or refresh or self._clock() - self._caps_at > self.indexer.caps_ttl:
            self._caps = parse_caps(self._get({"t": "caps"}), self.indexer.name)
            self._caps_at = self._clock()
        return self._caps

    def search_tv(
        self,
        title: str,
        season: int | None = None,
        episode: int | None = None,
        *,
        tvdbid: int | None = None,
        tmdbid: int | None = None,
        imdbid: str | None = None,
    ) -> list[Release]:
        """TV search: by the first id the indexer supports (tvdbid, tmdbid, imdbid), else by ``q``; season and
        episode as params when supported, else folded into ``q`` as ``S01E02``."""
        caps = self.caps()
        mode = "tv-search" if "tv-search" in caps.search_params else "search"
        ids = {"tvdbid": tvdbid, "tmdbid": tmdbid, "imdbid": imdbid}
        id_params = _first_supported_id(caps, mode, ids)
        base = {"t": "tvsearch" if mode == "tv-search" else "search", "cat": _cats(self.indexer.tv_categories)}
        q_params = _tv_query(caps, mode, title, season, episode)
        if id_params:
            ep_params = {k: v for k, v in q_params.items() if k in ("season", "ep")}
            found = self._search({**base, **id_params, **ep_params}, caps)
            if found or not self.indexer.id_fallback_to_query:
                return found
        return self._search({**base, **q_params}, caps)

    def search_movie(
        self, title: str, year: int | None = None, *, imdbid: str | None = None, tmdbid: int | None = None
    ) -> list[Release]:
        """Movie search: by imdbid/tmdbid when supported, else ``q`` = "title year"."""
        caps = self.caps()
        mode = "movie-search" if "movie-search" in caps.search_params else "search"
        base = {"t": "movie" if mode == "movie-search" else "search", "cat": _cats(self.indexer.movie_categories)}
        id_params = _first_supported_id(caps, mode, {"imdbid": imdbid, "tmdbid": tmdbid})
        if id_params:
            found = self._search({**base, **id_params}, caps)
            if found or not self.indexer.id_fallback_to_query:
                return found
        query = f"{title} {year}" if year else title
        return self._search({**base, "q": query}, caps)

    def recent(self, offset: int = 0) -> list[Release]:
        """One page of the indexer's recent releases (Torznab's RSS mode: ``t=search`` with no query), TV and
        movie categories, newest first."""
        caps = self.caps()
        limit = max(1, min(self.indexer.page_limit or caps.max_limit, caps.max_limit))
        categories = (*self.indexer.tv_categories, *self.indexer.movie_categories)
        root = self._get({"t": "search", "cat": _cats(categories), "limit": limit, "offset": max(0, offset)})
        items = parse_results(root, self.indexer.name, self._parse, (self.indexer.api_key,))
        metrics.INDEXER_RESULTS.labels(self.indexer.name).inc(len(items))
        return items

    # internals

    def _search(self, params: dict[str, Any], caps: Caps) -> list[Release]:
        limit = max(1, min(self.indexer.page_limit or caps.max_limit, caps.max_limit))
        results: list[Release] = []
        seen: set[str] = set()
        for page in range(max(1, self.indexer.max_pages)):
            root = self._get({**params, "limit": limit, "offset": page * limit})
            items = parse_results(root, self.indexer.name, self._parse, (self.indexer.api_key,))
            fresh = [r for r in items if r.key not in seen]
            seen.update(r.key for r in fresh)
            results.extend(fresh)
            metrics.INDEXER_RESULTS.labels(self.indexer.name).inc(len(items))
            if len(items) < limit or not fresh:  # last page, or an indexer that ignores offset
                break
        log.info("torznab_search", indexer=self.indexer.name, mode=params.get("t"),
                 params=sorted(k for k in params if k not in ("apikey",)), results=len(results))
        return dedupe_by_hash(results)

    def not_before(self) -> float:
        """The earliest time (this client's clock) the indexer may be called again."""
        return float("-inf") if self._last_call is None else self._last_call + self.indexer.min_interval

    def _take_turn(self) -> None:
        """Claim the indexer's next call now, or raise NotYetError with the time left (never sleeps)."""
        wait = self.not_before() - self._clock()
        if wait > 0:
            raise NotYetError(self.indexer.name, wait)
        self._last_call = self._clock()

    def _recall(self, key: tuple[tuple[str, str], ...]) -> Element | None:
        """A recent answer to the same request: a postponed search replays what it already asked."""
        now = self._clock()
        while self._answers and next(iter(self._answers.values()))[0] < now - ANSWER_TTL_S:
            self._answers.popitem(last=False)
        kept = self._answers.get(key)
        return kept[1] if kept else None

    def _remember(self, key: tuple[tuple[str, str], ...], root: Element) -> None:
        if self.indexer.min_interval > 0:  # without a rate limit nothing is postponed, nothing replayed
            self._answers[key] = (self._clock(), root)
            while len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)

    def _get(self, params: dict[str, Any]) -> Element:
        """One rate-limited, timed, counted request; returns the parsed XML root (Torznab errors raised)."""
        name = self.indexer.name
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        with self._lock:
            replayed = self._recall(key)
            if replayed is not None:
                return replayed
            self._take_turn()
            started = time.monotonic()
            outcome = "error"
            try:
                body, retry_after = self._request({**params, "apikey": self.indexer.api_key})
                root = parse_xml(body, name)
                raise_if_error(root, name, retry_after)
                outcome = "ok"
                self._remember(key, root)
                return root
            except ProviderAuthError:
                outcome = "auth_error"
                raise
            except ProviderError as exc:
                outcome = _outcome_of(exc)
                raise
            except InvalidInputError:
                outcome = "malformed"
                raise
            finally:
                metrics.INDEXER_REQUEST_SECONDS.labels(name).observe(time.monotonic() - started)
                metrics.INDEXER_REQUESTS.labels(name, outcome).inc()

    def _request(self, params: dict[str, Any]) -> tuple[bytes, float | None]:
        name = self.indexer.name
        deadline = time.monotonic() + self.indexer.timeout
        try:
            resp = self._session.get(self.indexer.endpoint, params=params, timeout=self.indexer.timeout, stream=True)
            try:
                self._check_status(resp)
                body = self._read_body(resp, deadline)
            finally:
                resp.close()
        except requests.Timeout:
            raise ProviderError(name, f"timed out after {self.indexer.timeout:g}s") from None
        except requests.RequestException as exc:
            raise ProviderError(name, f"request failed: {type(exc).__name__}: {redact(str(exc))[:300]}") from None
        return body, parse_retry_after(resp.headers.get("Retry-After"), time.time())

    def _check_status(self, resp: requests.Response) -> None:
        name = self.indexer.name
        if resp.status_code == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
            raise ProviderError(name, "HTTP 429 too many requests", retry_after=retry_after)
        if resp.status_code in (401, 403):
            raise ProviderAuthError(name, f"HTTP {resp.status_code}: API key refused")
        if resp.status_code >= 400 and not resp.headers.get("Content-Type", "").startswith(("text/xml",
                                                                                             "application/")):
            raise ProviderError(name, f"HTTP {resp.status_code}")

    def _read_body(self, resp: requests.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for chunk in resp.iter_content(64 * 1024):
            total += len(chunk)
            if total > self.indexer.max_response_bytes:
                metrics.INDEXER_MALFORMED.labels(self.indexer.name).inc()
                raise InvalidInputError(f"{self.indexer.name}: response larger than "
                                        f"{self.indexer.max_response_bytes} bytes")
            if time.monotonic() > deadline:
                raise requests.Timeout()
            chunks.append(chunk)
        body = b"".join(chunks)
        if resp.status_code >= 400 and b"<error" not in body[:2048]:
            raise ProviderError(self.indexer.name, f"HTTP {resp.status_code}")
        return body


def _outcome_of(exc: ProviderError) -> str:
    text = str(exc)
    if "timed out" in text:
        return "timeout"
    if exc.retry_after is not None or "limit" in text or "429" in text:
        return "rate_limited"
    return "error"


def _cats(categories: Iterable[int]) -> str:
    return ",".join(str(c) for c in categories)


def _first_supported_id(caps: Caps, mode: str, ids: dict[str, Any]) -> dict[str, Any]:
    for param, value in ids.items():
        if value not in (None, "") and caps.supports(mode, param):
            return {param: value}
    return {}


def _tv_query(caps: Caps, mode: str, title: str, season: int | None, episode: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"q": title}
    suffix = ""
    if season is not None:
        if caps.supports(mode, "season"):
            params["season"] = season
        else:
            suffix = f"S{season:02d}"
    if season is not None and episode is not None:
        if caps.supports(mode, "ep") and "season" in params:
            params["ep"] = episode
        else:
            suffix = f"S{season:02d}E{episode:02d}"
    if suffix:
        params["q"] = f"{title} {suffix}"
    return params
