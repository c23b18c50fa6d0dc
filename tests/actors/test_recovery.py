"""RecoveryWorker on a real PostgreSQL shared by two daemons: live claims are left alone, the claims of a
daemon that stopped beating are released, and a dead process on this host is forgotten at once."""

import subprocess
from datetime import datetime, timedelta

from actors.context import ActorContext
from actors.recovery import RecoveryWorker
from annexd.config import Config
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import RequestSpec
from store import queries
from store.models import ProcessingItem
from tests.util import wait_until

NOW = datetime(2026, 6, 1, 12, 0)


def _claimed(db, status, owner):
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title=f"M {owner}"), NOW)
        item = queries.request_items(req.id)[0]
        ProcessingItem.update(status=status, claimed_by=owner).where(ProcessingItem.id == item.id).execute()
        return item.id


def _status(db, item_id):
    with db.connection_context():
        return ProcessingItem.get_by_id(item_id).status


def _recover(db, clock):
    ctx = ActorContext(db=db, config=Config(), clock=clock, host="this-host", pid=1)
    ref = RecoveryWorker.start(ctx, 60_000, 90.0)
    wait_until(lambda: ref.proxy().polls.get(timeout=5) >= 1, what="a recovery poll")
    return ref


def test_live_claims_stay_and_silent_ones_are_released(pg):
    with pg.connection_context():
        queries.heartbeat("other-host:42:aa", "other-host", 42, NOW)
    other = _claimed(pg, S.ENCODING, "other-host:42:aa")
    unknown = _claimed(pg, S.SEARCHING, None)
    ref = _recover(pg, lambda: NOW + timedelta(seconds=30))
    assert _status(pg, other) == S.ENCODING  # the other daemon beat 30 s ago: its work is its own
    assert _status(pg, unknown) == S.PENDING  # nobody owns this claim
    ref.stop()
    ref = _recover(pg, lambda: NOW + timedelta(seconds=200))
    assert _status(pg, other) == S.DOWNLOADED  # silent for 200 s: released to be encoded again
    ref.stop()


def test_a_dead_process_on_this_host_is_forgotten_at_once(pg):
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = f"this-host:{dead.pid}:bb"
    with pg.connection_context():
        queries.heartbeat(owner, "this-host", dead.pid, NOW)
    item = _claimed(pg, S.DELIVERING, owner)
    _recover(pg, lambda: NOW + timedelta(seconds=1))
    assert _status(pg, item) == S.ENCODED
