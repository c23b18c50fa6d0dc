"""Supervisor: restarts with backoff within a budget, gives up past it; Worker base and AwaitingWorker."""

import threading
from dataclasses import replace
from datetime import datetime, timedelta

import peewee
import pykka
import pytest

from actors.awaiting import AwaitingWorker
from actors.context import ActorContext
from actors.supervisor import ChildSpec, Supervisor
from actors.worker import Worker
from annexd import metrics
from annexd.config import Config, SupervisorConfig
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from annexd.errors import ProviderError
from store import queries
from store.models import ProcessingItem
from tests.util import wait_until


class Flaky(Worker):
    name = "flaky"
    starts = 0
    fail_times = 0

    def on_start(self):
        type(self).starts += 1
        super().on_start()

    def poll(self):
        if type(self).starts <= type(self).fail_times:
            raise RuntimeError(f"boom #{type(self).starts}")
        return 0


class Unreachable(Worker):
    name = "unreachable"

    def poll(self):
        raise ProviderError("indexer", "connection refused")


def _cfg(budget=3):
    return replace(Config(), supervisor=replace(SupervisorConfig(), restart_budget=budget,
                                                restart_backoff_seconds=0.01, restart_window_seconds=60))


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def _supervise(db, cls, budget):
    gave_up = threading.Event()
    ctx = ActorContext(db=db, config=_cfg(budget))
    spec = ChildSpec(cls.name, lambda c: cls.start(c, 60_000))
    ref = Supervisor.start(ctx, [spec], on_give_up=lambda reason: gave_up.set())
    return ctx, ref, gave_up


def test_failed_child_is_restarted_and_counted(db):
    Flaky.starts, Flaky.fail_times = 0, 2
    before = metrics.ACTOR_RESTARTS.labels("flaky")._value.get()
    ctx, ref, gave_up = _supervise(db, Flaky, budget=3)
    wait_until(lambda: Flaky.starts == 3 and ctx.workers["flaky"].is_alive(), what="third start survives")
    assert not gave_up.is_set()
    assert metrics.ACTOR_RESTARTS.labels("flaky")._value.get() - before == 2
    status = ref.ask("status", timeout=5)
    assert status["flaky"]["restarts"] == 2 and "boom" in status["flaky"]["last_error"]


def test_past_the_budget_the_supervisor_gives_up(db):
    Flaky.starts, Flaky.fail_times = 0, 100
    _, ref, gave_up = _supervise(db, Flaky, budget=2)
    assert gave_up.wait(10)
    assert Flaky.starts == 3  # the first start and two restarts
    assert ref.ask("status", timeout=5)["flaky"]["alive"] is False


def test_expected_provider_errors_do_not_kill_a_worker(db):
    ctx, ref, gave_up = _supervise(db, Unreachable, budget=0)
    worker = wait_until(lambda: ctx.workers.get("unreachable"), what="worker started")
    wait_until(lambda: worker.proxy().polls.get(timeout=5) >= 1, what="a poll")
    assert worker.is_alive() and not gave_up.is_set()


def test_awaiting_worker_moves_due_items_back_to_pending(db):
    now = datetime(2026, 3, 1, 12, 0)
    aired_yesterday = (now - timedelta(days=1)).date()
    airs_later = (now + timedelta(days=30)).date()
    eps = (EpisodeSpec(1, 1, "", aired_yesterday), EpisodeSpec(1, 2, "", airs_later))
    req = queries.create_request(RequestSpec(kind="tv", title="Show", episodes=eps), now - timedelta(days=3))
    ctx = ActorContext(db=db, config=Config(), clock=lambda: now)
    ref = AwaitingWorker.start(ctx, 60_000)
    try:
        wait_until(lambda: ref.proxy().polls.get(timeout=5) >= 1, what="one poll")
        with db.connection_context():
            statuses = {i.episode: i.status for i in queries.request_items(req.id)}
        assert statuses == {1: S.PENDING, 2: S.AWAITING}
        assert ProcessingItem.select().where(ProcessingItem.status == S.PENDING).count() == 1
    finally:
        ref.stop()


class FailsToStart(Worker):
    """Raises in on_start (its prepare step) the first ``fail_times`` starts, as a worker does when the
    database is down while it loads its state."""

    name = "fails_to_start"
    starts = 0
    fail_times = 0

    def prepare(self):
        type(self).starts += 1
        super().prepare()
        if type(self).starts <= type(self).fail_times:
            raise RuntimeError(f"on_start boom #{type(self).starts}")

    def poll(self):
        return 0


def test_a_failure_in_on_start_reaches_the_supervisor_and_is_restarted(db):
    FailsToStart.starts, FailsToStart.fail_times = 0, 2
    before = metrics.ACTOR_RESTARTS.labels("fails_to_start")._value.get()
    ctx, ref, gave_up = _supervise(db, FailsToStart, budget=3)
    wait_until(lambda: FailsToStart.starts == 3 and ctx.workers["fails_to_start"].is_alive()
               and ctx.workers["fails_to_start"].proxy().polls.get(timeout=5) >= 1, what="third start polls")
    assert not gave_up.is_set()
    assert metrics.ACTOR_RESTARTS.labels("fails_to_start")._value.get() - before == 2
    assert "on_start boom #2" in ref.ask("status", timeout=5)["fails_to_start"]["last_error"]
    assert ctx.starts["fails_to_start"] == 3  # each start is its own incarnation


def test_past_the_budget_an_on_start_failure_gives_up_too(db):
    FailsToStart.starts, FailsToStart.fail_times = 0, 100
    _, _, gave_up = _supervise(db, FailsToStart, budget=1)
    assert gave_up.wait(10) and FailsToStart.starts == 2


def test_the_database_going_away_mid_poll_does_not_kill_a_worker(db):
    class DbDown(Worker):
        name = "db_down"

        def poll(self):
            raise peewee.OperationalError("server closed the connection unexpectedly")

    ctx, _, gave_up = _supervise(db, DbDown, budget=0)
    worker = wait_until(lambda: ctx.workers.get("db_down"), what="worker started")
    wait_until(lambda: worker.proxy().polls.get(timeout=5) >= 1, what="a poll")
    assert worker.is_alive() and not gave_up.is_set()
