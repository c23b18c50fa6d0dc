"""A Torznab indexer's settings (``[[indexers]]``), kept apart from the client so ``annexd.config`` builds
them without importing requests (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annexd.config_loader import http_url_problem


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


def validate_indexer(idx: TorznabIndexer) -> list[str]:
    """Every problem of an indexer's settings, each naming its key."""
    key = f"indexers.{idx.name or '?'}"
    problems = []
    if (why := http_url_problem(idx.url)) is not None:
        problems.append(f"{key}.url: {why}")
    if not idx.api_path.startswith("/"):
        problems.append(f"{key}.api_path: must start with '/'")
    if idx.timeout <= 0 or idx.min_interval < 0:
        problems.append(f"{key}: timeout must be positive and min_interval not negative")
    return problems
