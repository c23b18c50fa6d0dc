"""Download states (pure): qBittorrent state mapping, the sync/maindata cache, stall detection, torrents that
vanished from the client, reusing a Download row, and the lifecycle of annexd's own Download row.

Two enums, two meanings: :class:`DownloadState` is what the client says a torrent is doing right now (mapped
from qBittorrent's state names); :class:`DownloadPhase` is where annexd's Download row is in its own
lifecycle (stored in ``download.state``).

Nothing here talks to the network or reads a clock; ``now`` is always a parameter (seconds, monotonic or epoch,
as long as the caller is consistent).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class DownloadPhase(enum.StrEnum):
    """The Download row's lifecycle, stored as these values in ``download.state``."""

    ADDING = "adding"  # the info hash is stored; the torrent is not yet in the client
    DOWNLOADING = "downloading"
    COMPLETED = "completed"  # every wanted byte is on disk: files ready to map
    MAPPED = "mapped"  # files mapped to items; kept (seeding) until removed
    REMOVED = "removed"  # deleted from the client with its files
    FAILED = "failed"  # stalled or errored: blocklisted, its items moved on


class DownloadState(enum.StrEnum):
    """What the client reports a torrent is doing now (qBittorrent's states, mapped to fewer names)."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    STALLED = "stalled"
    METADATA = "metadata"
    COMPLETED = "completed"
    ERROR = "error"
    PAUSED = "paused"
    CHECKING = "checking"


# Sonarr's mapping, with our own names. Completed means "all wanted data is on disk", whatever the seeding does.
_QBT_STATES: dict[str, DownloadState] = {
    "downloading": DownloadState.DOWNLOADING,
    "forcedDL": DownloadState.DOWNLOADING,
    "stalledDL": DownloadState.STALLED,
    "metaDL": DownloadState.METADATA,
    "forcedMetaDL": DownloadState.METADATA,
    "queuedDL": DownloadState.QUEUED,
    "allocating": DownloadState.QUEUED,
    "checkingDL": DownloadState.CHECKING,
    "checkingUP": DownloadState.CHECKING,
    "checkingResumeData": DownloadState.CHECKING,
    "pausedDL": DownloadState.PAUSED,
    "stoppedDL": DownloadState.PAUSED,
    "error": DownloadState.ERROR,
    "missingFiles": DownloadState.ERROR,
    "moving": DownloadState.CHECKING,
    "pausedUP": DownloadState.COMPLETED,
    "stoppedUP": DownloadState.COMPLETED,
    "uploading": DownloadState.COMPLETED,
    "stalledUP": DownloadState.COMPLETED,
    "queuedUP": DownloadState.COMPLETED,
    "forcedUP": DownloadState.COMPLETED,
}

_WARNINGS: dict[str, str] = {
    "stalledDL": "no connections",
    "metaDL": "waiting for metadata (no DHT: needs a peer)",
    "error": "qBittorrent reports an error",
    "missingFiles": "files are missing",
    "unknown": "unknown state",
}


def map_state(qbt_state: str | None) -> DownloadState:
    """Unknown states count as ERROR so that they are looked at, never as COMPLETED."""
    return _QBT_STATES.get(qbt_state or "unknown", DownloadState.ERROR)


def state_warning(qbt_state: str | None) -> str | None:
    """A human warning for states that need attention (Sonarr shows these, it never fails them on its own)."""
    if qbt_state not in _QBT_STATES:
        return _WARNINGS["unknown"]
    return _WARNINGS.get(qbt_state)


@dataclass(frozen=True)
class TorrentSnapshot:
    info_hash: str
    state: DownloadState
    qbt_state: str
    progress: float
    dlspeed: int
    eta: int
    num_seeds: int
    size: int
    downloaded: int
    save_path: str
    content_path: str
    name: str
    category: str = ""
    download_path: str = ""

    @property
    def percent(self) -> float:
        return round(self.progress * 100.0, 2)

    @property
    def complete(self) -> bool:
        return self.state is DownloadState.COMPLETED and self.progress >= 1.0

    @property
    def warning(self) -> str | None:
        return state_warning(self.qbt_state)


def _num(raw: Mapping[str, Any], key: str, default: float = 0) -> float:
    value = raw.get(key, default)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


def snapshot_from_qbt(info_hash: str, raw: Mapping[str, Any]) -> TorrentSnapshot:
    """Build a snapshot from one merged maindata (or torrents/info) torrent dict; tolerant of missing keys."""
    qbt_state = str(raw.get("state", "unknown"))
    return TorrentSnapshot(
        info_hash=info_hash.lower(),
        state=map_state(qbt_state),
        qbt_state=qbt_state,
        progress=min(1.0, max(0.0, float(_num(raw, "progress")))),
        dlspeed=int(_num(raw, "dlspeed")),
        eta=int(_num(raw, "eta", 8_640_000)),
        num_seeds=int(_num(raw, "num_seeds")),
        size=int(_num(raw, "size")),
        downloaded=int(_num(raw, "downloaded")),
        save_path=str(raw.get("save_path", "")),
        content_path=str(raw.get("content_path", "")),
        name=str(raw.get("name", "")),
        category=str(raw.get("category", "")),
        download_path=str(raw.get("download_path", "")),
    )


# --- sync/maindata cache -------------------------------------------------------------------------------


@dataclass
class MaindataCache:
    """The merged view of qBittorrent's sync/maindata.

    Feed every response to :meth:`apply` and send :attr:`rid` with the next request. A ``full_update`` replaces
    everything (first call, after a qBittorrent restart, or when the server lost our rid); otherwise partial
    torrent dicts are merged key by key and ``torrents_removed`` are dropped.
    """

    rid: int = 0
    torrents: dict[str, dict[str, Any]] = field(default_factory=dict)
    full_updates: int = 0
    _snaps: dict[str, TorrentSnapshot] = field(default_factory=dict, repr=False)

    def apply(self, response: Mapping[str, Any]) -> set[str]:
        """Merge one response; return the hashes that changed or appeared (all of them on a full update)."""
        changed: set[str] = set()
        delta = response.get("torrents") or {}
        full = bool(response.get("full_update"))
        if full:
            self.torrents = {}
            self.full_updates += 1
        for info_hash, fields in delta.items():
            key = info_hash.lower()
            self.torrents.setdefault(key, {}).update(fields or {})
            changed.add(key)
        for info_hash in response.get("torrents_removed") or ():
            self.torrents.pop(info_hash.lower(), None)
            changed.discard(info_hash.lower())
        if full:
            changed = set(self.torrents)
            self._snaps = {}
        for key in changed:
            self._snaps[key] = snapshot_from_qbt(key, self.torrents[key])
        for key in [k for k in self._snaps if k not in self.torrents]:
            del self._snaps[key]
        rid = response.get("rid")
        if isinstance(rid, int):
            self.rid = rid
        return changed

    def reset(self) -> None:
        """Forget everything: the next request (rid=0) gets a full update."""
        self.rid = 0
        self.torrents = {}
        self._snaps = {}

    def forget(self, info_hash: str) -> None:
        self.torrents.pop(info_hash.lower(), None)
        self._snaps.pop(info_hash.lower(), None)

    def snapshot(self, info_hash: str) -> TorrentSnapshot | None:
        return self._snaps.get(info_hash.lower())

    def snapshots(self, category: str | None = None) -> dict[str, TorrentSnapshot]:
        """Current snapshots (rebuilt only for torrents that changed), optionally only ``category``'s."""
        if category is None:
            return dict(self._snaps)
        return {h: s for h, s in self._snaps.items() if s.category == category}


# --- stall detection -----------------------------------------------------------------------------------


class StallReason(enum.StrEnum):
    NO_PROGRESS = "no_progress"
    NO_SEEDS = "no_seeds"
    NO_METADATA = "no_metadata"


@dataclass(frozen=True)
class StallPolicy:
    no_progress_seconds: float = 30 * 60
    no_seeds_seconds: float = 10 * 60
    metadata_seconds: float = 10 * 60


@dataclass(frozen=True)
class StallVerdict:
    info_hash: str
    reason: StallReason
    since: float
    seconds: float

    @property
    def message(self) -> str:
        minutes = int(self.seconds // 60)
        return {
            StallReason.NO_PROGRESS: f"no progress for {minutes} min",
            StallReason.NO_SEEDS: f"no seeds for {minutes} min",
            StallReason.NO_METADATA: f"metadata not resolved in {minutes} min",
        }[self.reason]


@dataclass
class _Watch:
    first_seen: float
    last_progress_at: float
    best_downloaded: int
    best_progress: float
    last_seeded_at: float
    metadata_since: float | None


@dataclass
class StallTracker:
    """Remembers, per hash, when progress last moved and when a seed was last seen.

    Paused, checking, queued and completed torrents are not judged (their clocks restart when they resume), so
    a person pausing a torrent never makes annexd give up on it.
    """

    policy: StallPolicy = field(default_factory=StallPolicy)
    _watches: dict[str, _Watch] = field(default_factory=dict)

    _ACTIVE = frozenset({DownloadState.DOWNLOADING, DownloadState.STALLED, DownloadState.METADATA})

    def observe(self, snap: TorrentSnapshot, now: float) -> StallVerdict | None:
        if snap.state not in self._ACTIVE:
            self._watches.pop(snap.info_hash, None)  # the clocks start again when it becomes active
            return None
        watch = self._watches.get(snap.info_hash) or self._start(snap, now)
        self._update(watch, snap, now)
        return self._verdict(watch, snap, now)

    def forget(self, info_hash: str) -> None:
        self._watches.pop(info_hash, None)

    def tracked(self) -> Iterable[str]:
        return tuple(self._watches)

    def _start(self, snap: TorrentSnapshot, now: float) -> _Watch:
        watch = _Watch(now, now, snap.downloaded, snap.progress, now, None)
        self._watches[snap.info_hash] = watch
        return watch

    def _update(self, watch: _Watch, snap: TorrentSnapshot, now: float) -> None:
        if snap.downloaded > watch.best_downloaded or snap.progress > watch.best_progress:
            watch.best_downloaded = max(watch.best_downloaded, snap.downloaded)
            watch.best_progress = max(watch.best_progress, snap.progress)
            watch.last_progress_at = now
        if snap.num_seeds > 0:
            watch.last_seeded_at = now
        if snap.state is DownloadState.METADATA:
            watch.metadata_since = now if watch.metadata_since is None else watch.metadata_since
        else:
            watch.metadata_since = None

    def _verdict(self, watch: _Watch, snap: TorrentSnapshot, now: float) -> StallVerdict | None:
        p = self.policy
        if watch.metadata_since is not None and now - watch.metadata_since >= p.metadata_seconds:
            return StallVerdict(snap.info_hash, StallReason.NO_METADATA, watch.metadata_since, now - watch.metadata_since)
        if snap.state is DownloadState.METADATA:
            return None
        if now - watch.last_seeded_at >= p.no_seeds_seconds:
            return StallVerdict(snap.info_hash, StallReason.NO_SEEDS, watch.last_seeded_at, now - watch.last_seeded_at)
        if now - watch.last_progress_at >= p.no_progress_seconds:
            return StallVerdict(
                snap.info_hash, StallReason.NO_PROGRESS, watch.last_progress_at, now - watch.last_progress_at
            )
        return None


# --- torrents the client stopped listing, and reusing a Download row ------------------------------------


@dataclass
class AbsenceTracker:
    """Remembers, per hash, since when a tracked torrent is missing from the client's full view.

    A torrent counts as gone only after ``min_polls`` polls in a row without it, spanning at least
    ``grace_seconds``: a client that has just restarted may list its torrents before it has loaded all of
    them, and one poll is no proof."""

    grace_seconds: float = 60.0
    min_polls: int = 2
    _missing: dict[str, tuple[float, int]] = field(default_factory=dict)

    def missing(self, info_hash: str, now: float) -> bool:
        """Record one poll without the torrent; True once it counts as gone."""
        since, polls = self._missing.get(info_hash, (now, 0))
        self._missing[info_hash] = (since, polls + 1)
        return polls + 1 >= self.min_polls and now - since >= self.grace_seconds

    def present(self, info_hash: str) -> None:
        self._missing.pop(info_hash, None)

    def tracked(self) -> Iterable[str]:
        return tuple(self._missing)


class VanishedOutcome(enum.StrEnum):
    """What happens to the items of a torrent that was removed from the client behind annexd's back."""

    REGRAB = "regrab"  # the first time: the same release is grabbed again
    NEXT_RELEASE = "next_release"  # again: the release is blocklisted and the next alternative taken


def vanished_outcome(times: int) -> VanishedOutcome:
    """``times``: how often this torrent has now vanished (1 the first time)."""
    return VanishedOutcome.REGRAB if times <= 1 else VanishedOutcome.NEXT_RELEASE


def vanished_reason(outcome: VanishedOutcome, client: str) -> str:
    if outcome is VanishedOutcome.REGRAB:
        return f"the torrent was removed from {client} outside annexd; grabbing the same release again"
    return f"the torrent was removed from {client} outside annexd again; taking the next alternative"


class ReuseAction(enum.StrEnum):
    """What a new grab does with the existing Download row of the same torrent."""

    ATTACH = "attach"  # it is being added, downloaded or mapped right now: the items join it
    REMAP = "remap"  # done and mapped, still in the client: its files are mapped again for the new items
    READD = "readd"  # removed or given up on (or gone from the client): added again


def reuse_action(phase: DownloadPhase, in_client: bool | None) -> ReuseAction:
    """Never wait on a row that will not change: a MAPPED, REMOVED or FAILED row is revived.
    ``in_client`` (asked only for MAPPED rows; None when the client could not say) decides re-map or re-add."""
    if phase in (DownloadPhase.ADDING, DownloadPhase.DOWNLOADING, DownloadPhase.COMPLETED):
        return ReuseAction.ATTACH
    if phase is DownloadPhase.MAPPED and in_client is not False:
        return ReuseAction.REMAP
    return ReuseAction.READD


def seeding_goals_met(snap: TorrentSnapshot, ratio_limit: float | None, time_limit_minutes: int | None) -> bool:
    """Whether a finished torrent may go: no goals were set, or qBittorrent stopped it on reaching them
    (its default action when a ratio or seeding-time limit is hit is to pause the torrent)."""
    if not snap.complete:
        return False
    if ratio_limit is None and time_limit_minutes is None:
        return True
    return snap.qbt_state in ("pausedUP", "stoppedUP")
