"""The OpenAPI 3.1 document of the HTTP API (pure data; a test validates the served document with
openapi-spec-validator and checks every route of the app is in it).

One place per route: each operation is one ``Operation`` in ``OPERATIONS`` (method, path, operationId, tag,
summary, parameters, body, responses, access); shared shapes are ``components.schemas`` (``ref("Item")``) and
shared answers ``components.responses`` (``NotFound``, ``Unauthorized``...). To document a new route, add one
entry. Every operation takes the API key (and may answer 401) unless its ``access`` says "open" (/health) or
"optional" (/metrics, open unless ``http.metrics_public`` is false).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from annexd import __version__
from annexd.domain.monitoring import MONITOR_MODES
from annexd.domain.pipeline import ProcessingStatus, RequestStatus

JsonSchema = dict[str, Any]
_NULLABLE_STR: JsonSchema = {"type": ["string", "null"]}
_NULLABLE_INT: JsonSchema = {"type": ["integer", "null"]}
_NULLABLE_NUM: JsonSchema = {"type": ["number", "null"]}
_TIME: JsonSchema = {"type": ["string", "null"], "description": "ISO 8601, UTC"}
HEALTH_STATES = ["ok", "degraded", "down"]


def ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: JsonSchema) -> JsonSchema:
    return {"type": "object", "required": required, "properties": properties}


SCHEMAS: dict[str, JsonSchema] = {
    "Error": _obj(["error"], error={"type": "string"},
                  details={"type": "object", "additionalProperties": {"type": "string"}},
                  id={"type": "integer", "description": "the request that already holds the title (409)"}),
    "EpisodeIn": _obj(["season", "episode"],
                      season={"type": "integer", "minimum": 0, "maximum": 1000},
                      episode={"type": "integer", "minimum": 1, "maximum": 100000},
                      title={"type": "string", "maxLength": 500},
                      air_date={"type": "string", "format": "date"}),
    "RequestIn": _obj(
        ["type", "title"],
        type={"type": "string", "enum": ["movie", "tv"]},
        title={"type": "string", "minLength": 1, "maxLength": 500},
        year={"type": "integer", "minimum": 1870, "maximum": 2200},
        tmdb_id={"type": "integer", "minimum": 1, "maximum": 2147483647},
        tvdb_id={"type": "integer", "minimum": 1, "maximum": 2147483647},
        imdb_id={"type": "string", "pattern": "^tt[0-9]{5,10}$"},
        targets={"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
                 "maxItems": 20},
        quality_profile={"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
        priority={"type": "integer", "minimum": -100, "maximum": 100},
        seasons={"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1000}},
        monitor={"type": "string", "enum": list(MONITOR_MODES)},
        monitor_seasons={"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1000}},
        episodes={"type": "array", "items": ref("EpisodeIn"), "minItems": 1, "maxItems": 5000},
    ),
    "Created": _obj(["id"], id={"type": "integer"},
                    pending_approval={"type": "boolean", "description": "the items wait for an admin's approval"}),
    "Added": _obj(
        ["id", "added"], id={"type": "integer"}, pending_approval={"type": "boolean"},
        added=_obj(["episodes", "seasons", "targets", "monitor"],
                   episodes={"type": "array", "items": _obj(["season", "episode"], season={"type": "integer"},
                                                            episode={"type": "integer"})},
                   seasons={"type": "array", "items": {"type": "integer"}},
                   targets={"type": "array", "items": {"type": "string"}},
                   monitor={"type": ["string", "null"], "description": "how the request now follows its show"})),
    "Request": _obj(
        ["id", "type", "title", "status", "progress", "items", "counts"],
        id={"type": "integer"}, type={"type": "string", "enum": ["movie", "tv"]}, title={"type": "string"},
        year=_NULLABLE_INT, tmdb_id=_NULLABLE_INT, tvdb_id=_NULLABLE_INT, imdb_id=_NULLABLE_STR,
        targets={"type": "array", "items": {"type": "string"}}, quality_profile={"type": "string"},
        requested_by={"type": "string"}, priority={"type": "integer"},
        status={"type": "string", "enum": [s.value for s in RequestStatus]}, progress={"type": "number"},
        items={"type": "integer"},
        counts={"type": "object", "additionalProperties": {"type": "integer"},
                "description": "items by status"},
        monitor={"type": "string", "enum": list(MONITOR_MODES)},
        monitor_seasons={"type": ["array", "null"], "items": {"type": "integer"}},
        follows={"type": "string", "description": "what the request follows, in words"},
        legacy_id={**_NULLABLE_STR, "description": "imported from legacy Annex: the oldest merged request's id"},
        legacy_ids={"type": ["array", "null"], "items": {"type": "string"},
                    "description": "every legacy Annex request merged into this one (null when not imported)"},
        created_at=_TIME),
    "RequestPage": _obj(["page", "per_page", "total", "requests"], page={"type": "integer"},
                        per_page={"type": "integer"}, total={"type": "integer"},
                        requests={"type": "array", "items": ref("Request")}),
    "Delivery": _obj(["target", "status"], target={"type": "string"},
                     status={"type": "string", "enum": ["PENDING", "DONE", "FAILED"]},
                     remote_path=_NULLABLE_STR, size=_NULLABLE_INT, error=_NULLABLE_STR, rescan=_NULLABLE_STR,
                     delivered_at=_TIME),
    "Alternative": _obj(["id", "title"], id={"type": "string", "description": "accept-release's release_id"},
                        title={"type": "string"}, size=_NULLABLE_INT, indexer=_NULLABLE_STR,
                        seeders=_NULLABLE_INT, published=_NULLABLE_STR),
    "Item": _obj(
        ["id", "request_id", "kind", "status", "progress"],
        id={"type": "integer"}, request_id={"type": "integer"}, kind={"type": "string", "enum": ["movie", "episode"]},
        season={"type": "integer"}, episode={"type": "integer"}, title={"type": "string"},
        status={"type": "string", "enum": [s.value for s in ProcessingStatus]}, progress={"type": "number"},
        speed=_NULLABLE_INT, eta_seconds=_NULLABLE_INT, detail=_NULLABLE_STR, attempts={"type": "integer"},
        error=_NULLABLE_STR, next_retry_at=_TIME, air_date=_NULLABLE_STR, release=_NULLABLE_STR,
        quality_met={"type": ["boolean", "null"]},
        available_releases={"type": "array", "items": ref("Alternative")},
        deliveries={"type": "array", "items": ref("Delivery")}, source_file_path=_NULLABLE_STR,
        created_at=_TIME, downloaded_at=_TIME, encoded_at=_TIME, delivered_at=_TIME, status_changed_at=_TIME,
        download_hash={**_NULLABLE_STR, "description": "info hash (40 hex) of the Download the item is linked to"},
        legacy_id={**_NULLABLE_STR, "description": "the legacy Annex row it was imported from (null otherwise)"},
        has_file={"type": "boolean", "description": "a delivered file is on the targets (also while upgrading)"},
        upgrading={"type": "boolean", "description": "a better release replaces the delivered one"},
        upgrades={"type": "array", "items": ref("Upgrade")}),
    "Upgrade": _obj(["outcome"], outcome={"type": "string", "enum": ["running", "replaced", "failed"]},
                    to=_NULLABLE_STR, from_quality=_NULLABLE_STR, to_quality=_NULLABLE_STR, reason=_NULLABLE_STR,
                    error=_NULLABLE_STR, started_at=_NULLABLE_STR, finished_at=_NULLABLE_STR,
                    targets={"type": "object", "description": "target -> {old, new, at}: the file replaced"},
                    **{"from": _NULLABLE_STR}),
    "Items": _obj(["items"], items={"type": "array", "items": ref("Item")}),
    "Episodes": _obj(["seasons"], seasons={"type": "array", "items": _obj(
        ["season", "episodes"], season={"type": "integer"},
        episodes={"type": "array", "items": _obj(
            ["id", "episode", "status", "progress"], id={"type": "integer"}, episode={"type": "integer"},
            title={"type": "string"}, status={"type": "string", "enum": [s.value for s in ProcessingStatus]},
            progress={"type": "number"}, error=_NULLABLE_STR, air_date=_NULLABLE_STR, release=_NULLABLE_STR,
            speed=_NULLABLE_INT, detail=_NULLABLE_STR, next_retry_at=_TIME, downloaded_at=_TIME,
            encoded_at=_TIME, delivered_at=_TIME)})}),
    "ItemMoved": _obj(["id", "status"], id={"type": "integer"},
                      status={"type": "string", "enum": [s.value for s in ProcessingStatus]}),
    "RetryIn": {"type": "object", "properties": {"from": {"type": "string", "enum": ["search"]}}},
    "Retried": _obj(["id", "status", "resumed_at"], id={"type": "integer"},
                    status={"type": "string", "enum": ["PENDING", "DOWNLOADED", "ENCODED"]},
                    resumed_at={"type": "string", "enum": ["search", "encode", "deliver"]}),
    "Cancelled": _obj(["id", "cancelled_items"], id={"type": "integer"}, cancelled_items={"type": "integer"}),
    "AcceptRelease": _obj(["release_id"], release_id={"type": "string", "minLength": 1, "maxLength": 200,
                                                      "description": "the id of one of the item's "
                                                                     "available_releases"}),
    "HealthCheck": _obj(["ok", "severity"], ok={"type": ["boolean", "null"], "description": "null: not run yet"},
                        severity={"type": "string", "enum": ["degraded", "down"],
                                  "description": "what the daemon is when this check fails"},
                        detail={}, checked_at=_TIME, age_seconds=_NULLABLE_NUM),
    "Health": _obj(["status"], status={"type": "string", "enum": HEALTH_STATES}, version={"type": "string"},
                   checks={"type": "object", "additionalProperties": ref("HealthCheck"),
                           "description": "only to callers with the API key"}),
    "Status": _obj(["version", "items"], version={"type": "string"},
                   items={"type": "object", "additionalProperties": {"type": "integer"}},
                   actors={"type": "object"}, database={"type": "object"}),
    "Encoders": _obj(["agents"], agents={"type": "array", "items": {"type": "object"}}),
    "Feeds": _obj(["feeds"], feeds={"type": "array", "items": _obj(
        ["name"], name={"type": "string"}, last_poll_at=_TIME, last_ok_at=_TIME, next_poll_at=_TIME,
        error=_NULLABLE_STR, polling={"type": "boolean"}, cursor_published=_NULLABLE_STR)}),
    "Accepted": _obj(["status"], status={"type": "string", "enum": ["accepted"]}),
    "ApproveIn": {"type": "object", "additionalProperties": False,
                  "description": "{} approves every pending item; seasons or items (not both) only those",
                  "properties": {"seasons": {"type": "array", "minItems": 1,
                                             "items": {"type": "integer", "minimum": 0, "maximum": 1000}},
                                 "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}}},
    "DeclineIn": {"type": "object", "additionalProperties": False,
                  "properties": {"reason": {"type": "string", "maxLength": 500}}},
    "Approved": _obj(["id", "approved_items"], id={"type": "integer"},
                     approved_items={"type": "array", "items": {"type": "integer"}}),
    "Declined": _obj(["id", "declined_items"], id={"type": "integer"},
                     declined_items={"type": "array", "items": {"type": "integer"}}),
    "Approvals": _obj(["approvals"], approvals={"type": "array", "items": {"type": "object"}}),
    "User": _obj(["name", "role"], name={"type": "string"}, role={"type": "string", "enum": ["admin", "requester"]},
                 enabled={"type": "boolean"}, auto_approve={"type": "array", "items": {"type": "string"}},
                 has_key={"type": "boolean"}),
    "Notifications": _obj(["destinations"], destinations={"type": "array", "items": {"type": "object"}}),
    "QuotaError": _obj(["error", "resets_at"], error={"type": "string"},
                       resets_at={"type": "string", "format": "date-time"}),
}

RESPONSES: dict[str, JsonSchema] = {
    name: {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
    for name, text in (("BadRequest", "the body is not JSON, or a query parameter is invalid"),
                       ("Unauthorized", "no or wrong API key"),
                       ("Forbidden", "the caller's role may not do this (admins only)"),
                       ("NotFound", "no such id"),
                       ("Conflict", "the row is not in a status that allows this"),
                       ("TooLarge", "the body is too large"),
                       ("Invalid", "invalid fields, with a reason per field"),
                       ("Unavailable", "the database is unavailable; try again shortly"))
}


def json_response(schema: str, description: str) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def shared(name: str) -> JsonSchema:
    return {"$ref": f"#/components/responses/{name}"}


SECURED: list[JsonSchema] = [{"ApiKey": []}, {"Bearer": []}]
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    responses: dict[str, JsonSchema]
    body: str | None = None  # a components.schemas name
    body_required: bool = True
    parameters: tuple[JsonSchema, ...] = ()
    errors: tuple[str, ...] = field(default=())  # extra shared responses by status: ("404",...)
    access: Literal["key", "open", "optional"] = "key"

    def spec(self) -> JsonSchema:
        out: JsonSchema = {"operationId": self.operation_id, "tags": [self.tag], "summary": self.summary,
                           "responses": {**self.responses, **{code: shared(_SHARED[code]) for code in self.errors}}}
        params = list(self.parameters) + ([_ID_PARAM] if "{id}" in self.path else [])
        if params:
            out["parameters"] = params
        if self.body:
            out["requestBody"] = {"required": self.body_required, "content": {"application/json": {"schema": ref(self.body)}}}
        if self.access == "key":
            out["security"] = SECURED
            out["responses"].setdefault("401", shared("Unauthorized"))
        else:
            out["security"] = [] if self.access == "open" else [{}, *SECURED]
        return out


_SHARED = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound", "409": "Conflict",
           "413": "TooLarge", "422": "Invalid", "503": "Unavailable"}
_QUERY = ({"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in RequestStatus]}},
          {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
          {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}})

OPERATIONS: list[Operation] = [
    Operation("get", "/health", "getHealth", "operations",
              "ok, degraded or down; each check's last result and age with the API key",
              {"200": json_response("Health", "ok or degraded"), "503": json_response("Health", "down")},
              access="open"),
    Operation("get", "/metrics", "getMetrics", "operations", "Prometheus metrics",
              {"200": {"description": "text exposition format",
                       "content": {"text/plain": {"schema": {"type": "string"}}}},
               "401": shared("Unauthorized")}, access="optional"),
    Operation("get", "/api/v1/status", "getStatus", "operations", "Items by status, actors, pool",
              {"200": json_response("Status", "status")}, errors=("503",)),
    Operation("get", "/api/v1/encoders", "listEncoders", "encoders",
              "Connected encoder agents, their encoders and current jobs",
              {"200": json_response("Encoders", "agents")}),
    Operation("post", "/api/v1/requests", "submitRequest", "requests",
              "Request a movie or TV episodes; one request per title: what is new is added to the request "
              "that holds the title",
              {"201": json_response("Created", "a new request"),
               "200": json_response("Added", "added to the request that already holds the title"),
               "409": json_response("Error", "nothing new: the request in `id` already holds all of it"),
               "502": json_response("Error", "TMDB failed while expanding seasons"),
               "429": {**json_response("QuotaError", "over the caller's quota"), "headers": {
                   "Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}}},
              body="RequestIn", errors=("400", "413", "422", "503")),
    Operation("get", "/api/v1/requests", "listRequests", "requests", "Requests with their status and progress",
              {"200": json_response("RequestPage", "one page")}, parameters=_QUERY, errors=("400", "503")),
    Operation("get", "/api/v1/requests/{id}", "getRequest", "requests", "One request",
              {"200": json_response("Request", "the request")}, errors=("404", "503")),
    Operation("delete", "/api/v1/requests/{id}", "deleteRequest", "requests",
              "Cancel and delete a request (its torrents too)", {"204": {"description": "deleted"}},
              errors=("404", "503")),
    Operation("get", "/api/v1/requests/{id}/episodes", "listRequestEpisodes", "requests",
              "Episodes grouped by season", {"200": json_response("Episodes", "episodes")}, errors=("404", "503")),
    Operation("get", "/api/v1/requests/{id}/items", "listRequestItems", "items",
              "Every work item of a request, with its deliveries", {"200": json_response("Items", "items")},
              errors=("404", "503")),
    Operation("post", "/api/v1/requests/{id}/cancel", "cancelRequest", "requests", "Cancel every unfinished item",
              {"200": json_response("Cancelled", "cancelled")}, errors=("404", "503")),
    Operation("get", "/api/v1/items/{id}", "getItem", "items", "One work item",
              {"200": json_response("Item", "the item")}, errors=("404", "503")),
    Operation("post", "/api/v1/items/{id}/retry", "retryItem", "items",
              "Retry a FAILED item where it failed (its inputs permitting), or from the search",
              {"200": json_response("Retried", "resumed")}, body="RetryIn", body_required=False,
              errors=("400", "404", "409", "422", "503")),
    Operation("post", "/api/v1/items/{id}/accept-release", "acceptRelease", "items",
              "Take one of the kept lower-quality releases (an id from the item's available_releases)",
              {"200": json_response("ItemMoved", "now FOUND")}, body="AcceptRelease",
              errors=("400", "404", "409", "422", "503")),
    Operation("post", "/api/v1/requests/{id}/approve", "approveRequest", "requests",
              "Approve pending items (admins); search starts at once", {"200": json_response("Approved", "approved")},
              body="ApproveIn", errors=("400", "403", "404", "409", "422", "503")),
    Operation("post", "/api/v1/requests/{id}/decline", "declineRequest", "requests",
              "Decline every pending item, with an optional reason (admins)",
              {"200": json_response("Declined", "declined")}, body="DeclineIn", body_required=False,
              errors=("400", "403", "404", "409", "422", "503")),
    Operation("get", "/api/v1/requests/{id}/approvals", "listApprovals", "requests", "Approval history of a request",
              {"200": json_response("Approvals", "history")}, errors=("404", "503")),
    Operation("get", "/api/v1/me", "whoAmI", "users", "The caller: name, role, auto-approve, quotas (never the key)",
              {"200": json_response("User", "the caller")}, errors=("503",)),
    Operation("get", "/api/v1/notifications", "listNotifications", "notifications",
              "Notification destinations and their outbox counts (admins)",
              {"200": json_response("Notifications", "destinations")}, errors=("403", "503")),
    Operation("post", "/api/v1/notifications/test", "testNotification", "notifications",
              "Send a Test event to every destination (admins)",
              {"202": json_response("Accepted", "queued")}, errors=("403", "503")),
    Operation("get", "/api/v1/feeds", "listFeeds", "feeds", "Feeds: last and next poll, error, cursor",
              {"200": json_response("Feeds", "feeds")}, errors=("503",)),
    Operation("post", "/api/v1/feeds/sync", "syncFeeds", "feeds", "Poll every feed now (RSS sync)",
              {"202": json_response("Accepted", "the poll runs in the background"),
               "409": json_response("Error", "no feeds are configured")}),
]

TAGS = [{"name": "requests", "description": "what people asked for"},
        {"name": "items", "description": "the units of work: one per movie, one per episode"},
        {"name": "encoders", "description": "encoder agents"},
        {"name": "feeds", "description": "indexers' recent releases and RSS/Atom feeds"},
        {"name": "users", "description": "who calls: users with their own keys, rights and quotas"},
        {"name": "notifications", "description": "webhooks and notification services, through an outbox"},
        {"name": "operations", "description": "health, metrics, status"}]


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = op.spec()
    return {
        "openapi": "3.1.0",
        "info": {"title": "annexd", "version": __version__,
                 "description": "Media-pipeline daemon API. Every call needs the API key (X-Api-Key or "
                                "Authorization: Bearer), GETs too; /health, /metrics (when public) and this "
                                "document are open."},
        "security": SECURED,
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def add_path(doc: dict[str, Any], path: str, spec: dict[str, Any]) -> None:
    doc["paths"].setdefault(path, {}).update(spec)
