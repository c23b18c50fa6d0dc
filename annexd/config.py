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

from annexd.clients.delivery_settings import Target
from annexd.clients.feed_settings import RssFeed
from annexd.clients.irc_settings import AnnounceConfig, IrcSettings, complete_networks
from annexd.clients.mediaserver_settings import MediaServer
from annexd.clients.notify_settings import NotificationDestination, NotifyConfig
from annexd.clients.qbittorrent_settings import QbtClientSettings
from annexd.clients.torznab_settings import TorznabIndexer
from annexd.config_loader import Disabled, load_dataclass
from annexd.config_rules import validate
from annexd.domain import retry as stage_retry
from annexd.domain.naming import NamingTemplates
from annexd.domain.quality import DEFAULT_PROFILE, QualityProfile
from annexd.domain.retry import RetryPolicy
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
    # Grab attempts (fetching the torrent, moving to the next alternative release) before an item fails.
    retry: RetryPolicy = stage_retry.DOWNLOAD
    # Deprecated: mapped onto [download.retry] (max_attempts; base_seconds, factor, cap_seconds) with a warning.
    max_attempts: int = 3
    retry_delays_minutes: tuple[float, ...] = (5.0, 15.0, 60.0)
    # Fetching a .torrent from an indexer link.
    torrent_max_bytes: int = 10_000_000
    fetch_timeout: float = 20.0
    # Remove a torrent (and its files) once every item using it is delivered and seeding goals are met.
    remove_after_delivery: bool = False


@dataclass(frozen=True)
class EncoderAgent:
    """A remote encoder agent that sees the daemon's files under other paths (``[[encoders.agents]]``)."""

    id: str  # the agent's --id
    # (prefix as this daemon sees it, prefix as the agent sees it), e.g. ["/srv/media", "/mnt/media"]; the
    # download directories and the encode work_dir must both be covered.
    path_map: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class EncoderConfig:
    # A built-in agent on this machine, so one machine needs no extra process.
    local: bool = True
    local_max_jobs: int = 1
    # Tokens of remote agents (secret references: env:NAME, file:/path, secret:NAME).
    tokens: tuple[str, ...] = ()
    heartbeat_timeout: float = 90.0
    # An agent whose connection drops keeps its running jobs this long, waiting for it to reconnect.
    reconnect_grace_seconds: float = 30.0
    stall_seconds: float = 120.0
    # Encode attempts of an item; stall_seconds of the policy is the dispatcher's claim heartbeat limit.
    retry: RetryPolicy = stage_retry.ENCODE
    max_attempts: int = 10  # deprecated: mapped onto [encoders.retry] max_attempts with a warning
    # The encode profile used when a request's targets name none.
    profile: str = "default"
    # Where encoded files are written before delivery (default: <state_dir>/encode).
    work_dir: str = ""
    agents: tuple[EncoderAgent, ...] = ()


@dataclass(frozen=True)
class DeliveryConfig:
    retry: RetryPolicy = stage_retry.DELIVER
    # Deprecated: mapped onto [delivery.retry] max_attempts and base_seconds with a warning.
    max_attempts: int = 5
    retry_minutes: float = 5.0
    # Parallel deliveries in all (each target also has its own max_concurrent).
    max_parallel: int = 4
    # Every target's roots are swept for delivery temp files (.annexd-*.part) a crash left, at start and this
    # often (0: never), removing those unchanged for temp_max_age_hours. Leftovers whose transfer recorded them
    # are removed by name at once.
    temp_sweep_minutes: float = 60.0
    temp_max_age_hours: float = 24.0


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
class HealthConfig:
    # The checks behind /health run on this timer, never in a request.
    interval_seconds: float = 10.0
    # A check that has not answered after this long counts as failed.
    timeout_seconds: float = 20.0
    # An indexer paused by its backoff for at least this long makes the daemon "degraded".
    indexer_backoff_minutes: float = 60.0


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
    health: HealthConfig = HealthConfig()
    logging: LoggingConfig = LoggingConfig()
    search: SearchConfig = SearchConfig()
    download: DownloadConfig = DownloadConfig()
    encoders: EncoderConfig = EncoderConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    naming: NamingTemplates = NamingTemplates()
    tmdb: TmdbConfig = TmdbConfig()
    requests: RequestsConfig = RequestsConfig()
    announce: AnnounceConfig = AnnounceConfig()
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
    irc: tuple[IrcSettings, ...] = ()
    notifications: tuple[NotificationDestination, ...] = ()
    # Warnings about the config that are not errors (deprecated keys and what they were mapped to).
    notices: tuple[str, ...] = field(default=(), init=False, compare=False)
    # Entries of any list written with `enabled = false`: (section, settings), checked but never started.
    disabled: tuple[tuple[str, Any], ...] = field(default=(), metadata={"internal": True})

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


def default_state_dir(env: Mapping[str, str]) -> str:
    """Where state lives when neither the file nor ANNEX_STATE_DIR says: ``$XDG_STATE_HOME/annexd``, else
    ``~/.local/state/annexd``. `make run` and the CLI both use it, so the CLI finds the database `make run` made."""
    xdg = env.get("XDG_STATE_HOME", "")
    return str(Path(xdg) / "annexd") if xdg.startswith("/") else DEFAULT_STATE_DIR


# Deprecated key -> (policy section, how its value sets the policy). The new [<section>.retry] wins when both
# are given.
_LEGACY_RETRY_KEYS: dict[tuple[str, str], Any] = {
    ("search", "retry_hours"): lambda v: {"base_seconds": v * 3600},
    ("search", "max_retry_hours"): lambda v: {"cap_seconds": v * 3600},
    ("download", "max_attempts"): lambda v: {"max_attempts": v},
    ("download", "retry_delays_minutes"): lambda v: {
        "base_seconds": v[0] * 60, "cap_seconds": max(v) * 60,
        "factor": max(1.0, v[1] / v[0]) if len(v) > 1 and v[0] > 0 else 2.0} if v else {},
    ("encoders", "max_attempts"): lambda v: {"max_attempts": v},
    ("delivery", "max_attempts"): lambda v: {"max_attempts": v},
    ("delivery", "retry_minutes"): lambda v: {"base_seconds": v * 60},
}


def _given(raw: Mapping[str, Any], env: Mapping[str, str], section: str, key: str) -> bool:
    table = raw.get(section)
    return (isinstance(table, Mapping) and key in table) or f"ANNEX_{section}_{key}".upper() in env


def _new_policy_given(raw: Mapping[str, Any], env: Mapping[str, str], section: str) -> bool:
    table = raw.get(section)
    return (isinstance(table, Mapping) and "retry" in table) or any(
        f"ANNEX_{section}_retry_{f.name}".upper() in env for f in dataclasses.fields(RetryPolicy))


def map_legacy_retry_keys(cfg: Config, raw: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Config, list[str]]:
    """Today's retry keys keep working: each one given sets its stage's [<section>.retry], with a notice."""
    notices: list[str] = []
    for (section, key), mapper in _LEGACY_RETRY_KEYS.items():
        if not _given(raw, env, section, key):
            continue
        stage = getattr(cfg, section)
        value = getattr(stage, key)
        if _new_policy_given(raw, env, section):
            notices.append(f"{section}.{key} is deprecated and ignored: [{section}.retry] is set")
            continue
        updates = mapper(value)
        stage = dataclasses.replace(stage, retry=dataclasses.replace(stage.retry, **updates))
        cfg = dataclasses.replace(cfg, **{section: stage})
        shown = ", ".join(f"{k} = {v:g}" for k, v in updates.items())
        notices.append(f"{section}.{key} is deprecated: read as [{section}.retry] {shown}")
    return cfg, notices


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
    cfg, problems = load_with_problems(path, env)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_with_problems(path: Path | str | None, env: Mapping[str, str]) -> tuple[Config, list[str]]:
    """The configuration as far as it could be built, and every problem of the file and the environment."""
    problems: list[str] = []
    disabled: Disabled = []
    raw = read_toml(Path(path) if path else None, problems)
    cfg = load_dataclass(Config, raw, "", env, problems, disabled)
    if not cfg.state_dir:
        cfg = dataclasses.replace(cfg, state_dir=default_state_dir(env))
    # Remote targets pin host keys in a state file unless the config names one,
    # and share their ssh connections through sockets in a state directory.
    known_hosts = str(cfg.state_path / "known_hosts")
    control_dir = str(cfg.state_path / "ssh")

    def pinned(entry: Any) -> Any:
        if isinstance(entry, Target) and entry.protocol != "local":
            return dataclasses.replace(entry, known_hosts_file=entry.known_hosts_file or known_hosts,
                                       control_dir=entry.control_dir or control_dir)
        return entry

    cfg = dataclasses.replace(cfg, targets=tuple(pinned(t) for t in cfg.targets),
                              disabled=tuple((section, pinned(e)) for section, e in disabled))
    cfg, notices = map_legacy_retry_keys(cfg, raw, env)
    # IRC networks are completed from their definitions (read from announce.definitions_dir) and checked.
    networks, irc_problems = complete_networks(cfg.announce, cfg.irc)
    cfg = dataclasses.replace(cfg, irc=networks)
    problems.extend(irc_problems)
    object.__setattr__(cfg, "notices", tuple(notices))
    validate(cfg, problems)
    return cfg, problems


def secret_values(cfg: Any) -> list[str]:
    """Every non-empty secret value in the config, so logging can redact them."""
    found: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "disabled" and isinstance(cfg, Config):
            for _, entry in value:
                found.extend(secret_values(entry))
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for entry in value:
                found.extend(secret_values(entry))
        elif dataclasses.is_dataclass(value):
            found.extend(secret_values(value))
        elif (f.metadata.get("secret") or f.name in SECRET_FIELDS) and isinstance(value, Mapping):
            found.extend(str(v) for v in value.values() if v)  # a table of references ([[irc]] settings)
        elif (f.metadata.get("secret") or f.name in SECRET_FIELDS) and value:
            found.append(str(value))
    return found


def describe(cfg: Any) -> dict[str, Any]:
    """The effective config as a dict, with secrets masked (for `check-config` and the status API)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "disabled" and isinstance(cfg, Config):
            out[f.name] = [{"section": section, **describe(entry)} for section, entry in value]
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            out[f.name] = [describe(entry) for entry in value]
        elif dataclasses.is_dataclass(value):
            out[f.name] = describe(value)
        elif (f.metadata.get("secret") or f.name in SECRET_FIELDS) and isinstance(value, Mapping):
            out[f.name] = {k: _describe_secret(str(v)) if v else "" for k, v in value.items()}
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
