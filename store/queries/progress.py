"""Progress checkpoints written by the DbWriter: what the database holds now, and one UPDATE per chunk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from annexd.domain.pipeline import ProcessingStatus
from store.db import database_proxy, is_postgres
from store.models import ProcessingItem


def progress_baseline(statuses: Iterable[ProcessingStatus]) -> dict[int, tuple[str, float]]:
    """What the database holds now for items that report progress: id -> (status, progress)."""
    query = ProcessingItem.select(ProcessingItem.id, ProcessingItem.status, ProcessingItem.progress).where(
        ProcessingItem.status.in_([s.value for s in statuses]))
    rows = cast(Iterable[tuple[int, str, float]], query.tuples())
    return {int(item_id): (str(status), float(progress or 0.0)) for item_id, status, progress in rows}


# One UPDATE ... FROM (VALUES ...) per chunk instead of one statement per row: a 10,000-item flush is ten
# statements. Columns given as NULL keep their current value; the status guard drops stale progress.
_PROGRESS_CHUNK = 1000
_PROGRESS_SQL = (
    "UPDATE processing_item SET progress = v.{c[2]}, speed = COALESCE(v.{c[3]}, processing_item.speed), "
    "eta_seconds = COALESCE(v.{c[4]}, processing_item.eta_seconds), "
    "detail = COALESCE(v.{c[5]}, processing_item.detail), updated_at = {now} "
    "FROM (VALUES {rows}) AS {alias} "
    "WHERE processing_item.id = v.{c[0]} AND processing_item.status = v.{c[1]}"
)
_PG_COLUMNS = ("id", "status", "progress", "speed", "eta", "detail")
_SQLITE_COLUMNS = tuple(f"column{i}" for i in range(1, 7))  # SQLite names VALUES columns itself


def write_progress(rows: Sequence[tuple[int, str, float, int | None, int | None, str | None]], now: datetime) -> int:
    """Write (item id, expected status, progress, speed, eta, detail) rows; returns the rows changed."""
    db = database_proxy.obj
    p = db.param
    columns = _PG_COLUMNS if is_postgres(db) else _SQLITE_COLUMNS
    alias = f"v({', '.join(columns)})" if is_postgres(db) else "v"
    row = (f"(CAST({p} AS INTEGER), CAST({p} AS VARCHAR(24)), CAST({p} AS REAL), CAST({p} AS BIGINT), "
           f"CAST({p} AS INTEGER), CAST({p} AS VARCHAR(500)))")
    changed = 0
    for start in range(0, len(rows), _PROGRESS_CHUNK):
        chunk = rows[start: start + _PROGRESS_CHUNK]
        sql = _PROGRESS_SQL.format(c=columns, now=p, rows=", ".join([row] * len(chunk)), alias=alias)
        params: list[Any] = [now]
        for values in chunk:
            params.extend(values)
        changed += db.execute_sql(sql, params).rowcount
    return changed
