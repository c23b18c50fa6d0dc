"""The generated legacy library of both shapes, read from a real PostgreSQL and planned: every row of issue 15's
status table, conflicts both ways, merged requests and duplicates, cleaned releases."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest

from annexd.legacy.config_plan import plan_config
from annexd.legacy.plan import PlannedItem, PlannedRequest, PlanSettings, plan_items, plan_requests
from annexd.legacy.reader import LegacyReader
from tests.legacy.library import RELEASE_CREDENTIALS, SECRETS, Expect, Library


def _plan(url: str, lib: Library) -> tuple[dict[str, PlannedRequest], list[PlannedItem], str]:
    with LegacyReader(url, batch_size=7) as reader:
        config = plan_config(reader.storage_servers(), reader.indexers(), reader.download_clients(),
                             reader.settings())
        settings = PlanSettings(now=lib.now, search_retry=timedelta(hours=6), target_names=config.target_names,
                                indexer_names=config.indexer_names)
        requests = plan_requests(reader.requests(), settings)
        return requests, list(plan_items(reader.work_rows(), requests, settings)), reader.shape


@pytest.fixture(scope="module")
def planned(legacy: tuple[str, Library]) -> tuple[Library, dict[str, PlannedRequest], list[PlannedItem], str]:
    url, lib = legacy
    return (lib, *_plan(url, lib))


def test_shape_is_detected_from_the_catalog(planned: Any) -> None:
    lib, _, _, shape = planned
    assert shape == lib.shape


def test_requests_merge_per_title_keeping_the_oldest_legacy_id(planned: Any) -> None:
    lib, requests, _, _ = planned
    assert len(requests) == len(lib.requests)
    by_legacy = {r.legacy_id: r for r in requests.values()}
    for labels in lib.requests.values():
        request = by_legacy[lib.id(labels[0])]
        assert request.legacy_ids == tuple(lib.id(label) for label in labels)
    show = by_legacy[lib.id("req_show")]
    assert show.requested_by == "alice" and show.kind == "tv" and show.tmdb_id == 9001
    assert show.requested_seasons == (1, 2)
    assert show.targets == ("nas-rsync", "local-disk")  # both requests' storage servers, by annexd name


def test_every_episode_becomes_exactly_one_item(planned: Any) -> None:
    _, _, items, _ = planned
    keys = Counter((i.request_key, i.season, i.episode) for i in items)
    assert keys and max(keys.values()) == 1


@pytest.mark.parametrize("field_name", ["status", "download", "adopted", "source", "encoded", "due", "error",
                                        "file_unknown", "conflict"])
def test_each_item_is_imported_as_the_status_table_says(planned: Any, field_name: str) -> None:
    lib, _, items, _ = planned
    by_legacy = {i.legacy_id: i for i in items}
    wrong = []
    for expect in lib.expect:
        item = by_legacy[lib.id(expect.legacy)]
        got, want = _actual(item, lib, field_name), _wanted(expect, lib, field_name)
        if got != want:
            wrong.append(f"{expect.legacy}: {field_name} is {got!r}, expected {want!r}")
    assert not wrong, "\n".join(wrong)


def _actual(item: PlannedItem, lib: Library, field_name: str) -> Any:
    conflicts = [(c.kind, c.winner) for c in item.conflicts]
    return {
        "status": item.status.value, "download": item.download.info_hash if item.download else None,
        "adopted": item.adopted, "source": item.source_file_path, "encoded": item.encoded_file_path,
        "due": item.next_retry_at, "error": item.last_error, "file_unknown": item.file_unknown is not None,
        "conflict": conflicts[0] if conflicts else None,
    }[field_name]


def _wanted(expect: Expect, lib: Library, field_name: str) -> Any:
    if field_name == "download":
        return lib.hashes[expect.download] if expect.download else None
    if field_name == "conflict":
        return (expect.conflict, lib.id(expect.conflict_winner or "")) if expect.conflict else None
    if field_name == "error" and expect.error is None and expect.status in ("AWAITING", "QUALITY_UNAVAILABLE"):
        return _any_text
    return getattr(expect, field_name)


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    def __repr__(self) -> str:
        return "<a reason>"


_any_text = _AnyText()


def test_every_status_of_the_table_is_exercised(planned: Any) -> None:
    lib, _, items, _ = planned
    statuses = {i.status.value for i in items}
    assert statuses >= {"PENDING", "AWAITING", "QUALITY_UNAVAILABLE", "DOWNLOADING", "DOWNLOADED", "ENCODED",
                        "COMPLETED", "FAILED", "CANCELLED"}
    if lib.shape == "dual":
        kinds = {(c.kind, c.winner_source) for i in items for c in i.conflicts}
        assert {("disagreement", "TvEpisode"), ("disagreement", "ProcessingItem"),
                ("duplicate", "ProcessingItem"), ("duplicate", "TvEpisode")} <= kinds


def test_the_season_pack_is_one_download_shared_by_its_episodes(planned: Any) -> None:
    lib, _, items, _ = planned
    on_pack = [i for i in items if i.download and i.download.info_hash == lib.hashes["pack"]]
    assert len(on_pack) >= 3
    pack = on_pack[0].download
    assert pack is not None and pack.is_pack and pack.season == 1 and pack.phase == "active"
    assert pack.name == "pack.torrent-name" and pack.save_path == "/downloads/complete"


def test_timestamps_come_from_the_winner_and_are_filled_by_the_other_row(planned: Any) -> None:
    lib, _, items, _ = planned
    by_legacy = {i.legacy_id: i for i in items}
    for expect in lib.expect:
        for name in ("delivered_at", "downloaded_at"):
            if name in expect.extra:
                assert getattr(by_legacy[lib.id(expect.legacy)], name) == expect.extra[name]  # to the millisecond


def test_releases_are_converted_without_any_credential(planned: Any) -> None:
    lib, _, items, _ = planned
    by_legacy = {i.legacy_id: i for i in items}
    found = by_legacy[lib.id("m_found")].release
    assert found is not None and found["title"] == "Found.Movie.2020.1080p.WEB-DL-GRP"
    assert found["indexer"] == "prowlarr" and found["credentials_removed"] == ["apikey", "magnet:tr"]
    assert found["download_url"].startswith("http://prowlarr.local:9696/1/download?link=b64blob")
    assert found["info_hash"] and found["magnet"].startswith(f"magnet:?xt=urn:btih:{found['info_hash']}")
    assert {"guid", "title", "size", "indexer", "seeders", "peers", "published", "categories"} <= set(found)
    alternatives = by_legacy[lib.id("m_qu")].available_releases
    assert len(alternatives) == 2 and alternatives[1]["download_url"] is None  # a passkey in its path
    dumped = json.dumps([asdict(i) for i in items], default=str)
    leaked = [c for c in (*RELEASE_CREDENTIALS, *SECRETS.values()) if len(c) >= 4 and c in dumped]
    assert not leaked


def test_a_movie_request_without_items_gets_one_pending_item(planned: Any) -> None:
    lib, requests, items, _ = planned
    key = next(k for k, r in requests.items() if r.legacy_id == lib.id("req_m_noitem"))
    made = [i for i in items if i.request_key == key]
    assert [(i.status.value, i.legacy_id, i.kind) for i in made] == [("PENDING", None, "movie")]


def test_requests_pending_in_the_approval_queue_wait_for_approval(fresh_legacy: Any) -> None:
    """Annex's ApprovalQueue: a request still PENDING there imports with its unstarted items PENDING_APPROVAL;
    a title also asked for by an approved request does not wait."""
    import psycopg2

    url, lib = fresh_legacy
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for n, (label, status) in enumerate((("req_m_pending", "PENDING"), ("req_m_noitem", "PENDING"),
                                             ("req_m_retry", "APPROVED"), ("req_dup_a", "APPROVED"),
                                             ("req_dup_b", "PENDING"), ("req_m_found", "REJECTED"))):
            cur.execute('INSERT INTO "ApprovalQueue" (id, "requestId", status) VALUES (%s, %s, %s)',
                        (f"aq{n}", lib.id(label), status))
    conn.close()
    requests, items, _ = _plan(url, lib)
    by_legacy = {r.legacy_id: r for r in requests.values()}
    waiting = {lib.id(label) for label in ("req_m_pending", "req_m_noitem")}
    assert {r.legacy_id for r in requests.values() if r.pending_approval} == waiting
    status_of = {(i.request_key, i.legacy_id): i.status.value for i in items}
    assert status_of[(by_legacy[lib.id("req_m_pending")].key, lib.id("m_pending"))] == "PENDING_APPROVAL"
    assert status_of[(by_legacy[lib.id("req_m_noitem")].key, None)] == "PENDING_APPROVAL"
    assert status_of[(by_legacy[lib.id("req_m_retry")].key, lib.id("m_retry"))] == "AWAITING"
    assert by_legacy[lib.id("req_dup_a")].pending_approval is False
    assert set(by_legacy[lib.id("req_dup_a")].usernames) == {"alice", "bob"}
