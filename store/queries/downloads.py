"""Downloads (one torrent each, keyed by info hash) through their :class:`DownloadPhase`, who owns and who
polls them, the files mapped from them onto items, and the blocklist of releases that failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import peewee as pw

from annexd.domain.download_states import (
    DownloadPhase,
    ReuseAction,
    VanishedOutcome,
    vanished_outcome,
    vanished_reason,
)
from annexd.domain.pipeline import Event, ProcessingStatus
from store.db import database_proxy, is_postgres, write_transaction
from store.models import Blocklist, DaemonInstance, Download, DownloadFile, ProcessingItem
from store.queries.items import apply_transition, retry_download_or_fail

if TYPE_CHECKING:
    from annexd.domain.retry import RetryPolicy

S = ProcessingStatus
P = DownloadPhase


def get_or_create_download(info_hash: str, client: str, name: str, release: Mapping[str, Any],
                           now: datetime, owner: str | None = None) -> tuple[Download, bool]:
    """The Download of this info hash and whether it is new; a new one starts ADDING (stored before the
    torrent reaches a client), claimed by ``owner``, the daemon that will add and poll it."""
    download, created = Download.get_or_create(info_hash=info_hash, defaults={
        "client": client, "name": name, "state": P.ADDING, "release": dict(release), "added_at": now,
        "claimed_by": owner})
    return cast(Download, download), bool(created)


def get_download(download_id: int) -> Download:
    return cast(Download, Download.get_by_id(download_id))


def reuse_download(download: Download, action: ReuseAction, release: Mapping[str, Any], owner: str,
                   now: datetime) -> bool:
    """A new grab of a torrent that already has a row: REMAP sends a MAPPED row back to COMPLETED (its files
    are mapped again for the new items), READD sends a MAPPED, REMOVED or FAILED row back to ADDING (whether
    annexd owns it is decided again when it is added). False when the row changed meanwhile."""
    if action is ReuseAction.ATTACH:
        return True
    fields: dict[Any, Any] = {Download.claimed_by: owner, Download.release: dict(release)}
    if action is ReuseAction.REMAP:
        fields[Download.state] = P.COMPLETED
    else:
        fields.update({Download.state: P.ADDING, Download.progress: 0.0, Download.completed_at: None,
                       Download.removed_at: None, Download.owned: False, Download.added_at: now})
    return bool(Download.update(fields).where(
        (Download.id == download.id) & (Download.state == download.state)).execute())


def _free_claim(owner: str, live_since: datetime) -> Any:
    """Downloads no live daemon holds: never claimed, or held by a daemon that stopped beating."""
    live = DaemonInstance.select(DaemonInstance.id).where(DaemonInstance.last_seen >= live_since)
    return Download.claimed_by.is_null() | ((Download.claimed_by != owner) & Download.claimed_by.not_in(live))


def _in_phases(phases: Sequence[DownloadPhase], mapped_owned: bool) -> Any:
    where = Download.state.in_([p.value for p in phases if p is not P.MAPPED])
    if P.MAPPED in phases:
        mapped = Download.state == P.MAPPED
        where = where | (mapped if mapped_owned else mapped & (Download.owned == False))  # noqa: E712
    return where


def claim_downloads(owner: str, live_since: datetime, phases: Sequence[DownloadPhase], limit: int, *,
                    mapped_owned: bool = True) -> list[Download]:
    """The downloads in ``phases`` that daemon ``owner`` adds, polls and maps: those it holds, plus up to
    ``limit`` free ones it claims now (FOR UPDATE SKIP LOCKED on PostgreSQL, so two daemons never claim one).
    ``mapped_owned`` False leaves out MAPPED torrents annexd owns (nothing to do with them then)."""
    db = database_proxy.obj
    where = _in_phases(phases, mapped_owned)
    free = Download.select(Download.id).where(where & _free_claim(owner, live_since))
    if free.exists():  # a plain read first: most polls find nothing to claim and take no write lock
        with write_transaction(db):
            query = free.order_by(Download.id).limit(limit)
            if is_postgres(db):
                query = query.for_update(of=Download, skip_locked=True)
            ids = [row.id for row in query]
            if ids:
                Download.update(claimed_by=owner).where(
                    Download.id.in_(ids) & _free_claim(owner, live_since)).execute()
    return list(Download.select().where(where & (Download.claimed_by == owner)).order_by(Download.id))


class _NothingGrabbed(Exception):
    """Every item was moved by someone else first: undo the Download row this grab made."""


def grab(items: Sequence[ProcessingItem], info_hash: str, client: str, name: str, release: Mapping[str, Any],
         now: datetime, owner: str | None = None) -> tuple[Download, list[int], bool] | None:
    """FOUND -> DOWNLOADING in one step with the Download row (hash first, claimed by ``owner``): no crash point
    leaves an item DOWNLOADING without its Download, or a Download without its items. Returns the Download, the
    items moved and whether the row is new; None when nothing was still FOUND (the row made is undone)."""
    try:
        with write_transaction():
            download, created = get_or_create_download(info_hash, client, name, release, now, owner)
            moved = [i.id for i in items if apply_transition(
                i.id, S.FOUND, Event.GRAB, now, attempts=i.attempts,
                fields={"download": download.id, "detail": "adding to the download client"})]
            if not moved:
                raise _NothingGrabbed
    except _NothingGrabbed:
        return None
    return download, moved, created


def downloads_in(*phases: DownloadPhase) -> list[Download]:
    return list(Download.select().where(Download.state.in_([p.value for p in phases])))


def download_added(download_id: int, client: str, owned: bool) -> bool:
    """The client took the torrent: ADDING -> DOWNLOADING; ``owned`` when annexd added it (it was not there
    already). False when the row left ADDING meanwhile (cancelled)."""
    return bool(Download.update(state=P.DOWNLOADING, client=client, owned=owned).where(
        (Download.id == download_id) & (Download.state == P.ADDING)).execute())


def download_completed(download_id: int, now: datetime, save_path: str | None, content_path: str | None,
                       size: int) -> None:
    """Every wanted byte is on disk: COMPLETED, ready to map."""
    Download.update(state=DownloadPhase.COMPLETED, progress=100.0, completed_at=now, save_path=save_path,
                    content_path=content_path, size=size).where(Download.id == download_id).execute()


def download_mapped(download_id: int) -> bool:
    """COMPLETED -> MAPPED, in one statement, only while no item waits on it: an item that joined during the
    mapping keeps the row COMPLETED, to be mapped on the next poll. A row that left COMPLETED meanwhile (its
    torrent vanished) stays as it is."""
    waiting = ProcessingItem.select(ProcessingItem.id).where(
        (ProcessingItem.download == download_id) & (ProcessingItem.status == S.DOWNLOADING))
    return bool(Download.update(state=P.MAPPED).where(
        (Download.id == download_id) & (Download.state == P.COMPLETED) & ~pw.fn.EXISTS(waiting)).execute())


def download_removed(download_id: int, phase: DownloadPhase, now: datetime) -> None:
    """The torrent and its files are gone from the client: REMOVED (done with) or FAILED (given up on)."""
    Download.update(state=phase, removed_at=now).where(Download.id == download_id).execute()


def download_failed(download_id: int) -> None:
    """Given up on, although the client could not be asked to remove it."""
    Download.update(state=DownloadPhase.FAILED).where(Download.id == download_id).execute()


def download_items(download_id: int, status: ProcessingStatus = S.DOWNLOADING) -> list[ProcessingItem]:
    return list(ProcessingItem.select().where((ProcessingItem.download == download_id)
                                              & (ProcessingItem.status == status)))


def download_in_use(download_id: int) -> bool:
    """Whether an item using this download is still to be delivered (not COMPLETED, CANCELLED or FAILED)."""
    users = ProcessingItem.select(ProcessingItem.status).where(ProcessingItem.download == download_id)
    return any(S(u.status) not in (S.COMPLETED, S.CANCELLED, S.FAILED) for u in users)


def downloads_only_for(request_id: int, download_ids: Iterable[int]) -> list[Download]:
    """Those of the downloads no item of another request still uses (cancelled and failed items do not count)."""
    unused = []
    for download in Download.select().where(Download.id.in_(list(download_ids))):
        others = ProcessingItem.select().where(
            (ProcessingItem.download == download.id) & (ProcessingItem.request != request_id)
            & ProcessingItem.status.not_in([S.CANCELLED, S.FAILED])).count()
        if not others:
            unused.append(download)
    return unused


def ignore_files(download_id: int, ignored: Iterable[tuple[str, str]]) -> None:
    """Files of a download that map to no item (samples, extras...), each with why (once, when re-mapped)."""
    known = {f.relative_path for f in DownloadFile.select(DownloadFile.relative_path).where(
        (DownloadFile.download == download_id) & (DownloadFile.role == "ignored"))}
    for path, reason in ignored:
        if path not in known:
            DownloadFile.create(download=download_id, relative_path=path, role="ignored", reason=reason)


def map_item_file(download_id: int, item: ProcessingItem, relative_path: str, size: int, source: str,
                  now: datetime) -> bool:
    """The file of a download that satisfies an item: recorded, and the item DOWNLOADED with it as its source."""
    DownloadFile.create(download=download_id, item=item.id, relative_path=relative_path, size=size)
    return apply_transition(item.id, S.DOWNLOADING, Event.DOWNLOAD_COMPLETE, now,
                            fields={"source_file_path": source, "progress": 100.0}, attempts=item.attempts)


def blocklisted_keys() -> set[str]:
    return {row.release_key for row in Blocklist.select(Blocklist.release_key)}


def add_to_blocklist(key: str, title: str, reason: str, request_id: int | None, now: datetime) -> None:
    Blocklist.insert(release_key=key[:100], title=title[:1000], reason=reason, request=request_id,
                     created_at=now).on_conflict_ignore().execute()


def torrent_vanished(download_id: int, client: str, now: datetime, policy: RetryPolicy
                     ) -> VanishedOutcome | None:
    """A tracked torrent the client no longer lists (removed by hand): the Download becomes REMOVED (there is
    nothing to delete) and counts one more vanishing; its DOWNLOADING items grab the same release again the
    first time, and take their next alternative after that (the release blocklisted), the reason recorded on
    each. None when the row had already moved on (another daemon or worker handled it)."""
    with write_transaction():
        moved = Download.update(state=P.REMOVED, removed_at=now, vanished=Download.vanished + 1).where(
            (Download.id == download_id) & Download.state.in_([P.DOWNLOADING, P.COMPLETED])).execute()
        if not moved:
            return None
        download = cast(Download, Download.get_by_id(download_id))
        outcome = vanished_outcome(download.vanished)
        reason = vanished_reason(outcome, client)
        if outcome is VanishedOutcome.NEXT_RELEASE:
            request_id = next((i.request_id for i in download_items(download_id)), None)
            add_to_blocklist(download.info_hash, download.name, reason, request_id, now)
        blocked = blocklisted_keys()
        for item in download_items(download_id):
            if outcome is VanishedOutcome.REGRAB:
                apply_transition(item.id, S.DOWNLOADING, Event.DOWNLOAD_RETRY, now, error=reason,
                                 fields={"download": None}, attempts=item.attempts)
            else:
                retry_download_or_fail(item, reason, now, policy, blocked)
    return outcome
