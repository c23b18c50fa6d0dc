"""The rules a loaded configuration must meet (pure): every problem is collected, each naming its key. Each
list entry's own settings are checked by its owner's validator (the clients' ``*_settings`` modules), enabled or
not; references between entries only for enabled ones (a disabled entry may wait for what it points at).
What the configuration points at (secrets, key files) is checked by annexd.config_check.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from annexd.clients.delivery_settings import validate_target
from annexd.clients.feed_settings import validate_feed, validate_interval
from annexd.clients.mediaserver_settings import validate_media_server
from annexd.clients.notify_settings import validate_destination
from annexd.clients.qbittorrent_settings import validate_client
from annexd.clients.torznab_settings import validate_indexer
from annexd.config_loader import http_url_problem
from annexd.domain.monitoring import MONITOR_MODES
from annexd.domain.naming import validate_template

if TYPE_CHECKING:
    from annexd.config import Config, EncoderAgent


def validate(cfg: Config, problems: list[str]) -> None:
    """Append every problem of ``cfg`` to ``problems``."""
    _validate_core(cfg, problems)
    _validate_entries(cfg, problems)
    _validate_people(cfg, problems)
    for kind in ("movie", "episode", "daily"):
        problems.extend(f"naming.{kind}: {p}" for p in validate_template(getattr(cfg.naming, kind), kind))


def _validate_core(cfg: Config, problems: list[str]) -> None:
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
    for f in dataclasses.fields(cfg.worker):
        if f.type in ("int", int) and f.name.endswith("interval") and getattr(cfg.worker, f.name) < 10:
            problems.append(f"worker.{f.name}: must be at least 10 ms")
    if cfg.logging.level.lower() not in ("debug", "info", "warning", "error"):
        problems.append(f"logging.level: {cfg.logging.level!r} is not one of debug, info, warning, error")
    if cfg.logging.format not in ("auto", "json", "console"):
        problems.append(f"logging.format: {cfg.logging.format!r} is not one of auto, json, console")
    if (why := http_url_problem(cfg.tmdb.base_url)) is not None:
        problems.append(f"tmdb.base_url: {why}")
    if cfg.supervisor.restart_budget < 0:
        problems.append("supervisor.restart_budget: must be >= 0")
    for section in ("search", "download", "encoders", "delivery"):
        problems.extend(f"{section}.retry: {p}" for p in getattr(cfg, section).retry.problems())
    if min(cfg.health.interval_seconds, cfg.health.timeout_seconds) <= 0:
        problems.append("health: interval_seconds and timeout_seconds must be positive")
    for agent in cfg.encoders.agents:
        problems.extend(_agent_problems(agent))
    _validate_feeds(cfg, problems)


def _validate_entries(cfg: Config, problems: list[str]) -> None:
    """Each entry's own settings, enabled or not; references between entries only for enabled ones (a
    disabled entry may wait for what it points at)."""
    validators: dict[str, Any] = {"targets": validate_target, "media_servers": validate_media_server,
                                  "indexers": validate_indexer, "download_clients": validate_client}
    entries = [(section, e) for section in validators for e in getattr(cfg, section)] + [
        (section, e) for section, e in cfg.disabled if section in validators]
    for section, entry in entries:
        problems.extend(f"{section}[{entry.name}]: {p}" for p in validators[section](entry))
    for target in cfg.targets:
        if target.media_server and target.media_server not in {m.name for m in cfg.media_servers}:
            problems.append(f"targets[{target.name}].media_server: no enabled media server named "
                            f"{target.media_server!r}")
        if target.encode_profile and target.encode_profile not in {p.name for p in cfg.encode_profiles}:
            problems.append(f"targets[{target.name}].encode_profile: no encode profile named {target.encode_profile!r}")


def _agent_problems(agent: EncoderAgent) -> list[str]:
    key = f"encoders.agents[{agent.id or '?'}].path_map"
    problems = []
    for pair in agent.path_map:
        if len(pair) != 2 or not all(p.startswith("/") and ".." not in p.split("/") for p in pair):
            problems.append(f"{key}: {list(pair)!r} is not a pair of absolute paths [daemon prefix, agent prefix]")
    return problems


def _validate_feeds(cfg: Config, problems: list[str]) -> None:
    for feed in [*cfg.feeds, *(entry for section, entry in cfg.disabled if section == "feeds")]:
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
    for dest in [*cfg.notifications, *(entry for section, entry in cfg.disabled if section == "notifications")]:
        problems.extend(f"notifications[{dest.name}].{p}" for p in validate_destination(dest))
    names = [d.name for d in cfg.notifications]
    problems.extend(f"notifications[{n}]: two destinations have this name" for n in sorted(
        {n for n in names if names.count(n) > 1}))
    if cfg.notify.poll_interval < 10:
        problems.append("notify.poll_interval: must be at least 10 ms")
