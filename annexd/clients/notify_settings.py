"""Notification destinations' settings (``[[notifications]]`` and ``[notify]``), apart from the clients so
``annexd.config`` builds them without importing apprise or requests (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annexd.domain.notifications import Kind

KINDS = ("apprise", "webhook")


@dataclass(frozen=True)
class NotificationDestination:
    """One destination, known by its ``name`` (metrics, logs and the outbox name it, never its URL).

    ``kind``: ``apprise`` (``url`` is an Apprise URL: discord://, ntfy://, tgram://, mailto://, pover://,
    json://...) or ``webhook`` (a JSON POST in Radarr's/Sonarr's webhook shapes). ``url`` carries tokens: it is
    a secret reference (``secret:NAME``, ``env:NAME``, ``file:/path``). ``events``: the event kinds it takes
    (``request.*`` for a group); empty takes every event."""

    name: str
    kind: str = "apprise"
    url: str = field(default="", repr=False, metadata={"secret": True})
    events: tuple[str, ...] = ()
    timeout: float = 10.0


@dataclass(frozen=True)
class NotifyConfig:
    # Webhook payloads' instanceName and applicationUrl (as Radarr/Sonarr send them).
    instance_name: str = "annexd"
    application_url: str = ""
    # How often the NotifyWorker looks for events to send (ms); the API wakes it at once.
    poll_interval: int = 2000
    # Sent and failed notifications are forgotten after this many days.
    retention_days: float = 14.0


def validate_destination(dest: NotificationDestination) -> list[str]:
    problems = []
    if dest.kind not in KINDS:
        problems.append(f"kind: {dest.kind!r} is not one of {', '.join(KINDS)}")
    if not dest.url:
        problems.append("url: required (a secret reference such as secret:discord)")
    known = {k.value for k in Kind}
    for event in dest.events:
        if event not in known and not (event.endswith(".*") and any(k.startswith(event[:-1]) for k in known)):
            problems.append(f"events: {event!r} is not one of {', '.join(sorted(known))} (or a group like request.*)")
    if dest.timeout <= 0:
        problems.append("timeout: must be > 0")
    return problems
