"""The OpenAPI 3 document describing the HTTP API (kept beside the handlers; a test checks they agree)."""

from __future__ import annotations

from typing import Any

from annexd import __version__
from annexd.domain.pipeline import ProcessingStatus, RequestStatus

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "details": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_EPISODE_IN = {
    "type": "object",
    "required": ["season", "episode"],
    "properties": {
        "season": {"type": "integer", "minimum": 0, "maximum": 1000},
        "episode": {"type": "integer", "minimum": 1, "maximum": 100000},
        "title": {"type": "string", "maxLength": 500},
        "air_date": {"type": "string", "format": "date"},
    },
}
_REQUEST_IN = {
    "type": "object",
    "required": ["type", "title"],
    "properties": {
        "type": {"type": "string", "enum": ["movie", "tv"]},
        "title": {"type": "string", "minLength": 1, "maxLength": 500},
        "year": {"type": "integer", "minimum": 1870, "maximum": 2200},
        "tmdb_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "tvdb_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "imdb_id": {"type": "string", "pattern": "^tt[0-9]{5,10}$"},
        "targets": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
        "quality_profile": {"type": "string"},
        "priority": {"type": "integer", "minimum": -100, "maximum": 100},
        "seasons": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "monitor": {"type": "string", "enum": ["none", "future", "all"]},
        "monitor_seasons": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1000}},
        "episodes": {"type": "array", "items": _EPISODE_IN, "minItems": 1},
    },
}
_REQUEST_OUT = {
    "type": "object",
    "required": ["id", "type", "title", "status", "progress", "items"],
    "properties": {
        "id": {"type": "integer"}, "type": {"type": "string"}, "title": {"type": "string"},
        "year": {"type": ["integer", "null"]}, "status": {"type": "string", "enum": [s.value for s in RequestStatus]},
        "progress": {"type": "number"}, "items": {"type": "integer"}, "counts": {"type": "object"},
        "monitor": {"type": "string", "enum": ["none", "future", "all"]},
        "monitor_seasons": {"type": ["array", "null"], "items": {"type": "integer"}},
        "follows": {"type": "string"},
    },
}
_ITEM_OUT = {
    "type": "object",
    "required": ["id", "status", "progress"],
    "properties": {
        "id": {"type": "integer"}, "status": {"type": "string", "enum": [s.value for s in ProcessingStatus]},
        "progress": {"type": "number"}, "error": {"type": ["string", "null"]},
    },
}
_EPISODES_OUT = {
    "type": "object",
    "required": ["seasons"],
    "properties": {"seasons": {"type": "array", "items": {
        "type": "object", "required": ["season", "episodes"],
        "properties": {"season": {"type": "integer"}, "episodes": {"type": "array", "items": {"type": "object"}}},
    }}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_SECURED: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "Health checks", "responses": {
            "200": _json({"type": "object"}, "healthy"), "503": _json({"type": "object"}, "a check failed")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
            "200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/api/v1/status": {"get": {"summary": "Items by status, actors, pool", "responses": {
            "200": _json({"type": "object"}, "status")}}},
        "/api/v1/requests": {
            "post": {
                "summary": "Request a movie or TV episodes", "security": _SECURED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST_IN}}},
                "responses": {
                    "201": _json({"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "integer"}, "pending_approval": {"type": "boolean"}}}, "created"),
                    "429": {**_json(_QUOTA_ERROR, "over the caller's quota"), "headers": {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}},
                    "400": _err("not JSON"), "401": _err("no or wrong API key"), "413": _err("too large"),
                    "422": _err("invalid fields"), "502": _err("TMDB failed"), "503": _err("database down"),
                },
            },
            "get": {
                "summary": "List requests with computed status",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string",
                                                                 "enum": [s.value for s in RequestStatus]}},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                ],
                "responses": {"200": _json({"type": "object", "required": ["requests", "total"], "properties": {
                    "requests": {"type": "array", "items": _REQUEST_OUT}, "total": {"type": "integer"},
                    "page": {"type": "integer"}, "per_page": {"type": "integer"}}}, "a page"),
                    "400": _err("bad query")},
            },
        },
        "/api/v1/requests/{id}": {
            "get": {"summary": "One request", "parameters": [_ID], "responses": {
                "200": _json(_REQUEST_OUT, "the request"), "404": _err("unknown id")}},
            "delete": {"summary": "Cancel and delete a request (its torrents too)", "parameters": [_ID],
                       "security": _SECURED, "responses": {
                           "204": {"description": "deleted"}, "401": _err("no or wrong API key"),
                           "404": _err("unknown id")}},
        },
        "/api/v1/requests/{id}/episodes": {"get": {"summary": "Episodes by season", "parameters": [_ID],
                                                    "responses": {"200": _json(_EPISODES_OUT, "episodes"),
                                                                  "404": _err("unknown id")}}},
        "/api/v1/requests/{id}/items": {"get": {"summary": "Every work item of a request, with deliveries",
                                                 "parameters": [_ID], "responses": {
                                                     "200": _json({"type": "object", "required": ["items"],
                                                                   "properties": {"items": {"type": "array",
                                                                                            "items": _ITEM_OUT}}},
                                                                  "items"),
                                                     "404": _err("unknown id")}}},
        "/api/v1/requests/{id}/cancel": {"post": {"summary": "Cancel a request", "parameters": [_ID],
                                                   "security": _SECURED, "responses": {
                                                       "200": _json({"type": "object"}, "cancelled"),
                                                       "401": _err("no or wrong API key"),
                                                       "404": _err("unknown id")}}},
        "/api/v1/items/{id}": {"get": {"summary": "One work item", "parameters": [_ID], "responses": {
            "200": _json(_ITEM_OUT, "the item"), "404": _err("unknown id")}}},
        "/api/v1/items/{id}/retry": {"post": {"summary": "Retry a FAILED item", "parameters": [_ID],
                                               "security": _SECURED, "responses": {
                                                   "200": _json({"type": "object"}, "now PENDING"),
                                                   "401": _err("no or wrong API key"), "404": _err("unknown id"),
                                                   "409": _err("not FAILED")}}},
        "/api/v1/encoders": {"get": {"summary": "Connected encoder agents, capabilities and current jobs",
                                     "responses": {"200": _json({"type": "object"}, "agents")}}},
        "/api/v1/items/{id}/accept-release": {"post": {
            "summary": "Take one of the kept lower-quality alternatives", "parameters": [_ID],
            "security": _SECURED,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["release_id"],
                "properties": {"release_id": {"type": "string", "minLength": 1, "maxLength": 200}}}}}},
            "responses": {"200": _json({"type": "object"}, "now FOUND"), "400": _err("not JSON"),
                          "401": _err("no or wrong API key"), "404": _err("unknown id"),
                          "409": _err("wrong status"), "422": _err("unknown release")}}},
        "/api/v1/feeds": {"get": {"summary": "Feeds: last and next poll, error, cursor", "responses": {
            "200": _json({"type": "object", "required": ["feeds"], "properties": {
                "feeds": {"type": "array", "items": {"type": "object"}}}}, "feeds")}}},
        "/api/v1/feeds/sync": {"post": {"summary": "Poll every feed now", "security": _SECURED, "responses": {
            "202": _json({"type": "object"}, "the poll runs in the background"),
            "401": _err("no or wrong API key"), "409": _err("no feeds configured")}}},
    }
    paths.update(_people_paths())
    _secure(paths)
    return {
        "openapi": "3.0.3",
        "info": {"title": "annexd", "version": __version__,
                 "description": "Media-pipeline daemon API. Every call needs the API key (X-Api-Key or "
                                "Authorization: Bearer), GETs too; /health, /metrics (when public) and this "
                                "document are open."},
        "security": _SECURED,
        "paths": paths,
        "components": {"securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }},
    }


_APPROVE_IN = {
    "type": "object", "additionalProperties": False,
    "description": "{} approves every pending item; seasons or items (not both) only those",
    "properties": {"seasons": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0,
                                                                           "maximum": 1000}},
                   "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}},
}
_DECLINE_IN = {"type": "object", "additionalProperties": False,
               "properties": {"reason": {"type": "string", "maxLength": 500}}}
_USER_OUT = {"type": "object", "required": ["name", "role"], "properties": {
    "name": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "requester"]},
    "enabled": {"type": "boolean"}, "auto_approve": {"type": "array", "items": {"type": "string"}},
    "has_key": {"type": "boolean"}}}
_QUOTA_ERROR = {"type": "object", "required": ["error", "resets_at"], "properties": {
    "error": {"type": "string"}, "resets_at": {"type": "string", "format": "date-time"}}}


def _people_paths() -> dict[str, Any]:
    """Users, approvals, quotas and notifications (issue 19)."""
    ids = {"type": "array", "items": {"type": "integer"}}
    return {
        "/api/v1/requests/{id}/approve": {"post": {
            "summary": "Approve pending items (admins); search starts at once", "parameters": [_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _APPROVE_IN}}},
            "responses": {"200": _json({"type": "object", "required": ["id", "approved_items"], "properties": {
                "id": {"type": "integer"}, "approved_items": ids}}, "approved"),
                "400": _err("not JSON"), "403": _err("not an admin"), "404": _err("unknown id"),
                "409": _err("nothing named awaits approval"), "422": _err("seasons and items, or a bad list")}}},
        "/api/v1/requests/{id}/decline": {"post": {
            "summary": "Decline every pending item, with an optional reason (admins)", "parameters": [_ID],
            "requestBody": {"required": False, "content": {"application/json": {"schema": _DECLINE_IN}}},
            "responses": {"200": _json({"type": "object", "required": ["id", "declined_items"], "properties": {
                "id": {"type": "integer"}, "declined_items": ids}}, "declined"),
                "400": _err("not JSON"), "403": _err("not an admin"), "404": _err("unknown id"),
                "409": _err("nothing awaits approval"), "422": _err("bad reason")}}},
        "/api/v1/requests/{id}/approvals": {"get": {
            "summary": "Approval history of a request", "parameters": [_ID],
            "responses": {"200": _json({"type": "object", "required": ["approvals"], "properties": {
                "approvals": {"type": "array", "items": {"type": "object"}}}}, "history"),
                "404": _err("unknown id")}}},
        "/api/v1/me": {"get": {"summary": "The caller: name, role, auto-approve, quotas",
                               "responses": {"200": _json(_USER_OUT, "the caller")}}},
        "/api/v1/notifications": {"get": {
            "summary": "Notification destinations and their outbox counts (admins)",
            "responses": {"200": _json({"type": "object", "required": ["destinations"], "properties": {
                "destinations": {"type": "array", "items": {"type": "object"}}}}, "destinations"),
                "403": _err("not an admin")}}},
        "/api/v1/notifications/test": {"post": {
            "summary": "Send a Test event to every destination (admins)",
            "responses": {"202": _json({"type": "object"}, "queued"), "403": _err("not an admin")}}},
    }


OPEN = frozenset({"/health", "/metrics"})  # /metrics: open unless http.metrics_public is false


def _secure(paths: dict[str, Any]) -> None:
    """Every operation takes the key and may answer 401 without it; the open ones say so."""
    for path, operations in paths.items():
        for operation in operations.values():
            if path in OPEN:
                operation["security"] = [{}, *_SECURED] if path == "/metrics" else []
                continue
            operation["security"] = _SECURED
            operation["responses"].setdefault("401", _err("no or wrong API key"))


def add_path(doc: dict[str, Any], path: str, spec: dict[str, Any]) -> None:
    doc["paths"].setdefault(path, {}).update(spec)
