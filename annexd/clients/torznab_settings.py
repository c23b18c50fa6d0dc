"""A Torznab indexer's settings (``[[indexers]]``), kept apart from the client so ``annexd.config`` builds
them without importing requests (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TorznabIndexer:
    """Settings of one indexer. ``url`` is the Torznab feed root (e.g. ``http://prowlarr:9696/1``), ``api_path``
    is appended (``/api``)."""

    name: str
    url: str
    api_key: str = field(default="", repr=False)
    api_path: str = "/api"
    movie_categories: tuple[int, ...] = (2000,)
    tv_categories: tuple[int, ...] = (5000,)
    timeout: float = 20.0
    min_interval: float = 2.0  # seconds between two calls to this indexer
    max_pages: int = 5
    page_limit: int | None = None  # results per page; None = the indexer's max from caps
    max_response_bytes: int = 16 * 1024 * 1024
    caps_ttl: float = 24 * 3600.0
    id_fallback_to_query: bool = True  # an id search with no results is retried as a text search
    # Its recent-releases feed (t=search without a query), polled for wanted items every rss_interval_minutes.
    rss: bool = True
    rss_interval_minutes: float = 15.0

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + self.api_path
