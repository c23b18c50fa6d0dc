"""The writer's coalescing rules (pure): latest wins, threshold, per-item minimum interval, baseline."""

from dataclasses import dataclass

from annexd.domain.coalesce import Coalescer


@dataclass(frozen=True)
class U:
    item_id: int
    status: str
    progress: float


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _written(c: Coalescer, force: bool = False) -> dict[int, float]:
    batch = c.drain(force=force)
    c.mark_written(batch)
    return {u.item_id: u.progress for u in batch}


def test_latest_wins_and_small_moves_are_dropped():
    c = Coalescer(threshold=1.0)
    for p in (1.0, 2.0, 3.0):
        c.offer(U(1, "DOWNLOADING", p))
    assert _written(c) == {1: 3.0}
    c.offer(U(1, "DOWNLOADING", 3.9))
    assert _written(c) == {} and not c.pending
    assert c.take_coalesced() == 3  # two replaced, one under the threshold


def test_a_recently_written_item_waits_for_its_interval_and_keeps_its_latest_value():
    clock = Clock()
    c = Coalescer(threshold=1.0, min_interval_s=30.0, clock=clock)
    c.offer(U(1, "DOWNLOADING", 10.0))
    assert _written(c) == {1: 10.0}
    clock.now += 5
    c.offer(U(1, "DOWNLOADING", 12.0))
    assert _written(c) == {} and c.deferred[1].progress == 12.0 and not c.pending  # deferred, not lost
    clock.now += 10
    c.offer(U(1, "DOWNLOADING", 14.0))
    assert _written(c) == {}
    clock.now += 15  # 30 s after the last write
    assert _written(c) == {1: 14.0}  # written with no new report: a stalled download still converges


def test_status_changes_zero_and_hundred_are_never_held_back():
    clock = Clock()
    c = Coalescer(threshold=1.0, min_interval_s=30.0, clock=clock)
    c.offer(U(1, "DOWNLOADING", 50.0))
    c.offer(U(2, "ENCODING", 50.0))
    _written(c)
    clock.now += 1
    c.offer(U(1, "DOWNLOADING", 100.0))
    c.offer(U(2, "DELIVERING", 3.0))
    assert _written(c) == {1: 100.0, 2: 3.0}


def test_force_takes_deferred_updates():
    clock = Clock()
    c = Coalescer(threshold=1.0, min_interval_s=30.0, clock=clock)
    c.offer(U(1, "DOWNLOADING", 10.0))
    _written(c)
    c.offer(U(1, "DOWNLOADING", 20.0))
    assert _written(c) == {}
    assert _written(c, force=True) == {1: 20.0}


def test_a_remembered_baseline_skips_unchanged_items_and_writes_moved_ones_at_once():
    clock = Clock()
    c = Coalescer(threshold=1.0, min_interval_s=30.0, clock=clock)
    c.remember({1: ("DOWNLOADING", 40.0), 2: ("DOWNLOADING", 40.0), 3: ("DOWNLOADING", 40.0)})
    c.offer(U(1, "DOWNLOADING", 40.5))
    c.offer(U(2, "DOWNLOADING", 45.0))
    c.offer(U(3, "ENCODING", 1.0))
    assert _written(c) == {2: 45.0, 3: 1.0}
