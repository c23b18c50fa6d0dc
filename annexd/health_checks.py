"""The checks behind /health, one per dependency of each configured stage (the daemon wires them; the
HealthMonitor runs them on its timer). Not pure: each reaches what it checks.

down (HTTP 503): the database round trip; every actor alive.
degraded (HTTP 200): each download client reachable and logged in; at least one encoder agent connected while
the encode stage runs; each target reachable over its transport; each media server answering with its token;
each indexer not paused by its backoff for a long time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.context import ActorContext
from annexd.clients import delivery, mediaservers
from annexd.clients.delivery_settings import Target
from annexd.clients.mediaserver_settings import MediaServer
from annexd.clients.qbittorrent import QbtClient
from annexd.config import HealthConfig
from annexd.domain.provider_health import ProviderBackoff
from annexd.encoder.hub import EncoderHub
from annexd.errors import ProviderAuthError, ProviderError
from annexd.health import Check
from annexd.http.views import actor_states
from store import queries

Result = tuple[bool, Any]


def core(ctx: ActorContext, cfg: HealthConfig) -> list[Check]:
    def database() -> Result:
        started = time.perf_counter()
        with ctx.db.connection_context():
            ctx.db.execute_sql("SELECT 1").fetchone()
        return True, {"round_trip_seconds": round(time.perf_counter() - started, 4)}

    def actors() -> Result:
        states = actor_states(ctx)
        return bool(states) and all(a["alive"] for a in states.values()), states

    return [Check("database", "down", database, cfg.timeout_seconds),
            Check("actors", "down", actors, cfg.timeout_seconds)]


def stages(ctx: ActorContext, cfg: HealthConfig, *, qbt: Mapping[str, QbtClient], hub: EncoderHub | None,
           targets: Sequence[Target], servers: Mapping[str, MediaServer], indexers: Sequence[str]) -> list[Check]:
    checks = [Check(f"download_clients.{name}", "degraded", _qbt(client), cfg.timeout_seconds)
              for name, client in qbt.items()]
    if hub is not None:
        checks.append(Check("encoders", "degraded", _encoders(hub), cfg.timeout_seconds))
    checks += [Check(f"targets.{t.name}", "degraded", _answers(functools.partial(delivery.probe, t)),
                     cfg.timeout_seconds) for t in targets]
    checks += [Check(f"media_servers.{name}", "degraded", _answers(functools.partial(mediaservers.ping, s)),
                     cfg.timeout_seconds) for name, s in servers.items()]
    checks += [Check(f"indexers.{name}", "degraded", _indexer(ctx, name, cfg.indexer_backoff_minutes * 60),
                     cfg.timeout_seconds) for name in indexers]
    return checks


def _qbt(client: QbtClient) -> Any:
    def check() -> Result:
        try:
            return True, {"version": client.ping(), "url": client.settings.url}
        except ProviderAuthError:
            return False, f"{client.settings.url}: login refused (credentials wrong; not retried until fixed)"
        except ProviderError as exc:
            return False, str(exc)
    return check


def _encoders(hub: EncoderHub) -> Any:
    def check() -> Result:
        agents = [a["id"] for a in hub.snapshot()["agents"]]
        return (True, {"agents": agents}) if agents else (False, "no encoder agent connected")
    return check


def _answers(probe: Callable[[], str]) -> Any:
    """A check of a provider that answers (the probe's detail) or raises ProviderError (why not)."""
    def check() -> Result:
        try:
            return True, probe()
        except ProviderError as exc:
            return False, str(exc)
    return check


def _indexer(ctx: ActorContext, name: str, long_seconds: float) -> Any:
    def check() -> Result:
        with ctx.db.connection_context():
            row = next((r for r in queries.provider_states("indexer") if r.name == name), None)
        if row is None or not row.state:
            return True, "no failures recorded"
        backoff = ProviderBackoff.from_dict(row.state, started_at=0.0)
        paused = backoff.retry_in(time.time())
        if paused < long_seconds:
            return True, {"failures_in_a_row": backoff.level, "paused_seconds": round(paused)}
        return False, (f"paused for {paused / 60:.0f} more minutes after {backoff.level} failures in a row: "
                       f"{row.last_error or 'unknown error'}")
    return check
