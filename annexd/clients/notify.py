"""Notification destinations: Apprise (one URL per destination: Discord, ntfy, Telegram, e-mail, Pushover,
json://... through a well-kept library rather than hand-written clients) and a generic JSON webhook in
Radarr's/Sonarr's webhook shapes. Not pure: each send is one network call with a timeout; a failure raises
ProviderError naming the destination, never its URL (the URL carries tokens)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import apprise
import requests

from annexd.clients.notify_settings import NotificationDestination, NotifyConfig
from annexd.domain.notifications import message, webhook_payload
from annexd.errors import ProviderError

# Apprise logs each failure itself, URL details included; annexd logs the outcome by destination name.
logging.getLogger("apprise").setLevel(logging.CRITICAL)


class Destination(Protocol):
    name: str

    def send(self, kind: str, facts: Mapping[str, Any]) -> None:
        """Deliver one event; ProviderError when it did not arrive."""


class AppriseDestination:
    def __init__(self, settings: NotificationDestination):
        self.name = settings.name
        self._apprise = apprise.Apprise()
        if not self._apprise.add(settings.url):
            raise ProviderError(f"notify:{self.name}", "Apprise does not understand this destination's URL")
        self._timeout = settings.timeout

    def send(self, kind: str, facts: Mapping[str, Any]) -> None:
        title, body = message(kind, facts)
        try:
            ok = self._apprise.notify(title=title, body=body)
        except Exception as exc:  # a plugin's own error: the send failed, the worker goes on
            raise ProviderError(f"notify:{self.name}", f"Apprise failed: {type(exc).__name__}") from None
        if not ok:
            raise ProviderError(f"notify:{self.name}", "Apprise could not deliver the notification")


class WebhookDestination:
    def __init__(self, settings: NotificationDestination, notify: NotifyConfig):
        self.name = settings.name
        self._url = settings.url
        self._timeout = settings.timeout
        self._notify = notify
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "annexd"

    def send(self, kind: str, facts: Mapping[str, Any]) -> None:
        body = webhook_payload(kind, facts, self._notify.instance_name, self._notify.application_url or None)
        try:
            resp = self._http.post(self._url, json=body, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise ProviderError(f"notify:{self.name}", f"webhook failed: {type(exc).__name__}") from None
        with resp:
            if not 200 <= resp.status_code < 300:
                raise ProviderError(f"notify:{self.name}", f"webhook answered HTTP {resp.status_code}")


def destination(settings: NotificationDestination, notify: NotifyConfig) -> Destination:
    """The client for one configured destination (its ``url`` already resolved from its secret reference)."""
    if settings.kind == "webhook":
        return WebhookDestination(settings, notify)
    return AppriseDestination(settings)
