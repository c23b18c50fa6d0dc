"""TMDB v3 client (sync, ``requests``) and the pure expansion of a show into episode specs.

The API key is the ``api_key`` query parameter; it is redacted from errors (raised ``from None``) and from
urllib3's debug lines (the same filter as the Torznab client). Responses are cached per path with a TTL on an
injectable clock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import structlog

from annexd import metrics
from annexd.clients.torznab import install_redaction_filter, parse_retry_after, redact
from annexd.domain.request_specs import EpisodeSpec
from annexd.errors import InvalidInputError, ProviderAuthError, ProviderError

log = structlog.get_logger(__name__)
PROVIDER = "tmdb"
T = TypeVar("T")


@dataclass(frozen=True)
class TmdbSettings:
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.themoviedb.org/3"
    timeout: float = 15.0
    cache_ttl: float = 6 * 3600.0
    cache_size: int = 2048
    language: str | None = None  # e.g. "en-US"; None = TMDB's default


@dataclass(frozen=True)
class SeasonSummary:
    season_number: int
    episode_count: int
    name: str = ""
    air_date: date | None = None


@dataclass(frozen=True)
class TmdbShow:
    tmdb_id: int
    name: str
    first_air_date: date | None
    number_of_seasons: int
    seasons: tuple[SeasonSummary, ...]
    tvdb_id: int | None = None
    imdb_id: str | None = None
    original_name: str | None = None
    overview: str = ""
    poster_path: str | None = None

    @property
    def year(self) -> int | None:
        return self.first_air_date.year if self.first_air_date else None


@dataclass(frozen=True)
class TmdbEpisode:
    season_number: int
    episode_number: int
    name: str
    air_date: date | None


@dataclass(frozen=True)
class TmdbMovie:
    tmdb_id: int
    title: str
    release_date: date | None
    imdb_id: str | None = None
    original_title: str | None = None
    overview: str = ""
    poster_path: str | None = None

    @property
    def year(self) -> int | None:
        return self.release_date.year if self.release_date else None


# --- pure parsing -----------------------------------------------------------------------------------------------

def _date(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _opt_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _require(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInputError(f"tmdb: {what}: expected a JSON object")
    return data


def parse_show(data: Any) -> TmdbShow:
    data = _require(data, "tv")
    try:
        seasons = tuple(
            SeasonSummary(int(s["season_number"]), int(s.get("episode_count") or 0), str(s.get("name") or ""),
                          _date(s.get("air_date")))
            for s in data.get("seasons") or () if isinstance(s, dict)
        )
        external = data.get("external_ids") if isinstance(data.get("external_ids"), dict) else {}
        return TmdbShow(
            tmdb_id=int(data["id"]), name=str(data["name"]), first_air_date=_date(data.get("first_air_date")),
            number_of_seasons=int(data.get("number_of_seasons") or 0), seasons=seasons,
            tvdb_id=_opt_int(external.get("tvdb_id")), imdb_id=external.get("imdb_id") or None,
            original_name=data.get("original_name"), overview=str(data.get("overview") or ""),
            poster_path=data.get("poster_path") or None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"tmdb: tv: missing or invalid field ({type(exc).__name__}: {exc})") from None


def parse_season(data: Any) -> tuple[TmdbEpisode, ...]:
    data = _require(data, "season")
    try:
        season = int(data["season_number"])
        return tuple(
            TmdbEpisode(int(e.get("season_number", season)), int(e["episode_number"]), str(e.get("name") or ""),
                        _date(e.get("air_date")))
            for e in data.get("episodes") or () if isinstance(e, dict)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"tmdb: season: missing or invalid field ({type(exc).__name__}: {exc})") from None


def parse_movie(data: Any) -> TmdbMovie:
    data = _require(data, "movie")
    try:
        return TmdbMovie(int(data["id"]), str(data["title"]), _date(data.get("release_date")),
                         data.get("imdb_id") or None, data.get("original_title"), str(data.get("overview") or ""),
                         data.get("poster_path") or None)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"tmdb: movie: missing or invalid field ({type(exc).__name__}: {exc})") from None


def parse_results(data: Any, parse: Callable[[Any], T]) -> list[T]:
    """The ``results`` of a search (or one list of a find), malformed entries skipped."""
    found: list[T] = []
    for entry in data.get("results", ()) if isinstance(data, dict) else ():
        try:
            found.append(parse(entry))
        except InvalidInputError:
            continue
    return found


@dataclass(frozen=True)
class Found:
    """What TMDB's find-by-external-id answered: the movies and shows carrying that id."""

    movies: tuple[TmdbMovie, ...] = ()
    shows: tuple[TmdbShow, ...] = ()


def parse_find(data: Any) -> Found:
    data = _require(data, "find")
    movies = parse_results({"results": data.get("movie_results") or []}, parse_movie)
    shows = parse_results({"results": data.get("tv_results") or []}, parse_show)
    return Found(tuple(movies), tuple(shows))


def expand_episodes(
    show: TmdbShow,
    seasons_wanted: Iterable[int] | None,
    fetch_season: Callable[[int], Sequence[TmdbEpisode]],
    *,
    include_specials: bool = False,
) -> list[EpisodeSpec]:
    """Episodes of the wanted seasons (None = all seasons; season 0 specials only when ``include_specials`` or
    asked for explicitly). A wanted season the show does not have -> InvalidInputError."""
    known = {s.season_number for s in show.seasons}
    if seasons_wanted is None:
        wanted = sorted(n for n in known if n != 0 or include_specials)
    else:
        wanted = sorted(set(seasons_wanted))
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise InvalidInputError(f"tmdb: {show.name!r} has no season(s) {unknown}")
    specs: list[EpisodeSpec] = []
    for number in wanted:
        for ep in sorted(fetch_season(number), key=lambda e: e.episode_number):
            specs.append(EpisodeSpec(number, ep.episode_number, ep.name, ep.air_date))
    return specs


# --- client -----------------------------------------------------------------------------------------------------

class TmdbClient:
    def __init__(
        self,
        settings: TmdbSettings,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self._session = session or requests.Session()
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()  # guards the cache
        self._session_lock = threading.Lock()  # requests.Session is not documented as thread-safe
        install_redaction_filter()

    def __repr__(self) -> str:
        return f"TmdbClient({self.settings.base_url!r})"

    def tv(self, tmdb_id: int, *, fresh: bool = False) -> TmdbShow:
        """The show; ``fresh`` skips the cache (a refresh of a followed show wants what TMDB says now)."""
        return parse_show(self._get_json(f"/tv/{int(tmdb_id)}", {"append_to_response": "external_ids"}, fresh))

    def season(self, tmdb_id: int, season_number: int, *, fresh: bool = False) -> tuple[TmdbEpisode, ...]:
        return parse_season(self._get_json(f"/tv/{int(tmdb_id)}/season/{int(season_number)}", fresh=fresh))

    def movie(self, tmdb_id: int) -> TmdbMovie:
        return parse_movie(self._get_json(f"/movie/{int(tmdb_id)}"))

    def search_movie(self, query: str, year: int | None = None) -> list[TmdbMovie]:
        """TMDB's title search (``/search/movie``), first page, ``year`` filtering when given."""
        params = {"query": query, **({"year": str(year)} if year else {})}
        return parse_results(self._get_json("/search/movie", params), parse_movie)

    def search_tv(self, query: str) -> list[TmdbShow]:
        """TMDB's show search (``/search/tv``), first page; the shows carry no seasons (see :meth:`tv`)."""
        return parse_results(self._get_json("/search/tv", {"query": query}), parse_show)

    def find(self, external_id: str, source: str) -> Found:
        """Movies and shows by another database's id: ``source`` is ``tvdb_id`` or ``imdb_id``."""
        if source not in ("tvdb_id", "imdb_id"):
            raise InvalidInputError(f"tmdb: find: unknown external source {source!r}")
        return parse_find(self._get_json(f"/find/{quote(external_id, safe='')}", {"external_source": source}))

    def episodes(self, tmdb_id: int, seasons_wanted: Iterable[int] | None = None,
                 *, include_specials: bool = False) -> list[EpisodeSpec]:
        """Convenience: :func:`expand_episodes` over this client."""
        show = self.tv(tmdb_id)
        return expand_episodes(show, seasons_wanted, lambda n: self.season(tmdb_id, n),
                               include_specials=include_specials)

    # internals

    def _cached(self, key: str) -> Any | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            if hit[0] < self._clock():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return hit[1]

    def _store(self, key: str, value: Any) -> None:
        with self._lock:
            self._cache[key] = (self._clock() + self.settings.cache_ttl, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)

    def _get_json(self, path: str, extra: dict[str, str] | None = None, fresh: bool = False) -> Any:
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((extra or {}).items()))
        hit = None if fresh else self._cached(key)
        if hit is not None:
            metrics.TMDB_REQUESTS.labels("cached").inc()
            return hit
        outcome = "error"
        try:
            data = self._fetch(path, extra or {})
            outcome = "ok"
        except ProviderAuthError:
            outcome = "auth_error"
            raise
        except ProviderError as exc:
            outcome = "rate_limited" if exc.retry_after is not None else "timeout" if "timed out" in str(exc) \
                else "error"
            raise
        except InvalidInputError as exc:
            outcome = "not_found" if "not found" in str(exc) else "malformed"
            raise
        finally:
            metrics.TMDB_REQUESTS.labels(outcome).inc()
        self._store(key, data)
        return data

    def _fetch(self, path: str, extra: dict[str, str]) -> Any:
        params = {**extra, "api_key": self.settings.api_key}
        if self.settings.language:
            params["language"] = self.settings.language
        url = self.settings.base_url.rstrip("/") + path
        try:
            with self._session_lock:
                resp = self._session.get(url, params=params, timeout=self.settings.timeout)
        except requests.Timeout:
            raise ProviderError(PROVIDER, f"{path}: timed out after {self.settings.timeout:g}s") from None
        except requests.RequestException as exc:
            raise ProviderError(PROVIDER, f"{path}: request failed: {type(exc).__name__}: "
                                          f"{redact(str(exc))[:300]}") from None
        self._check_status(resp, path)
        try:
            return resp.json()
        except ValueError:
            raise InvalidInputError(f"tmdb: {path}: response is not JSON") from None

    def _check_status(self, resp: requests.Response, path: str) -> None:
        if resp.status_code < 400:
            return
        message = _status_message(resp)
        if resp.status_code == 401:
            raise ProviderAuthError(PROVIDER, f"API key refused: {message}")
        if resp.status_code == 404:
            raise InvalidInputError(f"tmdb: {path} not found: {message}")
        if resp.status_code == 429:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
            raise ProviderError(PROVIDER, f"rate limited: {message}", retry_after=retry_after or 10.0)
        raise ProviderError(PROVIDER, f"{path}: HTTP {resp.status_code}: {message}")


def _status_message(resp: requests.Response) -> str:
    try:
        data = resp.json()
        return redact(str(data.get("status_message", "")))[:200] if isinstance(data, dict) else ""
    except ValueError:
        return ""

