"""The pure plan on hand-made rows: paths, ordering, statuses the database cannot hold, merge rules."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from annexd.domain.pipeline import ProcessingStatus as S
from annexd.legacy.plan import (
    PlannedRequest,
    PlanOrderError,
    PlanSettings,
    merge_episode,
    path_problem,
    plan_items,
)
from annexd.legacy.rows import LegacyDownload, LegacyWorkRow

NOW = datetime(2030, 6, 1, 12, 0)
SETTINGS = PlanSettings(now=NOW)
REQUEST = PlannedRequest("TV:tmdb:1", "tv", "Show", None, 1, "r1", ("r1",), "alice", None, (), NOW)


def row(id: str, status: str = "PENDING", source: str = "ProcessingItem", episode: int = 1, **kw: object
        ) -> LegacyWorkRow:
    base = LegacyWorkRow(source=source, id=id, request_id="r1", group_key="TV:tmdb:1", kind="EPISODE",  # type: ignore[arg-type]
                         season=1, episode=episode, title=None, status=status, current_step=None, step_context=None,
                         error=None, next_retry_at=None, source_file_path=None, air_date=None, downloaded_at=None,
                         encoded_at=None, delivered_at=None, created_at=NOW - timedelta(days=9),
                         updated_at=NOW - timedelta(days=1), quality_met=None, available_releases=None)
    return dataclasses.replace(base, **kw)


@pytest.mark.parametrize("path, problem", [
    ("/data/a.mkv", None), ("/data/..hidden/a.mkv", None), ("data/a.mkv", "is not absolute"),
    ("/data/../a.mkv", "contains '..'"), ("/data/a\0.mkv", "contains a NUL byte"), ("", "is not absolute"),
])
def test_paths_are_checked_as_paths(path: str, problem: str | None) -> None:
    assert path_problem(path) == problem


def test_a_nul_in_a_json_path_is_rejected_and_listed() -> None:
    item = merge_episode([row("p", "DOWNLOADED", step_context={"download": {"sourceFilePath": "/a\0b"}})],
                         REQUEST, SETTINGS)
    assert item.status == S.PENDING and item.source_file_path is None
    assert item.file_unknown is not None and "NUL" in item.file_unknown.reason


def test_rows_out_of_order_are_refused_rather_than_planned_twice() -> None:
    rows = [row("a", episode=2), row("b", episode=1)]
    with pytest.raises(PlanOrderError):
        list(plan_items(rows, {REQUEST.key: REQUEST}, SETTINGS))


def test_an_unknown_status_searches_again_with_a_reason() -> None:
    item = merge_episode([row("p", "WEIRD")], REQUEST, SETTINGS)
    assert item.status == S.PENDING and "WEIRD" in (item.last_error or "")


def test_malformed_step_context_is_ignored() -> None:
    for context in ("text", 5, [1, 2], {"download": "x", "encode": {"encodedFiles": "nope"}},
                    {"encode": {"encodedFiles": [None, 3, {"path": 7}]}}):
        item = merge_episode([row("p", "ENCODED", step_context=context)], REQUEST, SETTINGS)
        assert item.status == S.PENDING


def test_a_tie_goes_to_the_processing_item_and_timestamps_fill_in() -> None:
    at = NOW - timedelta(hours=1)
    downloaded = NOW - timedelta(days=2, milliseconds=5)
    pi = row("pi", "COMPLETED", updated_at=at)
    te = row("te", "ENCODED", source="TvEpisode", updated_at=at, downloaded_at=downloaded, title="Pilot")
    item = merge_episode([te, pi], REQUEST, SETTINGS)
    assert (item.status, item.legacy_id, item.downloaded_at, item.title) == (S.COMPLETED, "pi", downloaded, "Pilot")
    assert [(c.kind, c.winner, c.reason) for c in item.conflicts] == [
        ("disagreement", "pi", "same updatedAt: the ProcessingItem wins")]


def test_agreeing_rows_are_no_conflict() -> None:
    pi = row("pi", "FAILED", error="boom")
    te = row("te", "FAILED", source="TvEpisode", error="boom", updated_at=NOW)
    assert merge_episode([pi, te], REQUEST, SETTINGS).conflicts == ()


def test_a_usable_download_of_the_other_row_is_preferred_to_a_gone_one() -> None:
    gone = LegacyDownload("d1", "A" * 40, "old", None, None, "FAILED", False, None, 1)
    live = LegacyDownload("d2", "b" * 40, "new", "/dl", None, "DOWNLOADING", True, 1, 2)
    item = merge_episode([row("pi", "DOWNLOADING", downloads=(gone,)),
                          row("te", "DOWNLOADING", source="TvEpisode", downloads=(live,), updated_at=NOW)],
                         REQUEST, SETTINGS)
    assert item.status == S.DOWNLOADING and item.adopted and item.download is not None
    assert item.download.info_hash == "b" * 40 and item.download.is_pack


def test_an_invalid_torrent_hash_is_no_link() -> None:
    bad = LegacyDownload("d1", "not-a-hash", "x", None, None, "DOWNLOADING", False, None, 1)
    item = merge_episode([row("pi", "DOWNLOADING", downloads=(bad,))], REQUEST, SETTINGS)
    assert item.status == S.PENDING and item.download is None
