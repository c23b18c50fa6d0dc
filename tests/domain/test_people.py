"""Users' rights, quotas, approval states in the pipeline and notification shapes (pure)."""

from datetime import datetime, timedelta

import pytest

from annexd.domain import quotas
from annexd.domain.notifications import (
    Kind,
    kinds_of_transition,
    merge_grabs,
    message,
    wants,
    webhook_payload,
)
from annexd.domain.pipeline import Event, ProcessingStatus as S, RequestStatus, next_status, request_status
from annexd.domain.users import (
    Caller,
    Quota,
    Role,
    key_hash,
    new_key,
    parse_auto_approve,
    same_hash,
    valid_name,
)

NOW = datetime(2026, 5, 1, 12, 0)
MOVIE = {"id": 3, "kind": "movie", "title": "Dune", "year": 2021, "tmdb_id": 438631, "imdb_id": "tt1160419",
         "requested_by": "alice"}
SHOW = {"id": 4, "kind": "tv", "title": "The Show", "year": 2020, "tvdb_id": 77, "tmdb_id": 1399,
        "requested_by": "bob"}
EP = {"id": 11, "kind": "episode", "season": 1, "episode": 2, "title": "Two", "air_date": "2020-01-08",
      "paths": ["/dl/The.Show.S01E02.mkv"]}
RELEASE = {"title": "The.Show.S01E02.1080p.WEB-DL-GRP", "indexer": "prowlarr", "size": 1_500_000_000,
           "info_hash": "ab" * 20, "quality": "1080p webdl", "group": "GRP", "key": "ab" * 20}


def test_rights_of_admins_and_requesters():
    admin = Caller("root", Role.ADMIN)
    alice = Caller("alice", Role.REQUESTER, frozenset({"movie"}))
    assert not admin.needs_approval("tv") and not alice.needs_approval("movie") and alice.needs_approval("tv")
    assert admin.may_see("bob") and alice.may_see("alice") and not alice.may_see("bob")
    assert alice.may_see("bob", frozenset({"alice"}))  # items alice added to bob's request
    assert parse_auto_approve("movie, TV") == {"movie", "tv"} and parse_auto_approve("") == frozenset()
    with pytest.raises(ValueError, match="music"):
        parse_auto_approve("movie,music")
    assert valid_name("alice.b@home") and not valid_name("-x") and not valid_name("a b") and not valid_name("")


def test_keys_are_random_and_only_their_hash_is_kept():
    a, b = new_key(), new_key()
    assert a != b and a.startswith("annexd_") and len(a) > 40
    assert key_hash(a) != key_hash(b) and len(key_hash(a)) == 64 and a not in key_hash(a)
    assert same_hash(key_hash(a), key_hash(a)) and not same_hash(key_hash(a), key_hash(b))


def test_quota_counts_only_the_period_and_says_when_it_has_room():
    quota = Quota(limit=2, days=7)
    old, recent1, recent2 = NOW - timedelta(days=8), NOW - timedelta(days=3), NOW - timedelta(days=1)
    assert quotas.check(quota, "movie", [old, recent1], 1, NOW).allowed
    full = quotas.check(quota, "movie", [recent2, old, recent1], 1, NOW)
    assert not full.allowed and full.used == 2 and full.resets_at == recent1 + timedelta(days=7)
    two = quotas.check(quota, "season", [recent1, recent2], 2, NOW)
    assert two.resets_at == recent2 + timedelta(days=7)  # both must leave the period
    too_big = quotas.check(quota, "season", [], 3, NOW)
    assert not too_big.allowed and too_big.resets_at is None and "allows 2" in too_big.reason
    assert quotas.check(Quota(None), "movie", [recent1] * 50, 9, NOW).allowed


def test_pending_approval_in_the_transition_table_and_request_status():
    assert next_status(S.PENDING_APPROVAL, Event.APPROVE) is S.PENDING
    assert next_status(S.PENDING_APPROVAL, Event.CANCEL) is S.CANCELLED
    with pytest.raises(Exception, match="not allowed"):
        next_status(S.PENDING_APPROVAL, Event.START_SEARCH)  # no stage touches it
    with pytest.raises(Exception, match="not allowed"):
        next_status(S.PENDING, Event.APPROVE)
    assert request_status([S.PENDING_APPROVAL] * 3) is RequestStatus.PENDING_APPROVAL
    assert request_status([S.PENDING_APPROVAL, S.COMPLETED]) is RequestStatus.PENDING_APPROVAL
    assert request_status([S.PENDING_APPROVAL, S.DOWNLOADING]) is RequestStatus.DOWNLOADING
    assert request_status([S.CANCELLED, S.CANCELLED]) is RequestStatus.CANCELLED  # declined


def test_which_transitions_notify():
    assert kinds_of_transition(S.FOUND, S.DOWNLOADING, Event.GRAB) == (Kind.RELEASE_GRABBED,)
    assert kinds_of_transition(S.DELIVERING, S.COMPLETED, Event.DELIVERED) == (Kind.ITEM_AVAILABLE,)
    assert kinds_of_transition(S.DOWNLOADING, S.FAILED, Event.FAIL) == (Kind.ITEM_FAILED,)
    assert kinds_of_transition(S.DOWNLOADING, S.DOWNLOADED, Event.DOWNLOAD_COMPLETE) == ()


def test_destination_filters():
    assert wants((), "item.failed") and wants(("request.*",), "request.declined")
    assert not wants(("request.*",), "item.failed") and wants(("item.failed", "test"), "test")


def test_grabs_of_one_pack_for_one_request_are_one_event():
    ep1 = {**EP, "id": 10, "episode": 1}
    events = [(1, "release.grabbed", {"request": SHOW, "items": [ep1], "release": RELEASE}),
              (2, "release.grabbed", {"request": SHOW, "items": [EP], "release": RELEASE}),
              (3, "item.failed", {"request": SHOW, "items": [EP]}),
              (4, "release.grabbed", {"request": MOVIE, "items": [], "release": {**RELEASE, "key": "other"}})]
    merged = merge_grabs(events)
    assert [ids for ids, _, _ in merged] == [[1, 2], [3], [4]]
    assert [i["id"] for i in merged[0][2]["items"]] == [10, 11]


def test_webhook_payloads_follow_radarr_and_sonarr():
    grab = webhook_payload(Kind.RELEASE_GRABBED, {"request": SHOW, "items": [EP], "release": RELEASE,
                                                  "download_client": "qbittorrent"}, "home", "http://annexd.lan")
    assert grab["eventType"] == "Grab" and grab["instanceName"] == "home" and grab["applicationUrl"]
    assert grab["series"]["title"] == "The Show" and grab["series"]["tvdbId"] == 77
    assert grab["episodes"] == [{"id": 11, "seasonNumber": 1, "episodeNumber": 2, "title": "Two",
                                 "airDate": "2020-01-08", "seriesId": 4}]
    assert grab["release"]["releaseTitle"] == RELEASE["title"] and grab["release"]["quality"] == "1080p webdl"
    assert grab["downloadId"] == RELEASE["info_hash"].upper() and grab["downloadClientType"] == "qBittorrent"
    movie = webhook_payload(Kind.ITEM_AVAILABLE, {"request": MOVIE, "items": [{"id": 5, "kind": "movie",
                                                                               "paths": ["/m/Dune.mkv"]}],
                                                  "release": RELEASE})
    assert movie["eventType"] == "Download" and movie["isUpgrade"] is False
    assert movie["movie"]["tmdbId"] == 438631 and movie["remoteMovie"]["imdbId"] == "tt1160419"
    assert movie["movieFile"]["path"] == "/m/Dune.mkv" and "applicationUrl" not in movie  # nulls omitted
    assert webhook_payload(Kind.ITEM_UPGRADED, {"request": MOVIE, "items": []})["isUpgrade"] is True
    assert webhook_payload(Kind.REQUEST_CREATED, {"request": MOVIE})["eventType"] == "MovieAdded"
    series_add = webhook_payload(Kind.REQUEST_CREATED, {"request": SHOW, "items": [EP]})
    assert series_add["eventType"] == "SeriesAdd" and "episodes" not in series_add and series_add["series"]["id"] == 4
    declined = webhook_payload(Kind.REQUEST_DECLINED, {"request": SHOW, "items": [EP], "by": "admin",
                                                       "reason": "no room"})
    assert declined["eventType"] == "RequestDeclined" and declined["reason"] == "no room"
    assert declined["request"]["requestedBy"] == "bob" and declined["items"][0]["episodeNumber"] == 2
    for kind, name in ((Kind.REQUEST_APPROVED, "RequestApproved"), (Kind.ITEM_FAILED, "ItemFailed"),
                       (Kind.ITEM_STRANDED, "ItemStranded"), (Kind.HEALTH, "Health"), (Kind.TEST, "Test")):
        assert webhook_payload(kind, {"request": SHOW, "items": [EP]})["eventType"] == name
    assert webhook_payload(Kind.TEST, {})["movie"]["title"] == "Test Title"


def test_messages_for_people():
    title, body = message(Kind.REQUEST_DECLINED, {"request": SHOW, "items": [EP], "by": "admin", "reason": "no"})
    assert title == "Request declined" and "The Show (2020) S01E02" in body and body.endswith(": no")
    assert "waits for an admin" in message(Kind.REQUEST_CREATED, {"request": MOVIE, "pending_approval": True})[1]
    many = [{**EP, "episode": n} for n in range(1, 10)]
    assert "and 3 more" in message(Kind.ITEM_AVAILABLE, {"request": SHOW, "items": many})[1]
