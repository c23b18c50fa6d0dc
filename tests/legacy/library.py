"""A small legacy Annex library, generated into a throwaway PostgreSQL database of either shape, with what the
import must make of every row.

It exercises every row of issue 15's status table, both directions of TvEpisode/ProcessingItem conflict (and a
tie), an episode only in TvEpisode and one only as a ProcessingItem, a season-pack Download shared by several
episodes, duplicate ProcessingItems (in one request and across two merged requests), release JSON with API keys,
passkeys and auth headers in it, and secrets encrypted as Annex did (AES-256-GCM, ``iv:tag:ciphertext``), one of
them with another key and one too short to carry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg2
from psycopg2.extras import Json

from annexd.legacy.secrets import encrypt
from tests.legacy.schema import Shape, ddl

QU = "search_quality_unavailable"
APIKEY = "PROWLARR-APIKEY-0042"
PASSKEY = "0123456789abcdef0123456789abcdef"
HEADER_TOKEN = "HEADER-TOKEN-XYZ-777"
COOKIE_PASS = "COOKIEPASS9911"
RELEASE_CREDENTIALS = (APIKEY, PASSKEY, HEADER_TOKEN, COOKIE_PASS)

SECRETS = {
    "nas_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-nas-key-material\n-----END OPENSSH PRIVATE KEY-----\n",
    "plex_token": "plex-token-abc123",
    "seedbox_password": "seedbox-pass-77",
    "smb_password": "abc",  # too short for annexd's store: listed as not carried
    "emby_key": "emby-key-under-another-key",  # encrypted with another key: fails, listed
    "prowlarr_key": "prowlarr-api-key-42",
    "nzbgeek_key": "nzbgeek-key-99",
    "tmdb_key": "tmdb-api-key-1234",
    "qbit_password": "qbit-pass-5678",
}
PLEX_URL_TOKEN = "plex-token-in-the-url-55"


def cuid(label: str) -> str:
    return "c" + hashlib.sha1(label.encode()).hexdigest()[:24]


def info_hash(label: str) -> str:
    return hashlib.sha1(("torrent:" + label).encode()).hexdigest()


def ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Expect:
    """What one imported item must be; ``legacy`` is the label of the row whose id the item keeps."""

    legacy: str
    status: str
    download: str | None = None  # label of the Download whose hash the item links to
    adopted: bool = False
    source: str | None = None
    encoded: str | None = None
    due: datetime | None = None
    error: str | None = None
    file_unknown: bool = False
    conflict: str | None = None  # "disagreement" | "duplicate", with the winner's label in conflict_winner
    conflict_winner: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Library:
    shape: Shape
    now: datetime
    key: bytes
    ids: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    expect: list[Expect] = field(default_factory=list)
    requests: dict[str, list[str]] = field(default_factory=dict)  # merged group -> request labels, oldest first

    def id(self, label: str) -> str:
        return self.ids[label]


def release(title: str, torrent: str, *, passkey_in_path: bool = False) -> dict[str, Any]:
    """A legacy release object carrying every kind of credential Annex stored."""
    url = (f"https://tracker.example/rss/download/77/{PASSKEY}/{title}.torrent" if passkey_in_path
           else f"http://prowlarr.local:9696/1/download?apikey={APIKEY}&link=b64blob&file={title}")
    return {
        "id": f"rel-{title}", "title": title, "indexerId": cuid("idx_prowlarr"), "indexerName": "Prowlarr",
        "indexerPriority": 1, "resolution": "1080p", "source": "WEB-DL", "codec": "x264", "size": 1_234_567_890,
        "seeders": 12, "leechers": 3,
        "magnetUri": f"magnet:?xt=urn:btih:{info_hash(torrent).upper()}&dn={title}"
                     f"&tr=https%3A%2F%2Ftracker.example%2Fannounce%3Fpasskey%3D{PASSKEY}"
                     f"&tr=https%3A%2F%2Ftracker.example%2F{PASSKEY}%2Fannounce&tr=udp%3A%2F%2Fopen.example%3A1337",
        "downloadUrl": url,
        "downloadHeaders": {"Authorization": f"Bearer {HEADER_TOKEN}", "Cookie": f"uid=1; pass={COOKIE_PASS}"},
        "infoUrl": "https://tracker.example/details/1", "publishDate": "2024-01-02T03:04:05.000Z", "score": 80,
        "categories": [2000, 2040],
    }


class Builder:
    """Inserts rows with readable labels (ids are cuid-like hashes of the labels)."""

    def __init__(self, cur: Any, lib: Library):
        self.cur = cur
        self.lib = lib
        self.t = lib.now - timedelta(days=30)  # a clock for createdAt/updatedAt, always moving forward

    def tick(self, minutes: int = 1) -> datetime:
        self.t += timedelta(minutes=minutes)
        return ms(self.t)

    def insert(self, table: str, label: str | None, **cols: Any) -> str:
        if label is not None:
            cols = {"id": self.lib.ids.setdefault(label, cuid(label)), **cols}
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join(["%s"] * len(cols))
        values = [Json(v) if isinstance(v, (dict, list)) and not _int_list(v) else v for v in cols.values()]
        self.cur.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', values)
        return str(cols.get("id", ""))

    def secret(self, plaintext: str, key: bytes | None = None) -> str:
        return encrypt(plaintext, key or self.lib.key, os.urandom(16))

    def request(self, label: str, kind: str, title: str, tmdb: int | None, user: str, *, year: int | None = None,
                servers: tuple[str, ...] = (), seasons: list[int] | None = None, group: str | None = None) -> None:
        at = self.tick()
        self.insert("MediaRequest", label, type=kind, tmdbId=tmdb, title=title, year=year, requestedSeasons=seasons,
                    targets=[{"serverId": self.lib.id(s)} for s in servers], status="PROCESSING", createdAt=at,
                    updatedAt=at, userId=self.lib.id(user))
        self.lib.requests.setdefault(group or label, []).append(label)
        if self.lib.shape == "later":
            for order, server in enumerate(servers):
                self.insert("RequestTarget", f"{label}:target:{server}", requestId=self.lib.id(label),
                            serverId=self.lib.id(server), order=order)

    def download(self, label: str, status: str, request: str, *, pack: bool = False, season: int | None = None,
                 upper: bool = False) -> None:
        self.lib.hashes[label] = info_hash(label)
        at = self.tick()
        self.insert("Download", label, requestId=self.lib.id(request),
                    torrentHash=info_hash(label).upper() if upper else info_hash(label),
                    torrentName=f"{label}.torrent-name", savePath="/downloads/complete",
                    contentPath=f"/downloads/complete/{label}", status=status, size=4_000_000_000, isSeasonPack=pack,
                    season=season, magnetUri=f"magnet:?xt=urn:btih:{info_hash(label)}", createdAt=at, updatedAt=at)

    def item(self, label: str, request: str, status: str, *, season: int | None = None, episode: int | None = None,
             updated: datetime | None = None, download: str | None = None, **cols: Any) -> None:
        at = updated or self.tick()
        self.insert("ProcessingItem", label, requestId=self.lib.id(request),
                    type="EPISODE" if episode is not None else "MOVIE", title=cols.pop("title", label),
                    season=season, episode=episode, status=status, createdAt=at - timedelta(days=1), updatedAt=at,
                    downloadId=self.lib.id(download) if download else None, **cols)

    def episode(self, label: str, request: str, season: int, episode: int, status: str, *,
                updated: datetime | None = None, download: str | None = None, **cols: Any) -> None:
        at = updated or self.tick()
        self.insert("TvEpisode", label, requestId=self.lib.id(request), season=season, episode=episode,
                    title=cols.pop("title", label), status=status, createdAt=at - timedelta(days=1), updatedAt=at,
                    downloadId=self.lib.id(download) if download else None, **cols)


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) for v in value) and bool(value)


# --- settings ------------------------------------------------------------------------------------------------
def add_settings(b: Builder) -> None:
    other_key = bytes(range(32))
    b.insert("StorageServer", "srv_nas", name="NAS Rsync", host="nas.lan", port=22, protocol="RSYNC",
             username="media", encryptedPrivateKey=b.secret(SECRETS["nas_key"]), pathMovies="/volume1/movies",
             pathTv="/volume1/tv/", maxResolution="1080p", preferredCodec="HEVC", mediaServerType="PLEX",
             mediaServerUrl=f"http://nas.lan:32400/?X-Plex-Token={PLEX_URL_TOKEN}",
             mediaServerApiKey=b.secret(SECRETS["plex_token"]))
    b.insert("StorageServer", "srv_seedbox", name="Seedbox", host="seedbox.example", port=2222, protocol="SFTP",
             username="bob", encryptedPassword=b.secret(SECRETS["seedbox_password"]), pathMovies="/home/bob/movies",
             mediaServerType="NONE")
    b.insert("StorageServer", "srv_smb", name="Windows Share", host="winbox", protocol="SMB", username="guest",
             encryptedPassword=b.secret(SECRETS["smb_password"]), pathMovies="/Movies", pathTv="/TV",
             mediaServerType="NONE")
    b.insert("StorageServer", "srv_local", name="Local Disk", protocol="LOCAL", pathMovies="/srv/media/movies",
             pathTv="/srv/media/tv", maxResolution="4K", preferredCodec="AV1", mediaServerType="EMBY",
             mediaServerUrl="http://127.0.0.1:8096", mediaServerApiKey=b.secret(SECRETS["emby_key"], other_key))
    b.insert("Indexer", "idx_prowlarr", name="Prowlarr", type="TORZNAB", url="http://prowlarr.local:9696/1/api",
             apiKey=b.secret(SECRETS["prowlarr_key"]), categoriesMovies=[2000, 2040], categoriesTv=[5000], priority=1)
    b.insert("Indexer", "idx_nzbgeek", name="NZBgeek", type="NEWZNAB", url="https://api.nzbgeek.info",
             apiKey=b.secret(SECRETS["nzbgeek_key"]), priority=2)
    b.insert("Indexer", "idx_rss", name="Old RSS", type="RSS", url="https://rss.example/feed", priority=3)
    at = b.tick()
    settings = {"tmdb.apiKey": b.secret(SECRETS["tmdb_key"]), "ui.theme": json.dumps("dark")}
    if b.lib.shape == "dual":
        settings.update({"qbittorrent.url": json.dumps("http://127.0.0.1:8080"),
                         "qbittorrent.username": json.dumps("admin"),
                         "qbittorrent.password": b.secret(SECRETS["qbit_password"])})
    else:
        b.insert("download_clients", "dc_main", name="Main qBit", type="QBITTORRENT", url="http://127.0.0.1:8080",
                 username="admin", priority=1, updated_at=at)
        b.insert("download_clients", "dc_sab", name="Usenet", type="SABNZBD", url="http://127.0.0.1:8085",
                 priority=2, updated_at=at)
        settings[f"downloadClient.{b.lib.id('dc_main')}.password"] = b.secret(SECRETS["qbit_password"])
    for key, value in settings.items():
        b.insert("Setting", None, key=key, value=value, updatedAt=at)


# --- movies: one request per row of the status table ---------------------------------------------------------
def add_movies(b: Builder) -> None:
    lib, now = b.lib, b.lib.now
    tmdb = iter(range(1000, 2000))
    e = lib.expect.append

    def movie(label: str, status: str, expect: Expect | None, *, download: str | None = None,
              **cols: Any) -> None:
        b.request(f"req_{label}", "MOVIE", label.replace("_", " ").title(), next(tmdb), "u_alice", year=2020,
                  servers=("srv_nas", "srv_local"))
        if download:
            phase = cols.pop("download_status")
            b.download(download, phase, f"req_{label}", upper=cols.pop("upper", False))
        b.item(label, f"req_{label}", status, download=download if not cols.pop("by_hash", False) else None, **cols)
        if expect:
            e(expect)

    retry = ms(now + timedelta(days=2))
    movie("m_pending", "PENDING", Expect("m_pending", "PENDING"))
    movie("m_retry", "PENDING", Expect("m_retry", "AWAITING", due=retry, error="no results"), nextRetryAt=retry,
          lastError="no results")
    movie("m_searching", "SEARCHING", Expect("m_searching", "PENDING"))
    movie("m_found", "FOUND", Expect("m_found", "PENDING", extra={"release": "Found.Movie.2020.1080p.WEB-DL-GRP"}),
          stepContext={"selectedRelease": release("Found.Movie.2020.1080p.WEB-DL-GRP", "m_found_release")})
    movie("m_qu", "FOUND", Expect("m_qu", "QUALITY_UNAVAILABLE", due=now + timedelta(hours=6),
                                  extra={"alternatives": 2}),
          currentStep=QU, qualityMet=False,
          availableReleases=[release("Qu.Movie.2020.720p.HDTV-AAA", "qu1"),
                             release("Qu.Movie.2020.480p.DVDRip-BBB", "qu2", passkey_in_path=True)])
    movie("m_dl_active", "DOWNLOADING", Expect("m_dl_active", "DOWNLOADING", "dl_active", adopted=True),
          download="dl_active", download_status="DOWNLOADING")
    movie("m_dl_stalled", "DOWNLOADING", Expect("m_dl_stalled", "DOWNLOADING", "dl_stalled", adopted=True),
          download="dl_stalled", download_status="STALLED")
    movie("m_dl_finished", "DOWNLOADING", Expect("m_dl_finished", "DOWNLOADING", "dl_finished", adopted=True),
          download="dl_finished", download_status="COMPLETED", upper=True, by_hash=True,
          stepContext={"download": {"torrentHash": info_hash("dl_finished").upper()}})
    movie("m_dl_cleaned", "DOWNLOADING", Expect("m_dl_cleaned", "PENDING"), download="dl_cleaned",
          download_status="CLEANED")
    movie("m_dl_none", "DOWNLOADING", Expect("m_dl_none", "PENDING"))
    movie("m_downloaded", "DOWNLOADED", Expect("m_downloaded", "DOWNLOADED", source="/data/movies/m.mkv"),
          sourceFilePath="/data/movies/m.mkv", downloadedAt=ms(now - timedelta(days=1, microseconds=123000)))
    movie("m_encoding_ctx", "ENCODING", Expect("m_encoding_ctx", "DOWNLOADED", source="/data/movies/e.mkv"),
          stepContext={"download": {"sourceFilePath": "/data/movies/e.mkv"}})
    movie("m_downloaded_nopath", "DOWNLOADED",
          Expect("m_downloaded_nopath", "DOWNLOADING", "dl_processed", adopted=True, file_unknown=True),
          download="dl_processed", download_status="PROCESSED")
    movie("m_encoding_nopath", "ENCODING", Expect("m_encoding_nopath", "PENDING", file_unknown=True))
    movie("m_encoded", "ENCODED", Expect("m_encoded", "ENCODED", source="/data/movies/x.mkv",
                                         encoded="/encode/x.mkv"),
          sourceFilePath="/data/movies/x.mkv", encodedAt=ms(now - timedelta(hours=3)),
          stepContext={"encode": {"jobId": "j1", "encodedFiles": [
              {"path": "/encode/x.mkv", "resolution": "1080p", "codec": "hevc", "targetServerIds": []}]}})
    movie("m_delivering_noenc", "DELIVERING",
          Expect("m_delivering_noenc", "DOWNLOADED", source="/data/movies/d.mkv", file_unknown=True),
          sourceFilePath="/data/movies/d.mkv")
    delivered = ms(now - timedelta(days=3, microseconds=456000))
    movie("m_completed", "COMPLETED", Expect("m_completed", "COMPLETED", "dl_done_cleaned", source="/data/movies/c.mkv",
                                             extra={"delivered_at": delivered}),
          download="dl_done_cleaned", download_status="CLEANED", sourceFilePath="/data/movies/c.mkv",
          downloadedAt=delivered - timedelta(hours=5), encodedAt=delivered - timedelta(hours=1),
          deliveredAt=delivered)
    movie("m_failed", "FAILED", Expect("m_failed", "FAILED", error="encode failed: boom"),
          lastError="encode failed: boom")
    movie("m_cancelled", "CANCELLED", Expect("m_cancelled", "CANCELLED"))
    movie("m_badpath", "DOWNLOADED", Expect("m_badpath", "PENDING", file_unknown=True),
          sourceFilePath="/data/../etc/passwd")
    movie("m_relpath", "DOWNLOADED", Expect("m_relpath", "PENDING", file_unknown=True),
          sourceFilePath="relative/file.mkv")
    if lib.shape == "later":
        movie("m_discovered", "DISCOVERED", Expect("m_discovered", "PENDING"))
    # A movie request without any item still becomes one PENDING movie item.
    b.request("req_m_noitem", "MOVIE", "No Item Movie", next(tmdb), "u_bob")
    # Two requests for one title merge; their ProcessingItems are duplicates: the newer one wins.
    b.request("req_dup_a", "MOVIE", "Twice Asked", 4242, "u_alice", year=2019, group="dup")
    b.request("req_dup_b", "MOVIE", "Twice Asked", 4242, "u_bob", year=2019, group="dup")
    b.item("m_dup_a", "req_dup_a", "FAILED", lastError="old failure")
    b.item("m_dup_b", "req_dup_b", "COMPLETED", deliveredAt=ms(now - timedelta(days=1)))
    e(Expect("m_dup_b", "COMPLETED", conflict="duplicate", conflict_winner="m_dup_b"))


# --- a TV show with a season pack ----------------------------------------------------------------------------
def add_show(b: Builder) -> None:
    lib, now, e = b.lib, b.lib.now, b.lib.expect.append
    b.request("req_show", "TV", "The Show", 9001, "u_alice", servers=("srv_nas",), seasons=[1], group="show")
    b.request("req_show_bob", "TV", "The Show", 9001, "u_bob", servers=("srv_local",), seasons=[1, 2],
              group="show")
    b.download("pack", "DOWNLOADING", "req_show", pack=True, season=1)
    future = ms(now + timedelta(days=10))
    past = ms(now - timedelta(days=10))
    t = b.tick
    pack_ctx = {"download": {"torrentHash": info_hash("pack")}}
    # E1/E2: on the pack, linked by downloadId and by stepContext hash.
    b.item("e1_pi", "req_show", "DOWNLOADING", season=1, episode=1, download="pack")
    b.item("e2_pi", "req_show", "DOWNLOADING", season=1, episode=2, stepContext=pack_ctx)
    e(Expect("e1_pi", "DOWNLOADING", "pack", adopted=True))
    e(Expect("e2_pi", "DOWNLOADING", "pack", adopted=True))
    # E7: only as a ProcessingItem. E13: a future retry after a future air date: waits for the later one.
    b.item("e7_pi", "req_show", "PENDING", season=1, episode=7)
    e(Expect("e7_pi", "PENDING"))
    b.item("e13_pi", "req_show", "PENDING", season=1, episode=13, airDate=future,
           nextRetryAt=future + timedelta(days=1), lastError="nothing yet")
    e(Expect("e13_pi", "AWAITING", due=future + timedelta(days=1), error="nothing yet"))
    # E10: duplicate ProcessingItems in one request: the newer (ENCODED) wins.
    b.item("e10_old", "req_show", "FAILED", season=1, episode=10, lastError="stalled")
    b.item("e10_new", "req_show", "ENCODED", season=1, episode=10, sourceFilePath="/data/tv/e10.mkv",
           stepContext={"encode": {"encodedFiles": [{"path": "/encode/e10.mkv"}]}})
    e(Expect("e10_new", "ENCODED", source="/data/tv/e10.mkv", encoded="/encode/e10.mkv", conflict="duplicate",
             conflict_winner="e10_new"))
    if lib.shape == "dual":
        add_dual_episodes(b, future, past, t)
    else:
        add_later_episodes(b, future)


def add_dual_episodes(b: Builder, future: datetime, past: datetime, t: Any) -> None:
    now, e = b.lib.now, b.lib.expect.append
    b.episode("e1_te", "req_show", 1, 1, "DOWNLOADING", download="pack")
    b.episode("e2_te", "req_show", 1, 2, "DOWNLOADING", download="pack")
    # E3: the TvEpisode is newer (COMPLETED) than the ProcessingItem (DOWNLOADING): TvEpisode wins; its missing
    # downloadedAt comes from the ProcessingItem.
    t4, t5 = t(), t()
    downloaded = ms(now - timedelta(days=2, microseconds=789000))
    b.item("e3_pi", "req_show", "DOWNLOADING", season=1, episode=3, download="pack", updated=t4,
           downloadedAt=downloaded)
    b.episode("e3_te", "req_show", 1, 3, "COMPLETED", updated=t5, deliveredAt=ms(now - timedelta(days=1)))
    e(Expect("e3_pi", "COMPLETED", "pack", conflict="disagreement", conflict_winner="e3_te",
             extra={"downloaded_at": downloaded}))
    # E4: the ProcessingItem is newer (DOWNLOADED with a path) than the TvEpisode (FAILED).
    t4, t5 = t(), t()
    b.episode("e4_te", "req_show", 1, 4, "FAILED", updated=t4, error="tv episode failed")
    b.item("e4_pi", "req_show", "DOWNLOADED", season=1, episode=4, updated=t5, sourceFilePath="/data/tv/e4.mkv")
    e(Expect("e4_pi", "DOWNLOADED", source="/data/tv/e4.mkv", conflict="disagreement", conflict_winner="e4_pi"))
    # E5: same updatedAt: the ProcessingItem wins.
    same = t()
    b.episode("e5_te", "req_show", 1, 5, "ENCODED", updated=same)
    b.item("e5_pi", "req_show", "COMPLETED", season=1, episode=5, updated=same)
    e(Expect("e5_pi", "COMPLETED", conflict="disagreement", conflict_winner="e5_pi"))
    # Only in TvEpisode: AWAITING in the future and in the past, SKIPPED, QUALITY_UNAVAILABLE, unaired PENDING.
    b.episode("e6_te", "req_show", 1, 6, "AWAITING", airDate=future)
    e(Expect("e6_te", "AWAITING", due=datetime.combine(future.date(), datetime.min.time())))
    b.episode("e11_te", "req_show", 1, 11, "AWAITING", airDate=past)
    e(Expect("e11_te", "AWAITING", due=now))
    b.episode("e9_te", "req_show", 1, 9, "QUALITY_UNAVAILABLE", qualityMet=False,
              availableReleases=[release("The.Show.S01E09.720p.HDTV-XYZ", "e9rel")])
    e(Expect("e9_te", "QUALITY_UNAVAILABLE", due=now + timedelta(hours=6), extra={"alternatives": 1}))
    b.episode("e12_te", "req_show", 1, 12, "PENDING", airDate=future)
    e(Expect("e12_te", "AWAITING", due=datetime.combine(future.date(), datetime.min.time())))
    # E8: SKIPPED in alice's request, PENDING (newer) in bob's: duplicate TvEpisodes of merged requests.
    b.episode("e8_te", "req_show", 1, 8, "SKIPPED")
    b.episode("e8_bob", "req_show_bob", 1, 8, "PENDING")
    e(Expect("e8_bob", "PENDING", conflict="duplicate", conflict_winner="e8_bob"))
    b.episode("e14_te", "req_show", 1, 14, "SKIPPED")
    e(Expect("e14_te", "CANCELLED"))


def add_later_episodes(b: Builder, future: datetime) -> None:
    now, e = b.lib.now, b.lib.expect.append
    b.item("e3_pi", "req_show", "DOWNLOADING", season=1, episode=3, download="pack")
    e(Expect("e3_pi", "DOWNLOADING", "pack", adopted=True))
    b.item("e9_pi", "req_show", "FOUND", season=1, episode=9, currentStep=QU,
           availableReleases=[release("The.Show.S01E09.720p.HDTV-XYZ", "e9rel")])
    e(Expect("e9_pi", "QUALITY_UNAVAILABLE", due=now + timedelta(hours=6), extra={"alternatives": 1}))
    b.item("e12_pi", "req_show", "DISCOVERED", season=1, episode=12, airDate=future)
    e(Expect("e12_pi", "AWAITING", due=datetime.combine(future.date(), datetime.min.time())))
    # E7 again in bob's request, newer: duplicates across merged requests.
    b.item("e7_bob", "req_show_bob", "SEARCHING", season=1, episode=7)
    b.lib.expect[:] = [x for x in b.lib.expect if x.legacy != "e7_pi"]
    e(Expect("e7_bob", "PENDING", conflict="duplicate", conflict_winner="e7_bob"))


def build(cur: Any, shape: Shape, now: datetime, key: bytes) -> Library:
    """Create the schema of ``shape`` and fill it; returns what the import must make of it."""
    lib = Library(shape, ms(now), key)
    cur.execute(ddl(shape))
    b = Builder(cur, lib)
    for label, name in (("u_alice", "alice"), ("u_bob", "bob")):
        b.insert("User", label, email=f"{name}@example.org", username=name)
    add_settings(b)
    add_movies(b)
    add_show(b)
    return lib


def create(url: str, shape: Shape, now: datetime, key: bytes) -> Library:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            return build(cur, shape, now, key)
    finally:
        conn.close()


# --- a big generated library (for the import benchmark) -----------------------------------------------------
_BULK_STATUSES = "ARRAY['PENDING','DOWNLOADING','DOWNLOADED','COMPLETED','FAILED']"


def fill_bulk(cur: Any, shape: Shape, shows: int, episodes: int) -> int:
    """``shows`` TV requests of ``episodes`` episodes each, with a season pack per show, varied statuses and a
    release with an API key per item; in the dual shape every episode also has a TvEpisode (a third of them
    newer than their ProcessingItem, disagreeing). Set-based INSERT ... SELECT. Returns the number of items."""
    cur.execute(ddl(shape))
    cur.execute("""INSERT INTO "User" (id, email, username) VALUES ('bulk-user', 'bulk@example.org', 'bulk')""")
    cur.execute("""
        INSERT INTO "MediaRequest" (id, type, "tmdbId", title, "createdAt", "updatedAt", "userId")
        SELECT 'breq' || g, 'TV', 100000 + g, 'Bulk Show ' || g, now() - interval '9 days', now(), 'bulk-user'
        FROM generate_series(1, %(shows)s) g;
        INSERT INTO "Download" (id, "requestId", "torrentHash", "torrentName", status, "isSeasonPack", season,
                                "savePath", "updatedAt")
        SELECT 'bdl' || g, 'breq' || g, md5('bulk' || g) || substr(md5('x' || g), 1, 8), 'Bulk Show ' || g || ' S01',
               'DOWNLOADING', true, 1, '/downloads', now()
        FROM generate_series(1, %(shows)s) g;""", {"shows": shows})
    cur.execute(f"""
        INSERT INTO "ProcessingItem" (id, "requestId", type, title, season, episode, status, "downloadId",
                                      "sourceFilePath", "availableReleases", "createdAt", "updatedAt")
        SELECT 'bpi' || g || '-' || e, 'breq' || g, 'EPISODE', 'Episode ' || e, 1, e,
               ({_BULK_STATUSES})[1 + (g + e) %% 5]::"ProcessingStatus",
               CASE WHEN (g + e) %% 5 = 1 THEN 'bdl' || g END,
               CASE WHEN (g + e) %% 5 = 2 THEN '/data/bulk/' || g || '/' || e || '.mkv' END,
               jsonb_build_array(jsonb_build_object('title', 'Bulk.Show.' || g || '.S01E' || e || '.720p.HDTV-GRP',
                   'downloadUrl', 'http://idx.example/dl?apikey=BULKKEY&id=' || g, 'size', 1000000, 'seeders', 5)),
               now() - interval '8 days', now() - interval '1 day'
        FROM generate_series(1, %(shows)s) g, generate_series(1, %(episodes)s) e""",
                {"shows": shows, "episodes": episodes})
    if shape == "dual":
        cur.execute(f"""
            INSERT INTO "TvEpisode" (id, "requestId", season, episode, title, status, "downloadId", "createdAt",
                                     "updatedAt")
            SELECT 'bte' || g || '-' || e, 'breq' || g, 1, e, 'Episode ' || e,
                   ({_BULK_STATUSES})[1 + (g + e + (e %% 3)) %% 5]::"TvEpisodeStatus",
                   CASE WHEN (g + e + (e %% 3)) %% 5 = 1 THEN 'bdl' || g END, now() - interval '8 days',
                   now() - interval '1 day' + (e %% 3 - 1) * interval '1 hour'
            FROM generate_series(1, %(shows)s) g, generate_series(1, %(episodes)s) e""",
                    {"shows": shows, "episodes": episodes})
    cur.execute("ANALYZE")
    return shows * episodes
