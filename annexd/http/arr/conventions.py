"""The Radarr/Sonarr v3 JSON conventions (pure): nulls omitted, ``id`` omitted when 0, UTC datetimes as
``yyyy-MM-ddTHH:mm:ssZ``, TimeSpans as ``[d.]hh:mm:ss``, case-insensitive query names, ``true``/``True``
booleans, and the 400 validation array."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

APPS = ("radarr", "sonarr")
APP_NAMES = {"radarr": "Radarr", "sonarr": "Sonarr"}
# Radarr 5 accepts any tag label (Overseerr's tag requests need it); Sonarr 4 is what clients expect today.
VERSIONS = {"radarr": "5.28.0.0", "sonarr": "4.0.19.0"}
NEVER = "0001-01-01T00:00:00Z"  # Radarr's/Sonarr's "added" of a title that is not in the library


def clean(value: Any) -> Any:
    """Drop null properties everywhere and ``id`` where it is 0 (a lookup result not in the library)."""
    if isinstance(value, Mapping):
        return {k: clean(v) for k, v in value.items() if v is not None and not (k == "id" and v == 0)}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def utc(value: datetime | date | None) -> str | None:
    """A naive-UTC (or aware) datetime, or a date at midnight, as ``yyyy-MM-ddTHH:mm:ssZ``."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def timespan(seconds: float | None) -> str | None:
    """.NET's TimeSpan text: ``hh:mm:ss``, or ``d.hh:mm:ss`` from a day on."""
    if seconds is None:
        return None
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}.{text}" if days else text


def parse_bool(value: str | None, default: bool = False) -> bool:
    """``true``/``True``/``1`` (any case) -> True; absent -> ``default``; anything else False."""
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


@dataclass(frozen=True)
class Query:
    """Query parameters matched case-insensitively by name (Overseerr sends ``qualityProfile``, pyarr ``tmdbid``);
    repeated keys keep every value (``movieIds=1&movieIds=2``)."""

    values: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, items: Any) -> Query:
        return cls(tuple((str(k).lower(), str(v)) for k, v in items))

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.values if k == wanted), None)

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.values if k == wanted]

    def flag(self, name: str, default: bool = False) -> bool:
        return parse_bool(self.get(name), default)

    def integer(self, name: str) -> int | None:
        """The parameter as an int; None when absent; ValueError when it is not one."""
        raw = self.get(name)
        return None if raw is None or raw == "" else int(raw)

    def integers(self, name: str) -> list[int]:
        """Every value of a repeated parameter (also comma-separated) as ints; ValueError for a bad one."""
        return [int(part) for raw in self.all(name) for part in raw.split(",") if part.strip()]


def lower_keys(body: Any) -> Any:
    """A JSON body with its object keys lower-cased (the *arr apps read keys case-insensitively)."""
    if isinstance(body, dict):
        return {str(k).lower(): lower_keys(v) for k, v in body.items()}
    if isinstance(body, list):
        return [lower_keys(v) for v in body]
    return body


def validation_error(prop: str, message: str, attempted: Any = None, code: str = "") -> dict[str, Any]:
    """One entry of the *arr apps' 400 validation array."""
    return {"propertyName": prop, "errorMessage": message, "attemptedValue": attempted, "severity": "error",
            "errorCode": code or "PredicateValidator", "formattedMessagePlaceholderValues": {}}
