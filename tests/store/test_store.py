"""Store tests on SQLite and on a real PostgreSQL (the `db` fixture is parametrised over both)."""

import threading
from datetime import date, datetime, timedelta

import pytest

from annexd.domain.pipeline import Event, ProcessingStatus as S, RequestStatus
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import migrate, queries
from store.db import open_database, pool_snapshot
from store.models import MODELS, MediaRequest, ProcessingItem

NOW = datetime(2026, 3, 1, 12, 0, 0)


def _movie(title="Dune", year=2021):
    return queries.create_request(RequestSpec(kind="movie", title=title, year=year), NOW)


def _show(episodes):
    eps = tuple(EpisodeSpec(s, e, f"Ep {e}", air) for s, e, air in episodes)
    return queries.create_request(RequestSpec(kind="tv", title="Show", episodes=eps), NOW)


def _schema(database, tables):
    out = {}
    for table in tables:
        cols = {(c.name, c.null, c.primary_key) for c in database.get_columns(table)}
        idx = {(tuple(i.columns), i.unique) for i in database.get_indexes(table)}
        fks = {(f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)}
        out[table] = (cols, idx, fks)
    return out


def _fresh_url(kind, tmp_path, request, name):
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / name}.db"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def test_migrations_agree_with_models(kind, tmp_path, request):
    tables = [m._meta.table_name for m in MODELS]
    migrated = open_database(_fresh_url(kind, tmp_path, request, "migrated"))
    with migrated.connection_context():
        migrate.apply_all(migrated)
        from_migrations = _schema(migrated, tables)
    migrated.close_all()
    fresh = open_database(_fresh_url(kind, tmp_path, request, "fresh"))
    with fresh.connection_context():
        fresh.create_tables(MODELS)
        from_models = _schema(fresh, tables)
    fresh.close_all()
    assert from_migrations == from_models


def test_every_migration_rolls_back_and_reapplies(db):
    done = migrate.applied(db)
    assert done and not migrate.pending(db)
    undone = migrate.rollback(db, len(done))
    assert undone == list(reversed(done))
    assert set(db.get_tables()) <= {"migratehistory"}
    assert migrate.apply_all(db) == done
    assert {m._meta.table_name for m in MODELS} <= set(db.get_tables())


def test_pending_migrations_are_refused(database_url):
    from annexd.errors import PendingMigrationsError

    database = open_database(database_url)
    with database.connection_context(), pytest.raises(PendingMigrationsError, match="annexd migrate"):
        migrate.require_current(database)
    database.close_all()


def test_create_request_makes_items_and_unaired_ones_await(db):
    future = NOW.date() + timedelta(days=10)
    req = _show([(1, 1, date(2020, 1, 1)), (1, 2, future), (1, 3, None)])
    items = {i.episode: i for i in queries.request_items(req.id)}
    assert items[1].status == S.PENDING and items[3].status == S.PENDING
    assert items[2].status == S.AWAITING
    assert items[2].next_retry_at.date() == future and "not aired" in items[2].last_error
    assert queries.request_summary(req)["status"] == "PENDING"


def test_items_are_unique_per_request_season_episode(db):
    req = _show([(1, 1, None)])
    added = queries.add_items(req, RequestSpec(kind="tv", title="Show",
                                                       episodes=(EpisodeSpec(1, 1),)), NOW)
    assert added == 1  # attempted, but the unique key ignored the duplicate
    assert ProcessingItem.select().where(ProcessingItem.request == req.id).count() == 1


def test_transition_is_compare_and_set(db):
    req = _movie()
    item = queries.request_items(req.id)[0]
    assert queries.apply_transition(item.id, S.PENDING, Event.START_SEARCH, NOW)
    # A second worker that still believes the item is PENDING loses.
    assert not queries.apply_transition(item.id, S.PENDING, Event.START_SEARCH, NOW)
    assert ProcessingItem.get_by_id(item.id).status == S.SEARCHING


def test_concurrent_claims_never_take_one_item_twice(db):
    for i in range(40):
        _movie(f"Movie {i}")
    won: list[int] = []
    lock = threading.Lock()

    def claimer():
        with db.connection_context():
            for _ in range(10):
                ids = queries.claim_items(S.PENDING, Event.START_SEARCH, NOW, 3)
                with lock:
                    won.extend(ids)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == len(set(won)) == 40
    assert queries.items_by_status() == {"SEARCHING": 40}


def test_claims_take_higher_priority_requests_first(db):
    low = _movie("Low")
    high = queries.create_request(RequestSpec(kind="movie", title="High", priority=10), NOW)
    [first] = queries.claim_items(S.PENDING, Event.START_SEARCH, NOW, 1)
    assert first == queries.request_items(high.id)[0].id
    assert queries.claim_items(S.PENDING, Event.START_SEARCH, NOW, 1) == [queries.request_items(low.id)[0].id]


def test_claim_respects_next_retry_at(db):
    req = _movie()
    item = queries.request_items(req.id)[0]
    ProcessingItem.update(next_retry_at=NOW + timedelta(hours=1)).where(ProcessingItem.id == item.id).execute()
    assert queries.claim_items(S.PENDING, Event.START_SEARCH, NOW, 10) == []
    assert queries.claim_items(S.PENDING, Event.START_SEARCH, NOW + timedelta(hours=2), 10) == [item.id]


def test_cancel_and_delete_request(db):
    req = _show([(1, 1, None), (1, 2, None)])
    first = queries.request_items(req.id)[0]
    queries.apply_transition(first.id, S.PENDING, Event.START_SEARCH, NOW)
    assert queries.cancel_request(req.id, NOW) == 2
    assert queries.request_summary(req)["status"] == "CANCELLED"
    assert queries.cancel_request(req.id, NOW) == 0  # terminal items stay put
    queries.delete_request(req.id)
    assert MediaRequest.get_or_none(MediaRequest.id == req.id) is None
    assert ProcessingItem.select().count() == 0


def test_list_requests_filters_by_derived_status_and_pages(db):
    reqs = [_movie(f"M{i}") for i in range(5)]
    item = queries.request_items(reqs[0].id)[0]
    queries.apply_transition(item.id, S.PENDING, Event.START_SEARCH, NOW)
    rows, total = queries.list_requests(None, 0, 2)
    assert total == 5 and [r["id"] for r, _ in rows] == [reqs[4].id, reqs[3].id]
    assert [s["status"] for _, s in rows] == ["PENDING", "PENDING"] and rows[0][1]["items"] == 1
    searching, n = queries.list_requests(RequestStatus.SEARCHING, 0, 10)
    assert n == 1 and searching[0][0]["id"] == reqs[0].id and searching[0][1]["status"] == "SEARCHING"
    rows, total = queries.list_requests(RequestStatus.PENDING, 2, 2)
    assert total == 4 and [r["id"] for r, _ in rows] == [reqs[2].id, reqs[1].id]


def test_pool_never_exceeds_its_budget(database_url):
    database = open_database(database_url, max_connections=3, timeout=5)
    with database.connection_context():
        migrate.apply_all(database)
    peak = 0
    lock = threading.Lock()

    def work():
        nonlocal peak
        for _ in range(5):
            with database.connection_context():
                with lock:
                    peak = max(peak, pool_snapshot(database)["in_use"])
                database.execute_sql("SELECT 1").fetchone()

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert 1 <= peak <= 3
    assert pool_snapshot(database)["in_use"] == 0
    database.close_all()
