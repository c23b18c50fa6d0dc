"""Add media_request.status: the request's status derived from its items, kept on the row (a cache, written
only by store.queries.request_status) and indexed with the id, so a page of requests filtered by status is an
index range. Existing rows are filled from their items with the one rule, annexd.domain.pipeline.request_status
(pure; `annexd maintenance recompute` applies the same rule to a live database)."""

from collections import defaultdict

import peewee as pw
from peewee_migrate import Migrator

from annexd.domain.pipeline import ProcessingStatus, request_status


def _fill(database: pw.Database) -> None:
    statuses: dict[int, list[ProcessingStatus]] = defaultdict(list)
    cursor = database.execute_sql("SELECT request_id, status FROM processing_item GROUP BY request_id, status")
    for request_id, status in cursor.fetchall():
        statuses[int(request_id)].append(ProcessingStatus(status))
    by_status: dict[str, list[int]] = defaultdict(list)
    for request_id, items in statuses.items():
        by_status[request_status(items).value].append(request_id)
    p = database.param
    for status, ids in by_status.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start: start + 500]
            database.execute_sql(f"UPDATE media_request SET status = {p} WHERE id IN ({', '.join([p] * len(chunk))})",
                                 [status, *chunk])


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("media_request", status=pw.CharField(max_length=24, default="EMPTY"))
    migrator.add_index("media_request", "status", "id")
    migrator.run(_fill, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.drop_index("media_request", "status", "id")
    migrator.remove_fields("media_request", "status")
