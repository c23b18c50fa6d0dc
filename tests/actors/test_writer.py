"""DbWriter against SQLite and a real PostgreSQL: coalescing, threshold, ordering, final flush, DB outage."""

import threading
from dataclasses import replace
from datetime import datetime

import pykka
import pytest

from actors.context import ActorContext
from actors.messages import Flush, ProgressBatch, ProgressUpdate, StatusChange
from actors.writer import DbWriter
from annexd.config import Config, WriterConfig
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import migrate, queries
from store.db import open_database
from store.models import ProcessingItem
from tests.util import wait_until

NOW = datetime(2026, 3, 1, 12, 0, 0)


def _config(**writer):
    # A long interval: the tests decide when to flush (Flush), so nothing depends on timing.
    return replace(Config(), writer=replace(WriterConfig(flush_interval_ms=60_000), **writer))


def _items(n, status=S.DOWNLOADING):
    eps = tuple(EpisodeSpec(1, e) for e in range(1, n + 1))
    req = queries.create_request(RequestSpec(kind="tv", title="Show", episodes=eps), NOW)
    ids = [i.id for i in queries.request_items(req.id)]
    ProcessingItem.update(status=status).where(ProcessingItem.id.in_(ids)).execute()
    return ids


@pytest.fixture
def writer(db):
    ref = DbWriter.start(ActorContext(db=db, config=_config()))
    yield ref
    if ref.is_alive():
        ref.stop()


def _progress(ids):
    return {i.id: i.progress for i in ProcessingItem.select().where(ProcessingItem.id.in_(ids))}


def test_concurrent_senders_latest_wins_and_few_rows_are_written(db, writer):
    ids = _items(40)
    per_thread = [ids[i::4] for i in range(4)]

    def sender(my_ids):
        for step in range(1, 201):
            writer.tell(ProgressBatch(tuple(ProgressUpdate(i, S.DOWNLOADING, step / 2) for i in my_ids)))

    threads = [threading.Thread(target=sender, args=(chunk,)) for chunk in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stats = writer.ask(Flush(), timeout=30)
    assert _progress(ids) == {i: 100.0 for i in ids}
    assert stats.received == 40 * 200
    assert stats.rows_written <= 40 * 101  # never more than one row per item per percentage point
    assert stats.coalesced + stats.rows_written == stats.received


def test_changes_under_the_threshold_are_not_written(db, writer):
    [item] = _items(1)
    for value in (10.0, 10.5, 10.9):
        writer.tell(ProgressUpdate(item, S.DOWNLOADING, value))
        writer.ask(Flush(), timeout=10)
    assert _progress([item])[item] == 10.0
    writer.tell(ProgressUpdate(item, S.DOWNLOADING, 11.0))
    stats = writer.ask(Flush(), timeout=10)
    assert _progress([item])[item] == 11.0
    assert stats.rows_written == 2


def test_a_started_writer_does_not_rewrite_what_the_database_already_holds(db):
    ids = _items(3)
    ProcessingItem.update(progress=40.0).where(ProcessingItem.id.in_(ids)).execute()
    ref = DbWriter.start(ActorContext(db=db, config=_config()))
    try:
        # As after a restart: the first poll reports about what is stored; only the one that moved is written.
        ref.tell(ProgressBatch((ProgressUpdate(ids[0], S.DOWNLOADING, 40.4), ProgressUpdate(ids[1], S.DOWNLOADING, 40.9),
                                ProgressUpdate(ids[2], S.DOWNLOADING, 42.0))))
        stats = ref.ask(Flush(), timeout=10)
    finally:
        ref.stop()
    assert _progress(ids) == {ids[0]: 40.0, ids[1]: 40.0, ids[2]: 42.0}
    assert stats.rows_written == 1 and stats.coalesced == 2


def test_status_changes_are_applied_in_order_and_guard_stale_progress(db, writer):
    [item] = _items(1, status=S.PENDING)
    writer.tell(StatusChange(item, S.PENDING, Event.START_SEARCH))
    writer.tell(StatusChange(item, S.SEARCHING, Event.FOUND))
    writer.tell(ProgressUpdate(item, S.PENDING, 55.0))  # stale: the item is no longer PENDING
    stats = writer.ask(Flush(), timeout=10)
    row = ProcessingItem.get_by_id(item)
    assert row.status == S.FOUND and row.progress == 0.0
    assert stats.transitions_applied == 2 and stats.transitions_refused == 0


def test_a_conflicting_transition_is_refused_not_applied(db, writer):
    [item] = _items(1, status=S.PENDING)
    writer.tell(StatusChange(item, S.SEARCHING, Event.FOUND))  # the item is PENDING, not SEARCHING
    stats = writer.ask(Flush(), timeout=10)
    assert ProcessingItem.get_by_id(item).status == S.PENDING
    assert stats.transitions_refused == 1


def test_stop_flushes_what_it_holds(db, writer):
    ids = _items(3)
    writer.tell(ProgressBatch(tuple(ProgressUpdate(i, S.DOWNLOADING, 42.0) for i in ids)))
    writer.stop(block=True, timeout=10)
    assert _progress(ids) == {i: 42.0 for i in ids}


def test_full_batch_flushes_without_waiting_for_the_interval(db):
    ref = DbWriter.start(ActorContext(db=db, config=_config(max_batch=10)))
    try:
        ids = _items(10)
        ref.tell(ProgressBatch(tuple(ProgressUpdate(i, S.DOWNLOADING, 5.0) for i in ids)))
        wait_until(lambda: _progress(ids) == {i: 5.0 for i in ids}, timeout=10, what="batch-full flush")
    finally:
        ref.stop()


def test_database_outage_keeps_the_batch_and_retries(postgres_factory):
    server = postgres_factory()
    try:
        database = open_database(server.url(server.create_database()), max_connections=3, timeout=5)
        with database.connection_context():
            migrate.apply_all(database)
            ids = _items(5, status=S.PENDING)
        ctx = ActorContext(db=database, config=_config(retry_max_ms=500))
        ref = DbWriter.start(ctx)
        server.stop()
        ref.tell(StatusChange(ids[0], S.PENDING, Event.START_SEARCH))
        ref.tell(ProgressBatch(tuple(ProgressUpdate(i, S.PENDING, 30.0) for i in ids)))
        stats = ref.ask(Flush(), timeout=30)
        assert stats.flush_failures >= 1 and stats.transactions == 0
        server.start()

        def flushed():
            ref.ask(Flush(), timeout=30)
            with database.connection_context():
                rows = {i.id: (i.status, i.progress) for i in ProcessingItem.select()}
            return rows[ids[0]] == (S.SEARCHING, 0.0) and all(rows[i] == (S.PENDING, 30.0) for i in ids[1:])

        wait_until(flushed, timeout=30, interval=0.3, what="writer flush after the database came back")
        ref.stop()
        database.close_all()
    finally:
        server.destroy()
        pykka.ActorRegistry.stop_all()
