"""The Radarr/Sonarr resources built from annexd's state, and the library's root folders (pure)."""

from datetime import date, datetime

from annexd.clients.delivery_settings import Target
from annexd.domain.quality import QualityProfile
from annexd.http.arr import resources
from annexd.http.arr.conventions import clean
from annexd.http.arr.library import folder_for, folder_of_targets, root_folders
from annexd.http.arr.resources import ItemState, LibraryEntry, Metadata, QueueEntry

NOW = datetime(2024, 6, 1, 12, 0, 0)
TODAY = NOW.date()
MATRIX = Metadata(title="The Matrix", year=1999, tmdb_id=603, imdb_id="tt0133093", poster_path="/m.jpg")


def test_root_folders_one_per_target_prefixed_where_two_share_a_path():
    targets = (Target("nas", movie_root="/media/movies", tv_root="/media/tv"),
               Target("backup", protocol="sftp", host="h", user="u", movie_root="/media/movies/"),
               Target("tvonly", tv_root="/srv/tv"))
    radarr = root_folders(targets, "radarr")
    assert [(f.id, f.path, f.target.name) for f in radarr] == [
        (1, "nas:/media/movies", "nas"), (2, "backup:/media/movies", "backup")]
    assert [(f.id, f.path) for f in root_folders(targets, "sonarr")] == [(1, "/media/tv"), (2, "/srv/tv")]
    assert folder_for(radarr, "backup:/media/movies/").target.name == "backup"
    assert folder_for(radarr, "nas:/media/movies/The Matrix (1999)").target.name == "nas"
    assert folder_for(radarr, "/media/movies") is None and folder_for(radarr, None) is None
    assert folder_of_targets(radarr, ["backup"]).id == 2 and folder_of_targets(radarr, []).id == 1


def test_a_lookup_result_has_no_id_and_the_library_object_its_state():
    found = clean(resources.movie(MATRIX, None, "/media/movies", TODAY))
    assert "id" not in found and found["added"] == "0001-01-01T00:00:00Z" and "hasFile" not in found
    assert found["folder"] == "The Matrix (1999)" and found["titleSlug"] == "603"
    assert found["remotePoster"] == "https://image.tmdb.org/t/p/original/m.jpg"
    item = ItemState(7, 0, 0, "The Matrix", "COMPLETED", delivered_at=NOW, size_on_disk=1234,
                     path="/media/movies/The Matrix (1999)/The Matrix (1999).mkv", quality="1080p webdl")
    entry = LibraryEntry(5, "movie", MATRIX, 2, "/media/movies", NOW, "COMPLETED", (item,), (3,))
    movie = clean(resources.movie(MATRIX, entry, "/media/movies", TODAY))
    assert (movie["id"], movie["hasFile"], movie["sizeOnDisk"], movie["movieFileId"], movie["tags"]) == (
        5, True, 1234, 7, [3])
    assert movie["movieFile"]["relativePath"] == "The Matrix (1999).mkv"
    assert movie["movieFile"]["quality"]["quality"]["name"] == "WEBDL-1080p"
    assert movie["added"] == "2024-06-01T12:00:00Z" and movie["monitored"] is True


def test_series_seasons_and_statistics_count_files_against_aired_episodes():
    meta = Metadata(title="Show", year=2011, tmdb_id=1, tvdb_id=2, seasons=((0, 2), (1, 3), (2, 2)))
    items = (ItemState(1, 1, 1, "a", "COMPLETED", date(2011, 1, 1), NOW, 100),
             ItemState(2, 1, 2, "b", "DOWNLOADING", date(2011, 1, 8)),
             ItemState(3, 1, 3, "c", "AWAITING", date(2030, 1, 1)))
    entry = LibraryEntry(9, "tv", meta, 1, "/tv", NOW, "DOWNLOADING", items, requested_seasons=(1,),
                         monitor_seasons=(1,))
    series = clean(resources.series(meta, entry, "/tv", TODAY))
    assert [(s["seasonNumber"], s["monitored"]) for s in series["seasons"]] == [(0, False), (1, True), (2, False)]
    one = series["seasons"][1]["statistics"]
    assert (one["episodeFileCount"], one["episodeCount"], one["totalEpisodeCount"]) == (1, 2, 3)
    assert one["percentOfEpisodes"] == 50.0 and series["statistics"]["seasonCount"] == 2
    assert series["titleSlug"] == "show" and series["tvdbId"] == 2 and series["languageProfileId"] == 1
    episode = clean(resources.episode(9, items[0], True, with_file=True))
    assert (episode["id"], episode["seriesId"], episode["hasFile"], episode["airDate"]) == (1, 9, True,
                                                                                             "2011-01-01")
    assert episode["episodeFile"]["size"] == 100


def test_queue_records_downloading_and_importing():
    entry = QueueEntry(4, 2, "movie", 0, 0, "DOWNLOADING", "The.Matrix.1999.1080p.WEB-DL-X", 1000, 25.0, 90,
                       "abcdef", "qbittorrent", NOW, "1080p webdl")
    record = clean(resources.queue_record(entry, "radarr", NOW))
    assert (record["id"], record["movieId"], record["size"], record["sizeleft"]) == (4, 2, 1000, 750)
    assert (record["timeleft"], record["estimatedCompletionTime"]) == ("00:01:30", "2024-06-01T12:01:30Z")
    assert (record["status"], record["trackedDownloadState"], record["downloadId"]) == (
        "downloading", "downloading", "ABCDEF")
    encoding = QueueEntry(5, 3, "tv", 1, 2, "ENCODING", "Show.S01E02", 500, 40.0, None, "ff", "q",
                          detail="encoding 40%")
    record = clean(resources.queue_record(encoding, "sonarr", NOW))
    assert (record["status"], record["sizeleft"], record["timeleft"]) == ("completed", 0, "00:00:00")
    assert (record["seriesId"], record["episodeId"], record["seasonNumber"]) == (3, 5, 1)
    assert record["statusMessages"] == [{"title": "Show.S01E02", "messages": ["encoding 40%"]}]


def test_quality_profiles_list_every_quality_worst_first():
    profile = QualityProfile(name="hd", allowed=("1080p webdl", "720p webdl"), cutoff="1080p webdl")
    radarr = resources.quality_profile(3, profile, "radarr")
    names = [i["quality"]["name"] for i in radarr["items"]]
    assert names[-1] == "Remux-2160p" and names.index("WEBDL-720p") < names.index("WEBDL-1080p")
    assert [i["quality"]["name"] for i in radarr["items"] if i["allowed"]] == ["WEBDL-720p", "WEBDL-1080p"]
    assert radarr["language"] == {"id": 1, "name": "English"} and "language" not in resources.quality_profile(
        3, profile, "sonarr")
    assert resources.quality("1080p webdl", "sonarr")["source"] == "web"
    assert resources.quality(None, "radarr")["name"] == "Unknown"
