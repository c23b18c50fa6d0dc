"""Daemons sharing one database: heartbeats, periodic task runs and the backoff state of external providers
(claims are store.queries.claims)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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


def instance_live(instance_id: str, live_since: datetime) -> bool:
    """Whether this daemon's heartbeat is recorded and recent (it may hold a long-lived claim only then)."""
    return DaemonInstance.select().where((DaemonInstance.id == instance_id)
                                         & (DaemonInstance.last_seen >= live_since)).exists()


def hold_task(name: str, owner: str, now: datetime, lease_seconds: float, live_since: datetime) -> bool:
    """Claim or renew a long-lived hold on task ``name`` (an IRC network one daemon stays connected to).

    One UPDATE decides, as :func:`claim_task` does: the row is taken when it is free, already ``owner``'s, its
    lease ran out, or the daemon holding it is gone (forgotten, or silent since ``live_since``), so a dead
    daemon's hold passes on without waiting for its lease. Renewed on every tick, the lease outlives a short
    database outage; the holder gives it up with :func:`release_task`.
    """
    TaskState.insert(name=name).on_conflict_ignore().execute()
    live = DaemonInstance.select(DaemonInstance.id).where(DaemonInstance.last_seen >= live_since)
    free = (TaskState.claimed_by.is_null() | (TaskState.claimed_by == owner) | TaskState.lease_until.is_null()
            | (TaskState.lease_until < now) | TaskState.claimed_by.not_in(live))
    return bool(TaskState.update(claimed_by=owner, lease_until=now + timedelta(seconds=lease_seconds),
                                 last_run_at=now).where((TaskState.name == name) & free).execute())


def release_task(name: str, owner: str) -> bool:
    """Give up ``owner``'s hold on task ``name`` (a clean stop), so another daemon takes it at once."""
    return bool(TaskState.update(claimed_by=None, lease_until=None).where(
        (TaskState.name == name) & (TaskState.claimed_by == owner)).execute())
