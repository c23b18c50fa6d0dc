"""The derived request status (media_request.status) always equals a full recomputation from the items: after
random transitions, claims, cancels, new items and bulk imports (hypothesis), on SQLite and PostgreSQL; under
concurrent transitions of one request's items from two connections (PostgreSQL); and `annexd maintenance
recompute` repairs a row that was changed behind the store's back."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from annexd.domain.pipeline import Event, ProcessingStatus, allowed_events, counted_status, request_status
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries
from store.models import MediaRequest, ProcessingItem

NOW = datetime(2026, 3, 1, 12, 0, 0)
S = ProcessingStatus


def full_recomputation(request_ids: list[int]) -> dict[int, str]:
    """Every item of these requests read one by one, folded with the domain rule (no GROUP BY, no cache); an
    upgrading item counts as COMPLETED (the upgrade path's rule)."""
    statuses: dict[int, list[ProcessingStatus]] = {r: [] for r in request_ids}
    for item in ProcessingItem.select().where(ProcessingItem.request.in_(request_ids)):
        statuses[item.request_id].append(counted_status(S(item.status), bool(item.upgrading)))
    return {r: request_status(s).value for r, s in statuses.items()}


def stored(request_ids: list[int]) -> dict[int, str]:
    query = MediaRequest.select(MediaRequest.id, MediaRequest.status).where(MediaRequest.id.in_(request_ids))
    return {r.id: r.status for r in query}


def _show(n: int, title: str = "Show") -> int:
    eps = tuple(EpisodeSpec(1, e + 1, f"Ep {e + 1}") for e in range(n))
    return queries.create_request(RequestSpec(kind="tv", title=title, episodes=eps), NOW).id


# One step of the random walk: (operation, which request, which item, which allowed event).
steps = st.lists(st.tuples(
    st.sampled_from(["transition", "transition", "transition", "claim", "cancel", "add_item", "import", "batch"]),
    st.integers(0, 2), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(walk=steps, sizes=st.lists(st.integers(0, 4), min_size=3, max_size=3))
def test_stored_status_equals_a_full_recomputation_after_random_changes(db, walk, sizes):
    requests = [_show(n, f"Show {i}") for i, n in enumerate(sizes)]
    assert stored(requests) == full_recomputation(requests)
    for op, r, i, e in walk:
        request_id = requests[r % len(requests)]
        items = queries.request_items(request_id)
        if op == "transition" and items:
            item = items[i % len(items)]
            events = sorted(allowed_events(S(item.status)))
            if events:
                queries.apply_transition(item.id, S(item.status), events[e % len(events)], NOW)
        elif op == "claim":
            queries.claim_items(S.PENDING, Event.START_SEARCH, NOW, limit=1 + i % 3)
        elif op == "cancel":
            queries.cancel_request(request_id, NOW)
        elif op == "add_item":
            req = queries.get_request(request_id)
            queries.add_items(req, RequestSpec(kind="tv", title="Show", episodes=(EpisodeSpec(2, 1 + i, "New"),)), NOW)
        elif op == "import":
            status = sorted(S)[e % len(S)]
            item_rows = [{"kind": "episode", "season": 1, "episode": n + 1, "status": status} for n in range(i % 4)]
            requests += queries.import_requests([({"kind": "tv", "title": "Imported"}, item_rows)])
        elif op == "batch" and items:
            with queries.status_batch():  # what the writer does: several transitions, one refresh at the end
                for item in items[: 1 + i % 3]:
                    if S(item.status) not in (S.COMPLETED, S.CANCELLED, S.FAILED):
                        queries.apply_transition(item.id, S(item.status), Event.FAIL, NOW, error="x")
        assert stored(requests) == full_recomputation(requests), (op, r, i, e)


@pytest.mark.integration
def test_concurrent_transitions_of_one_request_never_leave_a_stale_status(pg):
    """Two connections finish the two items of each request at once, one COMPLETED and one FAILED: each alone
    sees DELIVERING, only both together make PARTIAL. The last writer must not store its stale view."""
    requests = [_show(2, f"Race {n}") for n in range(40)]
    pairs = []
    for request_id in requests:
        a, b = queries.request_items(request_id)
        for item in (a, b):
            for event in (Event.START_SEARCH, Event.FOUND, Event.GRAB, Event.DOWNLOAD_COMPLETE, Event.START_ENCODE,
                          Event.ENCODE_COMPLETE, Event.START_DELIVERY):
                assert queries.apply_transition(item.id, S(queries.get_item(item.id).status), event, NOW)
        pairs.append((a.id, b.id))
    assert set(stored(requests).values()) == {"DELIVERING"}

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def finish(side: int) -> None:
        try:
            with pg.connection_context():
                for pair in pairs:
                    barrier.wait(timeout=30)
                    event = Event.DELIVERED if side == 0 else Event.FAIL
                    assert queries.apply_transition(pair[side], S.DELIVERING, event, NOW)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=finish, args=(side,)) for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert full_recomputation(requests) == {r: "PARTIAL" for r in requests}
    assert stored(requests) == full_recomputation(requests)


def test_maintenance_recompute_repairs_rows_changed_behind_the_stores_back(db, tmp_path, monkeypatch, capsys):
    from annexd import cli

    requests = [_show(2, f"Show {n}") for n in range(3)]
    MediaRequest.update(status="COMPLETED").where(MediaRequest.id.in_(requests[:2])).execute()
    assert queries.recompute_all(chunk=2) == (3, 2)
    assert stored(requests) == full_recomputation(requests) == {r: "PENDING" for r in requests}

    MediaRequest.update(status="FAILED").where(MediaRequest.id == requests[2]).execute()
    monkeypatch.setenv("ANNEX_DATABASE_URL", db_url(db))
    monkeypatch.setenv("ANNEX_STATE_DIR", str(tmp_path))
    assert cli.main(["maintenance", "recompute"]) == 0
    assert '"corrected": 1' in capsys.readouterr().out
    assert stored(requests)[requests[2]] == "PENDING"


def db_url(db) -> str:
    from store.db import is_postgres

    if is_postgres(db):
        params = db.connect_params
        return f"postgresql://{params['user']}@{params['host']}:{params['port']}/{db.database}"
    return f"sqlite:///{db.database}"


def test_filtering_by_status_counts_on_the_derived_column(db):
    requests = [_show(1, f"S{n}") for n in range(4)]
    for request_id in requests[:3]:
        (item,) = queries.request_items(request_id)
        queries.apply_transition(item.id, S.PENDING, Event.CANCEL, NOW)
    by_status: dict[str, list[int]] = defaultdict(list)
    for request_id, status in stored(requests).items():
        by_status[status].append(request_id)
    assert {k: len(v) for k, v in by_status.items()} == {"CANCELLED": 3, "PENDING": 1}
    from annexd.domain.pipeline import RequestStatus

    rows, total = queries.list_requests(RequestStatus.CANCELLED, 0, 2)
    assert total == 3 and [r["id"] for r, _ in rows] == sorted(requests[:3], reverse=True)[:2]


def _status_writes(source: str) -> list[int]:
    """Lines of ``MediaRequest.<write>(...)`` calls that set ``status`` (keyword, dict key or column)."""
    import ast

    writers = {"update", "insert", "create", "insert_many", "replace", "get_or_create"}
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in writers
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "MediaRequest"):
            continue
        inner = list(ast.walk(node))
        if (any(kw.arg == "status" for kw in node.keywords)
                or any(isinstance(n, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "status"
                                                       for k in n.keys) for n in inner)
                or any(isinstance(n, ast.Attribute) and n.attr == "status" for n in inner)):
            lines.append(node.lineno)
    return lines


def test_only_the_status_module_writes_the_derived_status():
    from pathlib import Path

    assert _status_writes("MediaRequest.update(status='X')\nMediaRequest.insert({'status': 1})\n"
                          "MediaRequest.update({MediaRequest.status: 1})\nMediaRequest.update(title='x')\n") == [1, 2, 3]
    repo = Path(__file__).resolve().parents[2]
    status_module = repo / "store" / "queries" / "request_status.py"
    assert _status_writes(status_module.read_text())
    found = [f"{path.relative_to(repo)}:{line}" for d in ("annexd", "actors", "store") for path in (repo / d).rglob("*.py")
             if path != status_module for line in _status_writes(path.read_text())]
    assert found == []
