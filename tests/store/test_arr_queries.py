"""The Radarr/Sonarr API's store operations on SQLite and PostgreSQL: stable quality-profile ids, tags, the
queue of items between download and delivery, the library with delivered copies."""

from datetime import datetime

from annexd.domain.request_specs import EpisodeSpec, RequestSpec
from store import queries
from store.models import ProcessingItem

NOW = datetime(2024, 6, 1, 12, 0, 0)


def test_quality_profile_ids_stay_when_the_config_changes(db):
    first = queries.quality_profile_ids(["hd", "uhd"])
    assert queries.quality_profile_ids(["uhd", "sd", "hd"]) == {**first, "sd": max(first.values()) + 1}


def test_tags_are_unique_by_label_and_follow_their_requests(db):
    tag_id, label = queries.create_tag("family")
    assert queries.create_tag("family") == (tag_id, label)
    request_id = queries.submit_request(RequestSpec(kind="movie", title="Dune", tmdb_id=1), NOW).request_id
    queries.set_request_tags(request_id, [tag_id, 999])
    assert queries.request_tags([request_id]) == {request_id: [tag_id]}
    queries.delete_tag(tag_id)
    assert queries.request_tags([request_id]) == {} and queries.tags() == []


def test_the_queue_holds_items_between_download_and_delivery_with_their_download(db):
    spec = RequestSpec(kind="tv", title="Show", tmdb_id=2, episodes=(EpisodeSpec(1, 1), EpisodeSpec(1, 2)))
    request_id = queries.submit_request(spec, NOW).request_id
    first, second = queries.request_items(request_id)
    download, _ = queries.get_or_create_download("ab" * 20, "qbittorrent", "Show.S01", {"title": "Show.S01",
                                                                                       "size": 5000}, NOW)
    ProcessingItem.update(status="DOWNLOADING", download=download.id, progress=40.0,
                          release={"title": "Show.S01.1080p.WEB-DL-X", "size": 5000}).where(
        ProcessingItem.id == first.id).execute()
    [row] = queries.queue_rows("tv")
    assert (row.item_id, row.request_id, row.status, row.progress, row.info_hash, row.client) == (
        first.id, request_id, "DOWNLOADING", 40.0, "ab" * 20, "qbittorrent")
    assert (row.release_title, row.size, row.season, row.episode) == ("Show.S01.1080p.WEB-DL-X", 5000, 1, 1)
    assert queries.queue_rows("movie") == [] and queries.queue_rows("tv", visible_to="someone") == []
    assert second.id not in [r.item_id for r in queries.queue_rows("tv")]
