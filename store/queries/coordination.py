"""Daemons sharing one database: heartbeats, periodic task runs and the backoff state of external providers
(claims are store.queries.claims)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.models import DaemonInstance, ProviderHealth, TaskState


def heartbeat(instance_id: str, host: str, pid: int, now: datetime) -> None:
    DaemonInstance.insert(id=instance_id, host=host, pid=pid, started_at=now, last_seen=now).on_conflict(
        conflict_target=[DaemonInstance.id], update={"last_seen": now}).execute()


def forget_instances(instance_ids: Sequence[str]) -> None:
    if instance_ids:
        DaemonInstance.delete().where(DaemonInstance.id.in_(list(instance_ids))).execute()


def instances_on(host: str) -> list[DaemonInstance]:
    return list(DaemonInstance.select().where(DaemonInstance.host == host))


def record_task_run(name: str, now: datetime, error: str | None = None) -> None:
    values = {"last_run_at": now, "last_error": error}
    if error is None:
        values["last_ok_at"] = now
    TaskState.insert(name=name, **values).on_conflict(
        conflict_target=[TaskState.name], update=values
    ).execute()


def load_provider_state(kind: str, name: str) -> dict[str, Any] | None:
    row = ProviderHealth.get_or_none((ProviderHealth.kind == kind) & (ProviderHealth.name == name))
    return row.state if row is not None else None


def save_provider_state(kind: str, name: str, state: dict[str, Any], error: str | None, now: datetime) -> None:
    values = {"state": state, "last_error": error, "updated_at": now}
    ProviderHealth.insert(kind=kind, name=name, **values).on_conflict(
        conflict_target=[ProviderHealth.kind, ProviderHealth.name], update=values
    ).execute()


def provider_states(kind: str | None = None) -> list[ProviderHealth]:
    query = ProviderHealth.select().order_by(ProviderHealth.kind, ProviderHealth.name)
    return list(query.where(ProviderHealth.kind == kind) if kind else query)
