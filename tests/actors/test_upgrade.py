"""Upgrades until cutoff, with real targets: a 720p delivery replaced by 1080p on a local target and an rsync
target over a real loopback sshd, never leaving a target without a file while the request stays available; a
repack upgrades per the profile's policy (matched as a feed release is); a failed upgrade returns the item to
COMPLETED with its files, the release blocklisted."""

import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from actors.context import ActorContext
from actors.deliver import DeliverWorker
from actors.matching import match_and_apply
from actors.writer import DbWriter
from annexd.clients.delivery_settings import Target
from annexd.config import Config, DeliveryConfig
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.quality import QualityProfile, Release, make_guid
from annexd.domain.releases import parse_release
from annexd.domain.request_specs import RequestSpec
from annexd.domain.retry import RetryPolicy
from annexd.http.views import item_view
from store import queries
from store.models import Blocklist, Delivery, MediaRequest, NotificationEvent, ProcessingItem
from tests.media import make_clip
from tests.util import wait_until

GB = 1_000_000_000
PROFILE = QualityProfile(name="default", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")


def release(title, n):
    return Release(guid=make_guid(f"{n:040x}", title), title=title, size=2 * GB, indexer="feed",
                   parsed=parse_release(title), seeders=20, info_hash=f"{n:040x}")


@pytest.fixture
def stage(tmp_path, sshd, pg):
    targets = [
        Target(name="library", protocol="local", movie_root=str(tmp_path / "lib/movies"), tv_root=str(tmp_path / "lib/tv")),
        Target(name="nas", protocol="rsync", host=sshd.host, port=sshd.port, user=sshd.user, key_file=str(sshd.key_file),
               known_hosts_file=str(tmp_path / "known_hosts"), movie_root=str(sshd.root / tmp_path.name / "movies"),
               tv_root=str(sshd.root / tmp_path.name / "tv"), connect_timeout=3, command_timeout=10),
    ]
    for t in targets:
        Path(t.movie_root).mkdir(parents=True, exist_ok=True)
    cfg = replace(Config(state_dir=str(tmp_path / "state")), quality_profiles=(PROFILE,),
                  delivery=replace(DeliveryConfig(), retry=replace(DeliveryConfig().retry, base_seconds=0.0,
                                                                    cap_seconds=0.0, max_attempts=5)))
    ctx = ActorContext(db=pg, config=cfg)
    ctx.writer = DbWriter.start(ctx)
    return ctx, pg, targets, tmp_path


def _item(db, item_id):
    with db.connection_context():
        return ProcessingItem.get_by_id(item_id)


def _videos(targets):
    return {t.name: sorted(p.name for p in Path(t.movie_root).rglob("*.mkv")) for t in targets}


def _encode(db, item_id, clip, expected):
    """The stages before delivery, as the workers move them (the download and the encode are tested elsewhere)."""
    now = datetime.now()
    with db.connection_context():
        for event, status, fields in ((Event.GRAB, S.FOUND, {}), (Event.DOWNLOAD_COMPLETE, S.DOWNLOADING, {}),
                                      (Event.START_ENCODE, S.DOWNLOADED, {}),
                                      (Event.ENCODE_COMPLETE, S.ENCODING, {"encoded_file_path": str(clip),
                                                                           "source_file_path": str(clip) + ".src"})):
            assert queries.apply_transition(item_id, status, event, now, fields=fields)
            assert MediaRequest.get_by_id(_item(db, item_id).request_id).status == expected


class TargetWatch(threading.Thread):
    """Lists both targets and reads the request's status as fast as it can until stopped; remembers any moment a
    target had no video file or the request was not available."""

    def __init__(self, db, targets, request_id):
        super().__init__(daemon=True)
        self.db, self.targets, self.request_id = db, targets, request_id
        self.stop, self.polls, self.gaps, self.seen = threading.Event(), 0, [], set()

    def run(self):
        with self.db.connection_context():
            while not self.stop.is_set():
                files = _videos(self.targets)
                status = MediaRequest.get_by_id(self.request_id).status
                summary = queries.request_summary({"id": self.request_id})["status"]
                self.seen.update(f for names in files.values() for f in names)
                if not all(files.values()) or status != "COMPLETED" or summary != "COMPLETED":
                    self.gaps.append((files, status, summary))
                self.polls += 1


def test_an_upgrade_replaces_720p_by_1080p_on_two_targets_never_leaving_one_without_a_file(stage):
    ctx, db, targets, tmp_path = stage
    old_clip = make_clip(tmp_path / "encode/old/Dune.mkv", seconds=1, size="1280x720")
    new_clip = make_clip(tmp_path / "encode/new/Dune.mkv", seconds=1, size="1920x1080")
    old, new = release("Dune.2021.720p.WEB-DL.x264-GRP", 1), release("Dune.2021.1080p.WEB-DL.x264-GRP", 2)
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title="Dune", year=2021, targets=("library", "nas")),
                                     datetime.now())
        item_id = queries.request_items(req.id)[0].id
        ProcessingItem.update(status=S.ENCODED, release=old.to_dict(), source_file_path=str(old_clip) + ".src",
                              encoded_file_path=str(old_clip)).where(ProcessingItem.id == item_id).execute()
    DeliverWorker.start(ctx, 100, targets, {})
    first = wait_until(lambda: (lambda i: i if i.status in (S.COMPLETED, S.FAILED) else None)(_item(db, item_id)),
                       timeout=60, what="the 720p file delivered")
    assert first.status == S.COMPLETED, first.last_error
    assert _videos(targets) == {"library": ["Dune (2021) [720p H264].mkv"], "nas": ["Dune (2021) [720p H264].mkv"]}

    watch = TargetWatch(db, targets, req.id)
    watch.start()
    with db.connection_context():  # the matcher sees the 1080p release (as a feed or an IRC announce offers it)
        batch, moved = match_and_apply(ctx, [new], datetime.now())
    assert moved == 1 and batch.outcomes[0].event is Event.UPGRADE
    upgrading = _item(db, item_id)
    assert (upgrading.status, upgrading.upgrading, upgrading.delivered_at) == (S.FOUND, True, first.delivered_at)
    with db.connection_context():
        view = item_view(upgrading, queries.deliveries_by_item([item_id])[item_id])
    assert view["has_file"] is True and view["upgrading"] is True and view["upgrades"][0]["outcome"] == "running"
    assert {d["status"] for d in view["deliveries"]} == {"DONE"}
    _encode(db, item_id, new_clip, expected="COMPLETED")
    done = wait_until(lambda: (lambda i: i if i.status in (S.COMPLETED, S.FAILED) else None)(_item(db, item_id)),
                      timeout=60, what="the 1080p upgrade delivered")
    watch.stop.set()
    watch.join(10)

    assert done.status == S.COMPLETED and not done.upgrading, done.last_error
    assert watch.polls > 20 and watch.gaps == []  # both targets always had a file; the request stayed available
    assert watch.seen >= {"Dune (2021) [720p H264].mkv", "Dune (2021) [1080p H264].mkv"}
    assert _videos(targets) == {"library": ["Dune (2021) [1080p H264].mkv"], "nas": ["Dune (2021) [1080p H264].mkv"]}
    [entry] = done.upgrade_history
    assert (entry["outcome"], entry["from"]["title"], entry["to"]["title"]) == ("replaced", old.title, new.title)
    assert {t: Path(v["old"]).name for t, v in entry["targets"].items()} == {
        "library": "Dune (2021) [720p H264].mkv", "nas": "Dune (2021) [720p H264].mkv"}
    assert {t: Path(v["new"]).name for t, v in entry["targets"].items()} == {
        "library": "Dune (2021) [1080p H264].mkv", "nas": "Dune (2021) [1080p H264].mkv"}
    with db.connection_context():
        rows = list(Delivery.select().where(Delivery.item == item_id))
        kinds = [e.kind for e in NotificationEvent.select().order_by(NotificationEvent.id)]
    assert {(r.status, Path(r.remote_path).name, r.replaces) for r in rows} == {
        ("done", "Dune (2021) [1080p H264].mkv", None)}
    assert kinds.count("item.upgraded") == 1 and kinds.count("item.available") == 1


def _completed(db, title, n, profile_name="default"):
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title="Dune", year=2021, targets=("library",),
                                                 quality_profile=profile_name), datetime.now())
        item_id = queries.request_items(req.id)[0].id
        ProcessingItem.update(status=S.COMPLETED, release=release(title, n).to_dict(), delivered_at=datetime.now(),
                              progress=100.0).where(ProcessingItem.id == item_id).execute()
        Delivery.create(item=item_id, target="library", status="done", remote_path="/lib/Dune (2021) [1080p].mkv")
        queries.refresh_request_status([req.id])
    return req.id, item_id


@pytest.mark.parametrize(("policy", "upgrades"), [("preferAndUpgrade", True), ("doNotUpgrade", False)])
def test_a_repack_of_the_same_group_upgrades_under_the_default_policy_only(db, policy, upgrades):
    cfg = replace(Config(), quality_profiles=(replace(PROFILE, propers=policy),))
    ctx = ActorContext(db=db, config=cfg)
    _, item_id = _completed(db, "Dune.2021.1080p.WEB-DL.x264-GRP", 1)  # at the cutoff: only a revision upgrades it
    with db.connection_context():
        match_and_apply(ctx, [release("Dune.2021.REPACK.1080p.WEB-DL.x264-OTHER", 2)], datetime.now())
        assert ProcessingItem.get_by_id(item_id).status == S.COMPLETED  # a repack from another group: never
        _, moved = match_and_apply(ctx, [release("Dune.2021.REPACK.1080p.WEB-DL.x264-GRP", 3)], datetime.now())
        item = ProcessingItem.get_by_id(item_id)
    assert moved == (1 if upgrades else 0)
    assert (item.status, item.upgrading) == ((S.FOUND, True) if upgrades else (S.COMPLETED, False))
    if upgrades:
        assert item.release["title"] == "Dune.2021.REPACK.1080p.WEB-DL.x264-GRP"
        assert item.detail == "upgrade: repack of 1080p webdl"


def test_a_failed_upgrade_returns_to_completed_with_its_files_and_the_release_blocklisted(db):
    ctx = ActorContext(db=db, config=replace(Config(), quality_profiles=(PROFILE,)))
    request_id, item_id = _completed(db, "Dune.2021.720p.WEB-DL.x264-GRP", 1)
    better = release("Dune.2021.1080p.WEB-DL.x264-GRP", 2)
    with db.connection_context():
        before = ProcessingItem.get_by_id(item_id)
        match_and_apply(ctx, [better], datetime.now())
        assert queries.apply_transition(item_id, S.FOUND, Event.GRAB, datetime.now())
        # The download stalls with no alternative left: the download stage's own failure path.
        item = ProcessingItem.get_by_id(item_id)
        queries.retry_download_or_fail(item, "stalled at 3%", datetime.now(), RetryPolicy(max_attempts=1), set())
        item = ProcessingItem.get_by_id(item_id)
        blocked = {b.release_key: b.reason for b in Blocklist.select()}
        row = Delivery.get((Delivery.item == item_id) & (Delivery.target == "library"))
        status = MediaRequest.get_by_id(request_id).status
        # The blocklisted release is not offered again.
        _, moved = match_and_apply(ctx, [better], datetime.now())
    assert (item.status, item.upgrading, item.failed_stage) == (S.COMPLETED, False, None)
    assert item.delivered_at == before.delivered_at and item.release["title"] == "Dune.2021.720p.WEB-DL.x264-GRP"
    assert "stalled at 3%" in item.last_error and item.upgrade_history[-1]["outcome"] == "failed"
    assert blocked == {better.info_hash: f"upgrade failed: {item.last_error}"}
    assert (row.status, row.remote_path, row.replaces) == ("done", "/lib/Dune (2021) [1080p].mkv", None)
    assert status == "COMPLETED" and moved == 0
