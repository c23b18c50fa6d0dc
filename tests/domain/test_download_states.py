"""annexd.domain.download_states: state mapping, the maindata cache (properties), stall detection, retry delays."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from annexd.domain.download_states import (
    DownloadState,
    MaindataCache,
    StallPolicy,
    StallReason,
    StallTracker,
    TorrentSnapshot,
    map_state,
    snapshot_from_qbt,
    state_warning,
)

S = DownloadState


@pytest.mark.parametrize(
    ("qbt", "ours"),
    [
        ("downloading", S.DOWNLOADING), ("forcedDL", S.DOWNLOADING), ("stalledDL", S.STALLED), ("metaDL", S.METADATA),
        ("queuedDL", S.QUEUED), ("checkingDL", S.CHECKING), ("checkingUP", S.CHECKING),
        ("checkingResumeData", S.CHECKING), ("pausedDL", S.PAUSED), ("error", S.ERROR), ("missingFiles", S.ERROR),
        ("moving", S.CHECKING), ("pausedUP", S.COMPLETED), ("uploading", S.COMPLETED), ("stalledUP", S.COMPLETED),
        ("queuedUP", S.COMPLETED), ("forcedUP", S.COMPLETED), ("somethingNew", S.ERROR), (None, S.ERROR),
    ],
)
def test_state_mapping(qbt: str | None, ours: DownloadState) -> None:
    assert map_state(qbt) is ours


def test_warnings() -> None:
    assert state_warning("stalledDL") == "no connections"
    assert state_warning("downloading") is None
    assert state_warning("weird") == "unknown state"


def test_snapshot_tolerates_partial_and_odd_fields() -> None:
    snap = snapshot_from_qbt("ABC", {"state": "downloading", "progress": 1.7, "dlspeed": "fast", "num_seeds": True})
    assert (snap.info_hash, snap.progress, snap.dlspeed, snap.num_seeds) == ("abc", 1.0, 0, 0)
    assert snap.state is S.DOWNLOADING and not snap.complete


# --- MaindataCache ---------------------------------------------------------------------------------------

HASHES = [f"{i:040x}" for i in range(6)]
torrent_fields = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["downloading", "stalledDL", "stalledUP", "pausedDL"]),
        "progress": st.floats(0, 1),
        "dlspeed": st.integers(0, 10**8),
        "category": st.sampled_from(["annexd", "other"]),
        "name": st.text(max_size=5),
    }
)
world = st.dictionaries(st.sampled_from(HASHES), torrent_fields, max_size=6)


def delta(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], rid: int) -> dict[str, Any]:
    """What qBittorrent sends for rid>0: changed fields only, new torrents in full, removed hashes listed."""
    torrents = {}
    for h, fields in new.items():
        changed = {k: v for k, v in fields.items() if old.get(h, {}).get(k, object()) != v}
        if changed:
            torrents[h] = changed
    out: dict[str, Any] = {"rid": rid}
    if torrents:
        out["torrents"] = torrents
    if removed := [h for h in old if h not in new]:
        out["torrents_removed"] = removed
    return out


@given(st.lists(world, min_size=1, max_size=12), st.lists(st.booleans(), min_size=12, max_size=12))
@settings(max_examples=300)
def test_applying_deltas_equals_the_final_full_state(states: list[dict[str, dict[str, Any]]], fulls: list[bool]) -> None:
    cache = MaindataCache()
    previous: dict[str, dict[str, Any]] = {}
    for rid, (state, full) in enumerate(zip(states, fulls, strict=False), start=1):
        if full or rid == 1:
            cache.apply({"rid": rid, "full_update": True, "torrents": state})
        else:
            changed = cache.apply(delta(previous, state, rid))
            assert changed <= set(state)
        previous = state
        assert cache.torrents == state
        assert cache.rid == rid
        assert cache.snapshots() == {h: snapshot_from_qbt(h, f) for h, f in state.items()}
    assert set(cache.snapshots("annexd")) == {h for h, f in previous.items() if f["category"] == "annexd"}


def test_full_update_replaces_and_reports_everything() -> None:
    cache = MaindataCache()
    cache.apply({"rid": 1, "full_update": True, "torrents": {"AA": {"progress": 0.5}, "bb": {"progress": 0}}})
    changed = cache.apply({"rid": 1, "full_update": True, "torrents": {"bb": {"progress": 0.1}}})
    assert changed == {"bb"} and set(cache.torrents) == {"bb"} and cache.full_updates == 2
    assert cache.apply({"rid": 2}) == set()


# --- stall detection -------------------------------------------------------------------------------------


def snap(state: str = "downloading", downloaded: int = 0, seeds: int = 1, progress: float = 0.0) -> TorrentSnapshot:
    return snapshot_from_qbt(
        "h", {"state": state, "downloaded": downloaded, "num_seeds": seeds, "progress": progress}
    )


def test_stall_verdicts_at_their_thresholds() -> None:
    tracker = StallTracker()
    assert tracker.observe(snap(downloaded=1), 0) is None
    assert tracker.observe(snap(downloaded=1), 29 * 60) is None
    verdict = tracker.observe(snap(downloaded=1), 30 * 60)
    assert verdict is not None and verdict.reason is StallReason.NO_PROGRESS and verdict.message == "no progress for 30 min"

    no_seeds = StallTracker()
    no_seeds.observe(snap(seeds=0, downloaded=1), 0)
    assert no_seeds.observe(snap(seeds=0, downloaded=2), 9 * 60) is None
    assert no_seeds.observe(snap(seeds=0, downloaded=3), 10 * 60).reason is StallReason.NO_SEEDS  # type: ignore[union-attr]

    meta = StallTracker()
    meta.observe(snap("metaDL", seeds=0), 100)
    assert meta.observe(snap("metaDL", seeds=0), 100 + 599) is None
    assert meta.observe(snap("metaDL", seeds=0), 100 + 600).reason is StallReason.NO_METADATA  # type: ignore[union-attr]


def test_pausing_restarts_the_clocks() -> None:
    tracker = StallTracker()
    tracker.observe(snap(downloaded=1), 0)
    assert tracker.observe(snap("pausedDL", downloaded=1), 3600) is None
    assert tracker.observe(snap(downloaded=1), 3601) is None
    assert tracker.observe(snap(downloaded=1), 3601 + 30 * 60) is not None


observation = st.tuples(
    st.floats(0, 900),  # seconds since the previous observation
    st.integers(0, 5),  # bytes downloaded since the previous one
    st.integers(0, 2),  # seeds
    st.sampled_from(["downloading", "stalledDL", "pausedDL", "stalledUP", "metaDL", "checkingDL"]),
)


@given(st.lists(observation, max_size=40))
@settings(max_examples=300)
def test_stall_tracker_properties(observations: list[tuple[float, int, int, str]]) -> None:
    policy = StallPolicy()
    tracker = StallTracker(policy)
    now, downloaded = 0.0, 0
    active_since: float | None = None
    last_growth = last_seed = 0.0
    for dt, grew, seeds, state in observations:
        now += dt
        downloaded += grew
        verdict = tracker.observe(snap(state, downloaded, seeds), now)
        active = map_state(state) in (S.DOWNLOADING, S.STALLED, S.METADATA)
        if not active:
            active_since = None
            assert verdict is None
            continue
        if active_since is None:
            active_since, last_growth, last_seed = now, now, now
        if grew:
            last_growth = now
        if seeds:
            last_seed = now
        if verdict is None:
            continue
        # a verdict is never given before its threshold has passed, counted from when the torrent was active
        assert now - active_since >= min(policy.no_progress_seconds, policy.no_seeds_seconds, policy.metadata_seconds)
        if verdict.reason is StallReason.NO_PROGRESS:
            assert now - last_growth >= policy.no_progress_seconds
        if verdict.reason is StallReason.NO_SEEDS:
            assert now - last_seed >= policy.no_seeds_seconds and state != "metaDL"
