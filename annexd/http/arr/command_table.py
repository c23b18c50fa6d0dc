"""The commands the Radarr/Sonarr API accepted, kept in memory for ``GET command`` and ``command/{id}``.

Bounded (the newest :data:`KEEP` per app) and not persisted, on purpose: annexd runs a command at once (a search
is woken, a refresh is a no-op), so a command is finished when it is answered and its record only reports that;
clients poll a command for seconds after posting it, and none reads one across a restart (Radarr itself keeps
finished commands for a short while only). Ids start again at 1 after a restart. Not pure: a lock and a table.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from annexd.http.arr.resources import CommandRecord

KEEP = 200


class CommandTable:
    def __init__(self, keep: int = KEEP):
        self._keep = keep
        self._lock = threading.Lock()
        self._next = 1
        self._records: OrderedDict[int, CommandRecord] = OrderedDict()

    def add(self, name: str, body: dict[str, Any], queued: datetime, message: str,
            user_agent: str | None = None) -> CommandRecord:
        with self._lock:
            record = CommandRecord(self._next, name, body, queued, message, user_agent)
            self._next += 1
            self._records[record.id] = record
            while len(self._records) > self._keep:
                self._records.popitem(last=False)
        return record

    def get(self, command_id: int) -> CommandRecord | None:
        with self._lock:
            return self._records.get(command_id)

    def all(self) -> list[CommandRecord]:
        with self._lock:
            return list(self._records.values())
