"""DeliverWorker with a local target and an rsync target on a real loopback sshd: a partial failure is
retried for the failed target only, then the item completes and its encoded intermediate is removed."""

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from actors.context import ActorContext
from actors.deliver import DeliverWorker
from actors.writer import DbWriter
from annexd.clients.delivery_settings import Target
from annexd.config import Config, DeliveryConfig
from annexd.domain.pipeline import ProcessingStatus as S
from annexd.domain.request_specs import RequestSpec
from store import queries
from store.models import Delivery, ProcessingItem
from tests.media import make_clip
from tests.util import wait_until


@pytest.fixture
def stage(tmp_path, sshd, pg):
    db = pg
    targets = [
        Target(name="library", protocol="local", movie_root=str(tmp_path / "lib/movies"), tv_root=str(tmp_path / "lib/tv")),
        Target(name="nas", protocol="rsync", host=sshd.host, port=sshd.port, user=sshd.user, key_file=str(sshd.key_file),
               known_hosts_file=str(tmp_path / "known_hosts"), movie_root=str(sshd.root / tmp_path.name / "movies"),
               tv_root=str(sshd.root / tmp_path.name / "tv"), connect_timeout=3, command_timeout=10),
    ]
    for t in targets:
        Path(t.movie_root).mkdir(parents=True, exist_ok=True)
    cfg = replace(Config(state_dir=str(tmp_path / "state")),
                  delivery=replace(DeliveryConfig(), retry=replace(DeliveryConfig().retry, base_seconds=0.0,
                                                                    cap_seconds=0.0, max_attempts=5)))
    ctx = ActorContext(db=db, config=cfg)
    ctx.writer = DbWriter.start(ctx)
    yield ctx, db, targets, tmp_path


def _encoded_item(db, tmp_path):
    encoded = make_clip(tmp_path / "encode" / "1" / "Dune.mkv", seconds=1, size="320x240")
    with db.connection_context():
        req = queries.create_request(RequestSpec(kind="movie", title="Dune", year=2021,
                                                         targets=("library", "nas")), datetime.now())
        item = queries.request_items(req.id)[0]
        ProcessingItem.update(status=S.ENCODED, source_file_path=str(tmp_path / "src.mkv"),
                              encoded_file_path=str(encoded)).where(ProcessingItem.id == item.id).execute()
    return item.id, encoded


def _rows(db, item_id):
    with db.connection_context():
        return {d.target: d for d in Delivery.select().where(Delivery.item == item_id)}


def _item(db, item_id):
    with db.connection_context():
        return ProcessingItem.get_by_id(item_id)


def test_a_target_that_is_down_is_retried_alone(stage, sshd):
    ctx, db, targets, tmp_path = stage
    item_id, encoded = _encoded_item(db, tmp_path)
    with sshd.down():
        worker = DeliverWorker.start(ctx, 200, targets, {})
        # the two transfers run side by side: wait for both outcomes, in whichever order they come
        rows = wait_until(lambda: (lambda r: r if r.get("nas") and r["nas"].status == "failed"
                                   and r["library"].status != "pending" else None)(
            _rows(db, item_id)), timeout=60, what="nas delivery failed while sshd is down")
        assert rows["library"].status == "done"
        first_library = rows["library"].delivered_at
    item = wait_until(lambda: (lambda i: i if i.status in (S.COMPLETED, S.FAILED) else None)(_item(db, item_id)),
                      timeout=60, what="item completed once sshd is back")
    assert item.status == S.COMPLETED, item.last_error
    rows = _rows(db, item_id)
    assert rows["nas"].status == "done" and rows["nas"].attempts >= 2
    assert rows["library"].delivered_at == first_library and rows["library"].attempts == 1  # not redone
    name = "Dune (2021)/Dune (2021) [480p H264].mkv"
    assert (Path(targets[0].movie_root) / name).read_bytes() == (Path(targets[1].movie_root) / name).read_bytes()
    assert not encoded.exists()  # the intermediate goes once every target has the file
    worker.stop()


def test_a_different_existing_file_fails_the_item_and_is_left_alone(stage):
    ctx, db, targets, tmp_path = stage
    item_id, _ = _encoded_item(db, tmp_path)
    existing = Path(targets[0].movie_root) / "Dune (2021)" / "Dune (2021) [480p H264].mkv"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"somebody else's file")
    DeliverWorker.start(ctx, 200, targets[:1], {})
    item = wait_until(lambda: (lambda i: i if i.status == S.FAILED else None)(_item(db, item_id)), timeout=60,
                      what="item FAILED on the conflict")
    assert "already exists" in item.last_error
    assert existing.read_bytes() == b"somebody else's file"


def _episodes(db, tmp_path, episodes, status=S.ENCODED, targets=("library",)):
    """Items of one multi-episode file: one source, one encoded intermediate."""
    encoded = make_clip(tmp_path / "encode" / "7" / "Show.S01E01E02.mkv", seconds=1, size="320x240")
    source = tmp_path / "Show.S01E01E02.1080p.WEB-DL.x264-GRP.mkv"
    with db.connection_context():
        from annexd.domain.request_specs import EpisodeSpec

        eps = tuple(EpisodeSpec(1, e, f"Part {e}") for e in episodes)
        req = queries.create_request(RequestSpec(kind="tv", title="The Show", episodes=eps, targets=targets),
                                     datetime.now())
        ProcessingItem.update(status=status, source_file_path=str(source), encoded_file_path=str(encoded),
                              encoded_files={"default": str(encoded)}).where(
            ProcessingItem.request == req.id).execute()
        return [i.id for i in queries.request_items(req.id)], encoded


def test_a_multi_episode_file_is_delivered_once_named_with_its_range(stage):
    ctx, db, targets, tmp_path = stage
    ids, encoded = _episodes(db, tmp_path, (1, 2))
    worker = DeliverWorker.start(ctx, 200, targets[:1], {})
    items = [wait_until(lambda i=i: (lambda it: it if it.status in (S.COMPLETED, S.FAILED) else None)(_item(db, i)),
                        timeout=60, what="item delivered") for i in ids]
    assert [i.status for i in items] == [S.COMPLETED, S.COMPLETED], [i.last_error for i in items]
    paths = {_rows(db, i)["library"].remote_path for i in ids}
    assert len(paths) == 1
    [path] = paths
    assert path.endswith("The Show - S01E01-E02 - Part 1 + Part 2 [480p H264].mkv")
    files = [p for p in Path(targets[0].tv_root).rglob("*") if p.is_file()]
    assert [str(p) for p in files] == [path]  # one copy, no temp file
    assert not encoded.exists()  # removed once neither item needs it
    worker.stop()


def test_a_restarted_deliverer_takes_over_its_transfers_and_crash_leftovers_are_removed_by_name(stage, sshd):
    ctx, db, targets, tmp_path = stage
    item_id, _ = _encoded_item(db, tmp_path)
    old_owner = ctx.begin_incarnation("deliver")  # an earlier incarnation that died mid-transfer
    leftover = Path(targets[1].movie_root) / "Dune (2021)" / ".annexd-00000000deadbeef.part"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a file")
    with db.connection_context():
        ProcessingItem.update(status=S.DELIVERING, claimed_by=old_owner, heartbeat_at=datetime.now()).where(
            ProcessingItem.id == item_id).execute()
        for target in ("library", "nas"):
            queries.start_delivery(item_id, target, old_owner)
        # A transfer of a daemon that is gone left its temporary file too (its item was released since).
        other_item = _encoded_item(db, tmp_path / "x")[0]
        ProcessingItem.update(status=S.CANCELLED).where(ProcessingItem.id == other_item).execute()
        other = Delivery.create(item=other_item, target="nas", status="pending",
                                owner="gone-host:1:aa:deliver:1", temp_path=str(leftover))
    worker = DeliverWorker.start(ctx, 200, targets, {})
    item = wait_until(lambda: (lambda i: i if i.status in (S.COMPLETED, S.FAILED) else None)(_item(db, item_id)),
                      timeout=60, what="the taken-over delivery completes")
    assert item.status == S.COMPLETED, item.last_error
    assert item.claimed_by is None
    wait_until(lambda: not leftover.exists(), timeout=20, what="the leftover temporary file removed")
    wait_until(lambda: _rows(db, other.item_id)["nas"].temp_path is None, what="their names forgotten")
    assert [p.name for p in Path(targets[1].movie_root).rglob(".annexd-*")] == []
    worker.stop()
