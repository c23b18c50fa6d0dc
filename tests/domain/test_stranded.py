"""The invariant: every non-terminal item is waiting (reason + due time) or owned by a live incarnation that is
making progress; everything else is stranded, with the repair that returns it to its last safe state."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given, strategies as st

from annexd.domain.download_states import DownloadPhase
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.stranded import ItemState, Liveness, Owner, Repair, owner_is_live, parse_owner, stranded

NOW = datetime(2026, 5, 1, 12, 0)
ME = "host-a:100:ab12"
LIVE = Liveness(this_instance=ME, live_instances=frozenset({ME, "host-b:7:cd34"}),
                running={"encode": 3, "deliver": 1, "search": 2}, stall_seconds={"encode": 600, "search": 900})


def _claim(status=S.ENCODING, owner=f"{ME}:encode:3", beat=NOW - timedelta(seconds=5), work=True):
    return ItemState(1, status, claimed_by=owner, heartbeat_at=beat, has_open_work=work)


def test_owners_round_trip_through_their_text():
    owner = parse_owner(f"{ME}:deliver:12")
    assert owner == Owner(ME, "deliver", 12) and str(owner) == f"{ME}:deliver:12"
    assert parse_owner("host-a:100:ab12") is None and parse_owner(None) is None  # an instance is not an owner
    assert parse_owner("x:encode:notanumber") is None


def test_a_live_claim_making_progress_holds():
    assert stranded(_claim(), NOW, LIVE) is None
    assert stranded(_claim(owner="host-b:7:cd34:encode:99"), NOW, LIVE) is None  # another live daemon's


@pytest.mark.parametrize("item, why", [
    (_claim(owner=None), "claimed by nobody"),
    (_claim(owner="host-c:1:ee:encode:1"), "stopped beating"),
    (_claim(owner=f"{ME}:encode:2"), "no longer running"),  # a restarted worker's old claim
    (_claim(status=S.SEARCHING, owner=f"{ME}:search:1"), "no longer running"),
    (_claim(beat=NOW - timedelta(seconds=601)), "stall limit 600 s"),
    (_claim(beat=None), "for ever"),
    (_claim(work=False), "ENCODING without a live encode job"),
    (_claim(status=S.DELIVERING, owner=f"{ME}:deliver:1", work=False), "DELIVERING without a live transfer"),
])
def test_a_claim_is_released_when_its_owner_is_gone_stale_or_idle(item, why):
    verdict = stranded(item, NOW, LIVE)
    assert verdict is not None and why in verdict.reason and verdict.repair is Repair.RELEASE


@pytest.mark.parametrize("phase, repair", [
    (None, Repair.RELEASE), (DownloadPhase.MAPPED, Repair.REMAP), (DownloadPhase.FAILED, Repair.RELEASE),
    (DownloadPhase.ADDING, None), (DownloadPhase.DOWNLOADING, None), (DownloadPhase.COMPLETED, None),
])
def test_downloading_needs_a_download_that_carries_it(phase, repair):
    verdict = stranded(ItemState(1, S.DOWNLOADING, download_phase=phase), NOW, LIVE)
    assert (verdict.repair if verdict else None) is repair


def test_a_wait_needs_a_due_time():
    assert stranded(ItemState(1, S.AWAITING, next_retry_at=NOW), NOW, LIVE) is None
    verdict = stranded(ItemState(1, S.QUALITY_UNAVAILABLE), NOW, LIVE)
    assert verdict is not None and verdict.repair is Repair.DUE_NOW


@given(st.sampled_from([S.PENDING, S.FOUND, S.DOWNLOADED, S.ENCODED, S.FAILED, S.COMPLETED, S.CANCELLED]))
def test_queued_terminal_and_failed_items_are_never_stranded(status):
    assert stranded(ItemState(1, status), NOW, LIVE) is None


def test_job_owners_are_live_only_for_running_incarnations():
    assert owner_is_live(f"{ME}:encode:3", LIVE) and owner_is_live("host-b:7:cd34:encode:1", LIVE)
    assert not owner_is_live(f"{ME}:encode:2", LIVE) and not owner_is_live("gone:1:x:encode:1", LIVE)
