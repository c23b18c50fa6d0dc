"""pyarr (a real Radarr/Sonarr client library from PyPI) against a running daemon (the real ``annexd run``
process, SQLite, a fake TMDB): status, profiles, root folders, tags, lookup, add, get, update, delete, queue,
commands, episodes and the language profile, on both URL bases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pyarr import RadarrAPI, SonarrAPI
from pyarr.exceptions import PyarrBadRequest, PyarrResourceNotFound, PyarrUnauthorizedError

from tests.fakes.tmdb import FakeTmdb
from tests.servers.annexd import API_KEY, DaemonProcess

TMDB_KEY = "pyarr-tmdb-key-1234"


def _config(root: Any, tmdb_url: str) -> str:
    for sub in ("movies", "tv"):
        (root / "library" / sub).mkdir(parents=True, exist_ok=True)
    path = root / "annexd.toml"
    path.write_text(f"""
[tmdb]
api_key = "env:PYARR_TMDB_KEY"
base_url = "{tmdb_url}"

[[quality_profiles]]
name = "hd"
allowed = ["1080p webdl", "720p webdl"]
cutoff = "1080p webdl"

[[quality_profiles]]
name = "uhd"
allowed = ["2160p webdl", "1080p webdl"]
cutoff = "2160p webdl"

[[targets]]
name = "library"
protocol = "local"
movie_root = "{root}/library/movies"
tv_root = "{root}/library/tv"
""")
    return str(path)


@pytest.fixture(scope="module")
def arr_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("arr")
    tmdb = FakeTmdb(api_key=TMDB_KEY).start()
    daemon = DaemonProcess(root / "state", env={"ANNEX_CONFIG": _config(root, tmdb.base_url),
                                                "PYARR_TMDB_KEY": TMDB_KEY})
    daemon.root = root  # type: ignore[attr-defined]
    try:
        yield daemon.start()
    finally:
        daemon.stop()
        tmdb.stop()


@pytest.fixture
def radarr(arr_daemon: DaemonProcess) -> RadarrAPI:
    return RadarrAPI(f"{arr_daemon.url}/radarr", API_KEY)


@pytest.fixture
def sonarr(arr_daemon: DaemonProcess) -> SonarrAPI:
    return SonarrAPI(f"{arr_daemon.url}/sonarr", API_KEY)


def test_system_status_of_both_apps(radarr, sonarr, arr_daemon):
    r, s = radarr.get_system_status(), sonarr.get_system_status()
    assert (r["appName"], r["version"], r["urlBase"]) == ("Radarr", "5.28.0.0", "/radarr")
    assert (s["appName"], s["version"], s["urlBase"]) == ("Sonarr", "4.0.19.0", "/sonarr")
    assert r["databaseType"] == "sqLite" and r["startTime"].endswith("Z") and "." not in r["startTime"]
    resp = requests.get(f"{arr_daemon.url}/radarr/api/v3/system/status", params={"apikey": API_KEY}, timeout=10)
    assert resp.headers["X-Application-Version"] == "5.28.0.0"
    for check in radarr.get_health() + sonarr.get_health():  # annexd's checks that are not ok, if any
        assert set(check) == {"source", "type", "message", "wikiUrl"} and check["type"] in ("warning", "error")


def test_wrong_key_is_refused_by_pyarr(arr_daemon):
    with pytest.raises(PyarrUnauthorizedError):
        RadarrAPI(f"{arr_daemon.url}/radarr", "not-the-key").get_movie()


def test_quality_profiles_and_root_folders(radarr, sonarr, arr_daemon):
    profiles = radarr.get_quality_profile()
    assert [p["name"] for p in profiles] == ["hd", "uhd"]
    hd = radarr.get_quality_profile(profiles[0]["id"])
    allowed = [i["quality"]["name"] for i in hd["items"] if i["allowed"]]
    assert allowed == ["WEBDL-720p", "WEBDL-1080p"] and hd["cutoff"] == next(
        i["quality"]["id"] for i in hd["items"] if i["quality"]["name"] == "WEBDL-1080p")
    assert [p["id"] for p in sonarr.get_quality_profile()] == [p["id"] for p in profiles]
    root = arr_daemon.root  # type: ignore[attr-defined]
    [movies] = radarr.get_root_folder()
    [tv] = sonarr.get_root_folder()
    assert (movies["path"], tv["path"]) == (f"{root}/library/movies", f"{root}/library/tv")
    assert movies["accessible"] is True and movies["freeSpace"] > 0
    assert radarr.get_root_folder(movies["id"])["path"] == movies["path"]


def test_tags_list_create_update_delete(radarr, sonarr):
    created = radarr.create_tag("Overseerr-Requests")
    assert created["label"] == "overseerr-requests" and created["id"] > 0
    assert radarr.create_tag("overseerr-requests")["id"] == created["id"]  # an existing label: the same tag
    assert created in radarr.get_tag() and sonarr.get_tag(created["id"]) == created
    assert radarr.upd_tag(created["id"], "renamed")["label"] == "renamed"
    radarr.del_tag(created["id"])
    with pytest.raises(PyarrResourceNotFound):
        radarr.get_tag(created["id"])


def test_movie_lookup_by_tmdb_imdb_and_title(radarr):
    [matrix] = radarr.lookup_movie("tmdb:603")
    assert (matrix["title"], matrix["year"], matrix["tmdbId"], matrix["imdbId"]) == ("The Matrix", 1999, 603,
                                                                                       "tt0133093")
    assert "id" not in matrix and matrix["added"] == "0001-01-01T00:00:00Z" and matrix["titleSlug"] == "603"
    assert matrix["folder"] == "The Matrix (1999)" and matrix["remotePoster"].endswith("/matrix.jpg")
    assert radarr.lookup_movie("imdb:tt0133093")[0]["tmdbId"] == 603
    assert [m["tmdbId"] for m in radarr.lookup_movie("matrix")] == [603, 604]
    assert [m["tmdbId"] for m in radarr.lookup_movie("The Matrix 2003")] == [604]
    assert radarr.lookup_movie("tmdb:999999") == [] and radarr.lookup_movie("tmdb:abc") == []


def test_movie_add_get_update_delete(radarr, arr_daemon):
    [matrix] = radarr.lookup_movie("tmdb:603")
    profile = radarr.get_quality_profile()[1]
    [root] = radarr.get_root_folder()
    tag = radarr.create_tag("family")
    added = radarr.add_movie(matrix, root["path"], profile["id"], search_for_movie=False, tags=[tag["id"]])
    movie_id = added["id"]
    assert added["qualityProfileId"] == profile["id"] and added["tags"] == [tag["id"]]
    assert added["hasFile"] is False and added["monitored"] is True and added["rootFolderPath"] == root["path"]
    with pytest.raises(PyarrBadRequest, match="This movie has already been added"):
        radarr.add_movie(matrix, root["path"], profile["id"])
    assert radarr.get_movie(movie_id)["tmdbId"] == 603
    assert [m["id"] for m in radarr.get_movie(603, tmdb=True)] == [movie_id]
    assert radarr.get_movie(604, tmdb=True) == []
    assert movie_id in [m["id"] for m in radarr.get_movie()]
    assert radarr.lookup_movie("tmdb:603")[0]["id"] == movie_id  # the library object
    code, request = arr_daemon.get(f"/api/v1/requests/{movie_id}")
    assert code == 200 and request["title"] == "The Matrix" and request["quality_profile"] == "uhd"
    updated = radarr.upd_movie({**radarr.get_movie(movie_id), "tags": []})
    assert updated["id"] == movie_id and updated["tags"] == []
    radarr.del_movie(movie_id, delete_files=True)
    with pytest.raises(PyarrResourceNotFound):
        radarr.get_movie(movie_id)
    assert arr_daemon.get(f"/api/v1/requests/{movie_id}")[0] == 404


def test_series_lookup_add_episodes_extend_delete(sonarr, arr_daemon):
    [got] = sonarr.lookup_series(id_=121361)
    assert (got["title"], got["tvdbId"], got["tmdbId"], got["year"]) == ("Game of Thrones", 121361, 1399, 2011)
    assert [s["seasonNumber"] for s in got["seasons"]] == [0, 1, 2] and "id" not in got
    assert sonarr.lookup_series(term="thrones")[0]["tvdbId"] == 121361
    assert sonarr.lookup_series(term="tmdb:1399")[0]["tvdbId"] == 121361
    for season in got["seasons"]:
        season["monitored"] = season["seasonNumber"] == 1
    [profile] = sonarr.get_quality_profile()[:1]
    [root] = sonarr.get_root_folder()
    added = sonarr.add_series(got, profile["id"], 1, root["path"])
    series_id = added["id"]
    assert {s["seasonNumber"]: s["monitored"] for s in added["seasons"]} == {0: False, 1: True, 2: False}
    with pytest.raises(PyarrBadRequest, match="This series has already been added"):
        sonarr.add_series(got, profile["id"], 1, root["path"])
    episodes = sonarr.get_episode(series_id, series=True)
    assert [(e["seasonNumber"], e["episodeNumber"], e["title"]) for e in episodes] == [
        (1, 1, "Winter Is Coming"), (1, 2, "The Kingsroad"), (1, 3, "Lord Snow")]
    assert episodes[0]["airDate"] == "2011-04-17" and episodes[0]["hasFile"] is False
    assert sonarr.get_episode(episodes[1]["id"])["episodeNumber"] == 2
    series = sonarr.get_series(series_id)
    assert series["statistics"]["totalEpisodeCount"] >= 3 and series["statistics"]["episodeFileCount"] == 0
    assert [s["id"] for s in sonarr.get_series(121361, tvdb=True)] == [series_id]
    # Monitoring season 2 as well extends the request.
    for season in series["seasons"]:
        season["monitored"] = season["seasonNumber"] in (1, 2)
    extended = sonarr.upd_series(series)
    assert {s["seasonNumber"]: s["monitored"] for s in extended["seasons"]}[2] is True
    assert len(sonarr.get_episode(series_id, series=True)) == 5
    code, request = arr_daemon.get(f"/api/v1/requests/{series_id}")
    assert code == 200 and request["monitor_seasons"] == [1, 2]
    sonarr.del_series(series_id)
    with pytest.raises(PyarrResourceNotFound):
        sonarr.get_series(series_id)


def test_queue_of_both_apps_is_paged(radarr, sonarr):
    page = radarr.get_queue(page=1, page_size=5, sort_key="timeleft", sort_dir="ascending")
    assert (page["page"], page["pageSize"], page["totalRecords"], page["records"]) == (1, 5, 0, [])
    assert sonarr.get_queue()["totalRecords"] == 0


def test_commands_search_refresh_and_unknown(radarr, sonarr):
    [matrix] = radarr.lookup_movie("tmdb:604")
    profile = radarr.get_quality_profile()[0]
    [root] = radarr.get_root_folder()
    movie = radarr.add_movie(matrix, root["path"], profile["id"], search_for_movie=False)
    search = radarr.post_command("MoviesSearch", movieIds=[movie["id"]])
    assert (search["name"], search["status"], search["result"]) == ("MoviesSearch", "completed", "successful")
    assert radarr.get_command(search["id"])["commandName"] == "Movies Search"
    assert radarr.post_command("RefreshMovie", movieIds=[])["status"] == "completed"
    assert sonarr.post_command("RefreshMonitoredDownloads")["status"] == "completed"
    assert sonarr.post_command("RefreshSeries", seriesId=1)["status"] == "completed"
    assert sonarr.post_command("SeriesSearch", seriesId=movie["id"])["status"] == "completed"
    assert sonarr.post_command("SeasonSearch", seriesId=1, seasonNumber=1)["status"] == "completed"
    assert sonarr.post_command("EpisodeSearch", episodeIds=[1])["status"] == "completed"
    with pytest.raises(PyarrBadRequest, match="does not run the command"):
        radarr.post_command("Backup")
    with pytest.raises(PyarrBadRequest, match="needs movieIds"):
        radarr.post_command("MoviesSearch")
    assert search["id"] in [c["id"] for c in radarr.get_command()]
    radarr.del_movie(movie["id"])


def test_language_profile_is_sonarr_4s_stub(sonarr, arr_daemon):
    with pytest.warns(DeprecationWarning):
        profiles = sonarr.get_language_profile()
    assert profiles == [{"id": 1, "name": "Deprecated", "upgradeAllowed": True, "cutoff": {"id": 1, "name": "English"},
                         "languages": [{"language": {"id": 1, "name": "English"}, "allowed": True}]}]
    resp = requests.get(f"{arr_daemon.url}/radarr/api/v3/languageprofile", params={"apikey": API_KEY}, timeout=10)
    assert resp.status_code == 404


def test_overseerr_series_request_sequence(arr_daemon):
    """Overseerr's settings test and series request, shaped as it sends them (``?apikey=``, JSON headers): the
    lookup by TVDB id, the add with every season listed and the requested ones monitored, then a second
    request for another season as the PUT of the whole object and a SeriesSearch."""
    base = f"{arr_daemon.url}/sonarr/api/v3"
    session = requests.Session()
    session.headers.update({"Accept": "application/json, text/plain, */*", "Content-Type": "application/json"})

    def call(method: str, path: str, body: Any = None, **query: Any) -> tuple[int, Any]:
        resp = session.request(method, f"{base}/{path}", params={**query, "apikey": API_KEY}, json=body, timeout=30)
        return resp.status_code, resp.json() if resp.content else None

    assert call("GET", "system/status")[1]["urlBase"] == "/sonarr"
    profiles, roots = call("GET", "qualityProfile")[1], call("GET", "rootfolder")[1]
    assert call("GET", "languageprofile")[1][0]["id"] == 1 and call("GET", "tag")[0] == 200
    status, [show] = call("GET", "series/lookup", term="tvdb:121361")
    assert status == 200 and "id" not in show
    status, added = call("POST", "series", {
        "tvdbId": 121361, "title": show["title"], "qualityProfileId": profiles[0]["id"], "languageProfileId": 1,
        "seasons": [{"seasonNumber": s["seasonNumber"], "monitored": s["seasonNumber"] == 2}
                    for s in show["seasons"]],
        "tags": [], "seasonFolder": True, "monitored": True, "rootFolderPath": roots[0]["path"],
        "seriesType": "standard", "addOptions": {"ignoreEpisodesWithFiles": True, "searchForMissingEpisodes": True}})
    assert status == 201 and added["id"] > 0 and added["titleSlug"] == "game-of-thrones"
    series_id = added["id"]
    status, [again] = call("GET", "series/lookup", term="tvdb:121361")
    assert again["id"] == series_id and [s["monitored"] for s in again["seasons"]] == [False, False, True]
    for season in again["seasons"]:
        season["monitored"] = season["monitored"] or season["seasonNumber"] == 1
    status, updated = call("PUT", "series", {**again, "monitored": True})
    assert status == 202 and [s["monitored"] for s in updated["seasons"]] == [False, True, True]
    status, command = call("POST", "command", {"name": "SeriesSearch", "seriesId": series_id})
    assert status == 201 and command["status"] == "completed"
    status, listed = call("GET", "series")
    mine = next(s for s in listed if s["id"] == series_id)
    assert mine["tvdbId"] == 121361 and mine["statistics"]["totalEpisodeCount"] == 5
    assert call("DELETE", f"series/{series_id}", deleteFiles="true")[0] == 200
