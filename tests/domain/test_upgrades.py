"""Upgrades until cutoff, pure: which release upgrades a delivered one (quality below cutoff, proper/repack per the
profile's policy), how the matcher offers COMPLETED items, and the history kept on the item."""

from dataclasses import replace
from datetime import datetime

import pytest

from annexd.domain import upgrades
from annexd.domain.feed_match import FeedOutcome, WantedItem, WantedTitle, index_wanted, match_release
from annexd.domain.pipeline import Event, ProcessingStatus as S
from annexd.domain.quality import QualityProfile, Release, make_guid, score, upgrade_reason
from annexd.domain.releases import parse_release
from annexd.domain.search import SearchConfig

NOW = datetime(2026, 6, 1, 12, 0)
GB = 1_000_000_000
PROFILE = QualityProfile(name="hd", allowed=("1080p bluray", "1080p webdl", "720p webdl"), cutoff="1080p webdl")


def rel(title, n=1):
    return Release(guid=make_guid(f"{n:040x}", title), title=title, size=2 * GB, indexer="feed",
                   parsed=parse_release(title), seeders=20, info_hash=f"{n:040x}")


def test_a_better_quality_upgrades_only_below_the_cutoff():
    held = rel("Dune.2021.720p.WEB-DL.x264-GRP")
    assert upgrade_reason(held, rel("Dune.2021.1080p.WEB-DL.x264-OTHER", 2), PROFILE) \
        == "quality 720p webdl -> 1080p webdl (cutoff 1080p webdl)"
    at_cutoff = rel("Dune.2021.1080p.WEB-DL.x264-GRP")
    assert upgrade_reason(at_cutoff, rel("Dune.2021.1080p.BluRay.x264-OTHER", 2), PROFILE) is None
    assert upgrade_reason(held, rel("Dune.2021.720p.WEB-DL.x264-OTHER", 2), PROFILE) is None  # not better
    assert upgrade_reason(None, rel("Dune.2021.1080p.WEB-DL.x264-OTHER", 2), PROFILE) is None  # nothing known


@pytest.mark.parametrize(("policy", "proper", "repack_same", "repack_other"), [
    ("preferAndUpgrade", True, True, False),
    ("doNotUpgrade", False, False, False),
    ("doNotPrefer", False, False, False),
])
def test_a_proper_or_a_repack_of_the_same_quality_upgrades_per_the_policy(policy, proper, repack_same, repack_other):
    profile = replace(PROFILE, propers=policy)
    held = rel("Dune.2021.1080p.WEB-DL.x264-GRP")  # at the cutoff: only a revision can upgrade it
    assert (upgrade_reason(held, rel("Dune.2021.PROPER.1080p.WEB-DL.x264-OTHER", 2), profile) is not None) is proper
    assert (upgrade_reason(held, rel("Dune.2021.REPACK.1080p.WEB-DL.x264-GRP", 3), profile) is not None) \
        is repack_same
    assert (upgrade_reason(held, rel("Dune.2021.REPACK.1080p.WEB-DL.x264-OTHER", 4), profile) is not None) \
        is repack_other
    # The same revision again, or a repack of another quality, is never a revision upgrade.
    assert upgrade_reason(rel("Dune.2021.REPACK.1080p.WEB-DL.x264-GRP"),
                          rel("Dune.2021.REPACK.1080p.WEB-DL.x264-GRP", 5), profile) is None


def test_do_not_prefer_ignores_the_revision_when_ranking():
    repack = rel("Dune.2021.REPACK.1080p.WEB-DL.x264-GRP")
    plain = rel("Dune.2021.1080p.WEB-DL.x264-GRP", 2)
    assert score(repack, PROFILE) - score(plain, PROFILE) == 1000
    assert score(repack, replace(PROFILE, propers="doNotPrefer")) == score(plain, replace(PROFILE, propers="doNotPrefer"))


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="propers"):
        replace(PROFILE, propers="always")


def _completed(delivered_title, item_id=7):
    item = WantedItem(item_id, S.COMPLETED, delivered=rel(delivered_title).to_dict())
    return index_wanted([WantedTitle(1, "movie", "Dune", 2021, PROFILE, (item,))])


def test_the_matcher_offers_a_completed_item_its_upgrades_only():
    index = _completed("Dune.2021.720p.WEB-DL.x264-GRP")
    decision = match_release(rel("Dune.2021.1080p.WEB-DL.x264-OTHER", 2), index, (), NOW, SearchConfig())
    assert decision.outcome is FeedOutcome.MATCHED
    [outcome] = decision.outcomes
    assert (outcome.item_id, outcome.event) == (7, Event.UPGRADE) and decision.expected == {7: S.COMPLETED}
    assert outcome.fields["detail"].startswith("upgrade: quality 720p webdl -> 1080p webdl")
    same = match_release(rel("Dune.2021.720p.WEB-DL.x264-OTHER", 3), index, (), NOW, SearchConfig())
    assert same.outcome is FeedOutcome.REJECTED and same.outcomes == ()
    # Below profile: nothing is kept on a completed item.
    below = match_release(rel("Dune.2021.480p.WEB-DL.x264-OTHER", 4), index, (), NOW, SearchConfig())
    assert below.outcomes == () and below.alternatives == {}
    done = _completed("Dune.2021.1080p.WEB-DL.x264-GRP")
    assert match_release(rel("Dune.2021.1080p.BluRay.x264-OTHER", 5), done, (), NOW, SearchConfig()).outcomes == ()
    # A blocklisted upgrade (one that failed before) is ignored.
    blocked = rel("Dune.2021.1080p.WEB-DL.x264-OTHER", 2)
    assert match_release(blocked, index, {blocked.guid}, NOW, SearchConfig()).outcome is FeedOutcome.BLOCKLISTED


def test_the_history_records_each_upgrade_its_targets_and_its_outcome():
    old, new = rel("Dune.2021.720p.WEB-DL.x264-GRP").to_dict(), rel("Dune.2021.1080p.WEB-DL.x264-GRP", 2).to_dict()
    history = upgrades.started(None, old, new, "quality", NOW)
    assert upgrades.running(history)["from_quality"] == "720p webdl"
    history = upgrades.replaced_on(history, "nas", "/m/Dune 720p.mkv", "/m/Dune 1080p.mkv", NOW)
    assert upgrades.delivered_release(history) == old
    done = upgrades.finished(history, NOW)
    assert done[-1]["outcome"] == "replaced" and done[-1]["targets"]["nas"]["old"] == "/m/Dune 720p.mkv"
    assert upgrades.running(done) is None
    again = upgrades.finished(upgrades.started(done, new, old, None, NOW), NOW, error="stalled")
    assert [e["outcome"] for e in again] == ["replaced", "failed"] and again[-1]["error"] == "stalled"
