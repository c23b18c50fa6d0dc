"""Worker.offline(): a poll's pooled connection goes back to the pool while it waits on the network and is
taken again after; when the database went away meanwhile, the poll fails like any database outage and the
worker lives on (it used to crash on peewee's emptied context stack)."""

import threading
import time
from collections.abc import Callable

import peewee
import pykka
import pytest

from actors.context import ActorContext
from actors.messages import Wake
from actors.worker import Worker
from annexd.config import Config
from tests.util import wait_until


class Offline(Worker):
    name = "offline"

    def __init__(self, ctx: ActorContext, interval_ms: int, inside: Callable[[], None]):
        super().__init__(ctx, interval_ms)
        self.inside = inside
        self.closed_inside: list[bool] = []
        self.finished = 0

    def poll(self) -> int:
        self.ctx.db.execute_sql("SELECT 1")
        with self.offline():
            self.closed_inside.append(self.ctx.db.is_closed())
            self.inside()
        self.ctx.db.execute_sql("SELECT 1")  # the connection is back for the write phase
        self.finished += 1
        return 1


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


def test_offline_hands_the_connection_back_and_takes_it_again(db):
    ref = Offline.start(ActorContext(db=db, config=Config()), 3_600_000, lambda: None)
    proxy = ref.proxy()
    wait_until(lambda: proxy.finished.get(timeout=5) == 1, timeout=20, what="one poll")
    assert proxy.closed_inside.get(timeout=5) == [True]


def test_a_database_gone_during_offline_work_fails_the_poll_not_the_worker(db):
    real_connect = db.connect

    def gone(*args, **kwargs):
        db.connect = real_connect  # back for the next poll
        raise peewee.OperationalError("the database went away")

    outages = [gone]  # the first poll's offline work sees the database go; the next one does not

    ref = Offline.start(ActorContext(db=db, config=Config()), 3_600_000,
                        lambda: outages and setattr(db, "connect", outages.pop()))
    proxy = ref.proxy()
    wait_until(lambda: proxy.polls.get(timeout=5) == 1, timeout=20, what="the failed poll")
    assert proxy.finished.get(timeout=5) == 0 and ref.is_alive()
    ref.tell(Wake("the database is back"))
    wait_until(lambda: proxy.finished.get(timeout=5) == 1, timeout=20, what="the next poll")
    assert ref.is_alive()


class Handler(Worker):
    """Handles ``int`` messages; fails with a database outage while ``down`` is set."""

    name = "handler"

    def __init__(self, ctx: ActorContext, interval_ms: int):
        super().__init__(ctx, interval_ms)
        self.down = True
        self.handled: list[int] = []

    def poll(self) -> int:
        return 0

    def handle(self, message: object) -> None:
        if self.down:
            raise peewee.OperationalError("the database went away")
        assert isinstance(message, int)
        self.handled.append(message)

    def recover(self) -> None:
        self.down = False

    def waiting(self) -> int:
        return len(self._held)


def test_messages_during_an_outage_are_held_in_order_behind_one_timer(db):
    ref = Handler.start(ActorContext(db=db, config=Config()), 3_600_000)
    proxy = ref.proxy()
    timers = lambda: sum(t.name == "timer-handler-retry" for t in threading.enumerate())  # noqa: E731
    for n in range(300):
        ref.tell(n)
    wait_until(lambda: proxy.waiting().get(timeout=5) == 300, timeout=20, what="every message held")
    assert timers() <= 1  # one timer for all of them (it was one thread per message per second)
    time.sleep(1.5)  # a retry round with the database still away keeps them, in order, behind one timer
    assert proxy.handled.get(timeout=5) == [] and timers() <= 1
    proxy.recover().get(timeout=5)
    wait_until(lambda: len(proxy.handled.get(timeout=5)) == 300, timeout=20, what="every message handled")
    assert proxy.handled.get(timeout=5) == list(range(300)) and ref.is_alive()
