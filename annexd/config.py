"""Configuration: TOML file, every key overridable by an ``ANNEX_*`` environment variable, validated at once.

The schema is the dataclasses below. A scalar key ``[section] key`` is overridden by ``ANNEX_SECTION_KEY``
(or by the alias named in the field's metadata); a list-of-tables section (``[[indexers]]``) by
``ANNEX_INDEXERS`` holding JSON. Loading collects every problem, naming its key, and raises one ConfigError.
The generic loading is :mod:`annexd.config_loader`; the clients' settings types are their own (Mopidy-style:
this module composes them without importing the clients).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annexd.clients.delivery_settings import Target, validate_target
from annexd.clients.feed_settings import RssFeed, validate_feed, validate_interval
from annexd.clients.mediaserver_settings import MediaServer, validate_media_server
from annexd.clients.notify_settings import NotificationDestination, NotifyConfig, validate_destination
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config_loader import load_dataclass
from annexd.domain.monitoring import MONITOR_MODES
from annexd.domain.naming import NamingTemplates, validate_template
from annexd.domain.quality import DEFAULT_PROFILE, QualityProfile
from annexd.domain.search import SearchConfig
from annexd.domain.users import Quota
from annexd.encoder.profiles import EncodeProfile
from annexd.errors import ConfigError

DEFAULT_ENCODE_PROFILE = EncodeProfile(name="default", codec="libx265", crf=24, preset="medium", audio="copy")

# Fields of list-section entries that hold secret references (env:NAME, file:/path, secret:NAME or a literal).
SECRET_FIELDS = frozenset({"api_key", "token", "tokens", "password", "passkey"})


def _env(name: str) -> dict[str, Any]:
    return {"env": name}


def _secret(env: str | None = None) -> dict[str, Any]:
    return {"secret": True, **({"env": env} if env else {})}


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = field(default="", metadata=_env("ANNEX_DATABASE_URL"))
    max_connections: int = 5
    pool_timeout_seconds: float = 10.0
    sqlite_busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8282
    api_key: str = field(default="", repr=False, metadata=_secret("ANNEX_API_KEY"))
    enabled: bool = True
    # /metrics without the API key; unset: open exactly when host is a loopback address.
    metrics_public: bool | None = None


@dataclass(frozen=True)
class WriterConfig:
    flush_interval_ms: int = 1000
    # Items pending before an early flush; above the size of one poll (10,000 torrents is one message),
    # so normal polling still flushes once per interval.
    max_batch: int = 50_000
    progress_threshold: float = 1.0
    # An item's progress is checkpointed to the database at most once per this interval (the API shows the
    # live value from memory); status changes, 0 % and 100 % are written at once.
    progress_min_interval_ms: int = 30_000
    retry_max_ms: int = 30_000


@dataclass(frozen=True)
class WorkerConfig:
    # Poll intervals in milliseconds; each is the period of one worker's Ticker.
    poll_interval: int = field(default=5000, metadata=_env("ANNEX_WORKER_POLL_INTERVAL"))
    download_poll_interval: int = field(default=5000, metadata=_env("ANNEX_DOWNLOAD_POLL_INTERVAL"))
    encoder_poll_interval: int = field(default=5000, metadata=_env("ANNEX_ENCODER_POLL_INTERVAL"))
    awaiting_poll_interval: int = field(default=60_000, metadata=_env("ANNEX_AWAITING_POLL_INTERVAL"))
    # How often the FeedWorker looks for a feed that is due (each feed has its own interval, 10 min or more).
    feed_poll_interval: int = 60_000
    # Heartbeat of this daemon; claims of a daemon silent for claim_stale_seconds are released.
    recovery_interval: int = 15_000
    claim_stale_seconds: float = 90.0
    claim_batch: int = 50
    search_retry_hours: float = 6.0


@dataclass(frozen=True)
class DownloadConfig:
    # Stall policy (Sonarr/decluttarr-like): no progress, no seeds, or metadata not resolved for this long.
    no_progress_minutes: float = 30.0
    no_seeds_minutes: float = 10.0
    metadata_minutes: float = 10.0
    # A tracked torrent missing from the client this long (and two polls in a row) was removed by hand: its
    # release is grabbed again once, then the next alternative is taken.
    vanished_grace_seconds: float = 60.0
    # Attempts on alternative releases before an item fails, and the pause before each retry.
    max_attempts: int = 3
    retry_delays_minutes: tuple[float, ...] = (5.0, 15.0, 60.0)
    # Fetching a .torrent from an indexer link.
    torrent_max_bytes: int = 10_000_000
    fetch_timeout: float = 20.0
    # Remove a torrent (and its files) once every item using it is delivered and seeding goals are met.
    remove_after_delivery: bool = False


@dataclass(frozen=True)
class EncoderConfig:
    # A built-in agent on this machine, so one machine needs no extra process.
    local: bool = True
    local_max_jobs: int = 1
    # Tokens of remote agents (secret references: env:NAME, file:/path, secret:NAME).
    tokens: tuple[str, ...] = ()
    heartbeat_timeout: float = 90.0
    stall_seconds: float = 120.0
    max_attempts: int = 10
    # The encode profile used when a request's targets name none.
    profile: str = "default"
    # Where encoded files are written before delivery (default: <state_dir>/encode).
    work_dir: str = ""


@dataclass(frozen=True)
class DeliveryConfig:
    max_attempts: int = 5
    retry_minutes: float = 5.0
    # Parallel deliveries in all (each target also has its own max_concurrent).
    max_parallel: int = 4


@dataclass(frozen=True)
class TmdbConfig:
    api_key: str = field(default="", repr=False, metadata=_secret("ANNEX_TMDB_API_KEY"))
    base_url: str = "https://api.themoviedb.org/3"
    timeout: float = 15.0


@dataclass(frozen=True)
class RequestsConfig:
    # What a new TV request follows when it does not say: "none", "future" (episodes airing from the day of
    # the request) or "all".
    monitor: str = "none"
    # How often followed shows are refreshed from TMDB (new episodes, air dates, titles).
    refresh_interval_minutes: float = 720.0


@dataclass(frozen=True)
class ApprovalsConfig:
    # Requests waiting for approval longer than this are approved or declined by themselves (0: never).
    timeout_hours: float = 0.0
    timeout_action: str = "decline"  # approve | decline


@dataclass(frozen=True)
class QuotasConfig:
    """What a requester may ask for per rolling period (0: unlimited); ``annexd user quota`` overrides it per
    user. Admins are exempt."""

    movie_limit: int = 0
    movie_days: float = 7.0
    season_limit: int = 0
    season_days: float = 7.0

    def movies(self) -> Quota:
        return Quota(self.movie_limit or None, self.movie_days)

    def seasons(self) -> Quota:
        return Quota(self.season_limit or None, self.season_days)


@dataclass(frozen=True)
class SupervisorConfig:
    restart_budget: int = 5
    restart_window_seconds: float = 300.0
    restart_backoff_seconds: float = 1.0
    shutdown_timeout_seconds: float = 20.0
    ask_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True)
class Config:
    state_dir: str = field(default="", metadata=_env("ANNEX_STATE_DIR"))
    database: DatabaseConfig = DatabaseConfig()
    http: HttpConfig = HttpConfig()
    writer: WriterConfig = WriterConfig()
    worker: WorkerConfig = WorkerConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    logging: LoggingConfig = LoggingConfig()
    search: SearchConfig = SearchConfig()
    download: DownloadConfig = DownloadConfig()
    encoders: EncoderConfig = EncoderConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    naming: NamingTemplates = NamingTemplates()
    tmdb: TmdbConfig = TmdbConfig()
    requests: RequestsConfig = RequestsConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    quotas: QuotasConfig = QuotasConfig()
    notify: NotifyConfig = NotifyConfig()
    # Lists of tables ([[indexers]] ...), built as the integration's own settings dataclasses.
    indexers: tuple[TorznabIndexer, ...] = ()
    quality_profiles: tuple[QualityProfile, ...] = ()
    download_clients: tuple[QbtClientSettings, ...] = ()
    encode_profiles: tuple[EncodeProfile, ...] = ()
    targets: tuple[Target, ...] = ()
    media_servers: tuple[MediaServer, ...] = ()
    feeds: tuple[RssFeed, ...] = ()
    notifications: tuple[NotificationDestination, ...] = ()

    def profile(self, name: str) -> QualityProfile:
        """The named quality profile; "default" (or an unknown name) is the first configured, else built-in."""
        for p in self.quality_profiles:
            if p.name == name:
                return p
        return self.quality_profiles[0] if self.quality_profiles else DEFAULT_PROFILE

    def encode_profile(self, name: str | None = None) -> EncodeProfile:
        wanted = name or self.encoders.profile
        for p in self.encode_profiles:
            if p.name == wanted:
                return p
        return self.encode_profiles[0] if self.encode_profiles else DEFAULT_ENCODE_PROFILE

    @property
    def master_key_path(self) -> Path:
        return self.state_path / "master.key"

    @property
    def encode_dir(self) -> Path:
        return Path(self.encoders.work_dir).expanduser() if self.encoders.work_dir else self.state_path / "encode"

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.state_path / 'annexd.db'}"


DEFAULT_STATE_DIR = "~/.local/state/annexd"


def _validate(cfg: Config, problems: list[str]) -> None:
    url = cfg.database_url
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        problems.append(f"database.url: must start with sqlite:/// or postgresql://, got {url.split(':')[0]!r}")
    if not 1 <= cfg.database.max_connections <= 100:
        problems.append("database.max_connections: must be between 1 and 100")
    if not 0 <= cfg.http.port <= 65535:
        problems.append(f"http.port: {cfg.http.port} is not a TCP port")
    if cfg.writer.progress_threshold < 0:
        problems.append("writer.progress_threshold: must be >= 0 (percentage points)")
    if cfg.writer.progress_min_interval_ms < 0:
        problems.append("writer.progress_min_interval_ms: must be >= 0 (milliseconds)")
    for name in ("flush_interval_ms", "max_batch", "retry_max_ms"):
        if getattr(cfg.writer, name) <= 0:
            problems.append(f"writer.{name}: must be > 0")
    for f in dataclasses.fields(WorkerConfig):
        if f.type in ("int", int) and f.name.endswith("interval") and getattr(cfg.worker, f.name) < 10:
            problems.append(f"worker.{f.name}: must be at least 10 ms")
    if cfg.logging.level.lower() not in ("debug", "info", "warning", "error"):
        problems.append(f"logging.level: {cfg.logging.level!r} is not one of debug, info, warning, error")
    if cfg.logging.format not in ("auto", "json", "console"):
        problems.append(f"logging.format: {cfg.logging.format!r} is not one of auto, json, console")
    for target in cfg.targets:
        problems.extend(f"targets[{target.name}]: {p}" for p in validate_target(target))
        if target.media_server and target.media_server not in {m.name for m in cfg.media_servers}:
            problems.append(f"targets[{target.name}].media_server: no media server named {target.media_server!r}")
        if target.encode_profile and target.encode_profile not in {p.name for p in cfg.encode_profiles}:
            problems.append(f"targets[{target.name}].encode_profile: no encode profile named {target.encode_profile!r}")
    for server in cfg.media_servers:
        problems.extend(f"media_servers[{server.name}]: {p}" for p in validate_media_server(server))
    for kind in ("movie", "episode", "daily"):
        problems.extend(f"naming.{kind}: {p}" for p in validate_template(getattr(cfg.naming, kind), kind))
    if cfg.supervisor.restart_budget < 0:
        problems.append("supervisor.restart_budget: must be >= 0")
    _validate_feeds(cfg, problems)
    _validate_people(cfg, problems)


def _validate_feeds(cfg: Config, problems: list[str]) -> None:
    for feed in cfg.feeds:
        problems.extend(f"feeds[{feed.name}].{p}" for p in validate_feed(feed))
    for idx in cfg.indexers:
        problems.extend(f"indexers[{idx.name}].{p}" for p in validate_interval("rss_interval_minutes",
                                                                               idx.rss_interval_minutes))
    names = [f.name for f in cfg.feeds] + [i.name for i in cfg.indexers if i.rss]
    problems.extend(f"feeds[{n}]: the name is also an indexer's or another feed's (feeds are counted by name)"
                    for n in sorted({n for n in names if names.count(n) > 1}))
    if cfg.requests.monitor not in MONITOR_MODES:
        problems.append(f"requests.monitor: {cfg.requests.monitor!r} is not one of {', '.join(MONITOR_MODES)}")
    if cfg.requests.refresh_interval_minutes < 10:
        problems.append("requests.refresh_interval_minutes: must be at least 10")


def _validate_people(cfg: Config, problems: list[str]) -> None:
    """Approvals, quotas and notification destinations."""
    if cfg.approvals.timeout_action not in ("approve", "decline"):
        problems.append(f"approvals.timeout_action: {cfg.approvals.timeout_action!r} is not approve or decline")
    if cfg.approvals.timeout_hours < 0:
        problems.append("approvals.timeout_hours: must be >= 0 (0: never)")
    for unit in ("movie", "season"):
        if getattr(cfg.quotas, f"{unit}_limit") < 0:
            problems.append(f"quotas.{unit}_limit: must be >= 0 (0: unlimited)")
        if getattr(cfg.quotas, f"{unit}_days") <= 0:
            problems.append(f"quotas.{unit}_days: must be > 0")
    for dest in cfg.notifications:
        problems.extend(f"notifications[{dest.name}].{p}" for p in validate_destination(dest))
    names = [d.name for d in cfg.notifications]
    problems.extend(f"notifications[{n}]: two destinations have this name" for n in sorted(
        {n for n in names if names.count(n) > 1}))
    if cfg.notify.poll_interval < 10:
        problems.append("notify.poll_interval: must be at least 10 ms")


def read_toml(path: Path | None, problems: list[str]) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"config file {path}: not found")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {path}: invalid TOML: {exc}")
    return {}


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    raw = read_toml(Path(path) if path else None, problems)
    cfg = load_dataclass(Config, raw, "", env, problems)
    if not cfg.state_dir:
        cfg = dataclasses.replace(cfg, state_dir=DEFAULT_STATE_DIR)
    # Remote targets pin host keys in a state file unless the config names one.
    known_hosts = str(cfg.state_path / "known_hosts")
    cfg = dataclasses.replace(cfg, targets=tuple(
        dataclasses.replace(t, known_hosts_file=known_hosts) if t.protocol != "local" and not t.known_hosts_file
        else t for t in cfg.targets))
    _validate(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def secret_values(cfg: Any) -> list[str]:
    """Every non-empty secret value in the config, so logging can redact them."""
    found: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for entry in value:
                found.extend(secret_values(entry))
        elif dataclasses.is_dataclass(value):
            found.extend(secret_values(value))
        elif (f.metadata.get("secret") or f.name in SECRET_FIELDS) and value:
            found.append(str(value))
    return found


def describe(cfg: Any) -> dict[str, Any]:
    """The effective config as a dict, with secrets masked (for `check-config` and the status API)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            out[f.name] = [describe(entry) for entry in value]
        elif dataclasses.is_dataclass(value):
            out[f.name] = describe(value)
        elif f.metadata.get("secret") or f.name in SECRET_FIELDS:
            out[f.name] = _describe_secret(str(value)) if value else ""
        elif isinstance(value, Mapping):
            out[f.name] = {k: describe(v) if dataclasses.is_dataclass(v) else v for k, v in value.items()}
        else:
            out[f.name] = value
    return out


def _describe_secret(ref: str) -> str:
    """A reference is shown by kind and name (env:TMDB_KEY); a literal value never is."""
    kind, _, target = ref.partition(":")
    return ref if kind in ("env", "file", "secret") and target else "********"


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
