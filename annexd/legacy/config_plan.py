"""annexd config entries from the legacy settings (pure: legacy rows in, entries and secrets out).

Storage servers become ``[[targets]]`` (local, and rsync/SFTP with a private key, enabled; password-only and SMB
servers written disabled with what to fill in), with one ``[[encode_profiles]]`` per codec and resolution they
asked for and one ``[[media_servers]]`` per Plex/Emby server; Torznab indexers become ``[[indexers]]`` (other
kinds disabled); qBittorrent clients ``[[download_clients]]`` (other kinds disabled); the TMDB key ``[tmdb]``.
Every secret is referred to as ``secret:NAME`` and listed with that name; an entry whose secret could not be
carried is disabled by :meth:`ConfigPlan.with_secrets`. Disabled entries still hold values the config loader
accepts, so the written file checks as it is.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from annexd.legacy.plan import path_problem
from annexd.legacy.rows import LegacyDownloadClient, LegacyIndexer, LegacySettings, LegacyStorageServer
from annexd.legacy.secrets import LegacySecret

_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*$")
FILL_IN_HOST = "fill-in.invalid"
CODECS = {"AV1": ("libsvtav1", 30, "8"), "HEVC": ("libx265", 24, "medium"), "H264": ("libx264", 21, "medium")}
HEIGHTS = {"4K": 2160, "2K": 1440, "1080p": 1080, "720p": 720, "480p": 480}
MEDIA_SERVER_KINDS = {"PLEX": "plex", "EMBY": "emby"}


@dataclass(frozen=True)
class Entry:
    """One ``[[section]]`` table. ``comment`` says why it is disabled, or what to check."""

    section: str
    values: dict[str, Any]
    enabled: bool = True
    comment: str | None = None
    secrets: tuple[str, ...] = ()  # secret names it needs

    @property
    def name(self) -> str:
        return str(self.values["name"])

    def disabled(self, why: str) -> Entry:
        comment = f"{self.comment}; {why}" if self.comment else why
        return dataclasses.replace(self, enabled=False, comment=comment)


@dataclass(frozen=True)
class ConfigPlan:
    entries: tuple[Entry, ...]
    secrets: tuple[LegacySecret, ...]
    tmdb_secret: str | None = None
    target_names: dict[str, str] = field(default_factory=dict)  # legacy StorageServer id -> target name
    indexer_names: dict[str, str] = field(default_factory=dict)  # legacy Indexer id -> indexer name

    def section(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.section == name]

    def disabled(self) -> list[dict[str, str]]:
        return [{"entry": f"{e.section}.{e.name}", "reason": e.comment or "disabled"}
                for e in self.entries if not e.enabled]

    def with_secrets(self, carried: frozenset[str]) -> ConfigPlan:
        """Entries needing a secret that was not carried become disabled; targets drop a disabled media server."""
        entries = [e.disabled(f"secret:{missing[0]} could not be carried from Annex: store it with `annexd "
                              f"secret set {missing[0]}`, then enable this entry")
                   if (missing := [s for s in e.secrets if s not in carried]) else e
                   for e in self.entries]
        off = {e.name for e in entries if e.section == "media_servers" and not e.enabled}
        entries = [_without_media_server(e) if e.section == "targets" and e.values.get("media_server") in off
                   else e for e in entries]
        tmdb = self.tmdb_secret if self.tmdb_secret in carried else None
        return dataclasses.replace(self, entries=tuple(entries), tmdb_secret=tmdb)


def _without_media_server(entry: Entry) -> Entry:
    values = {k: v for k, v in entry.values.items() if k != "media_server"}
    note = f"media server {entry.values['media_server']} is disabled: set media_server once it is enabled"
    return dataclasses.replace(entry, values=values,
                               comment=f"{entry.comment}; {note}" if entry.comment else note)


# --- names ---------------------------------------------------------------------------------------------------
def slug(text: str, fallback: str = "entry") -> str:
    """A name annexd accepts everywhere (config names, secret names): lower-case letters, digits, dashes."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return value or fallback


class _Names:
    """Unique names per section."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.used:
            name, n = f"{wanted}-{n}", n + 1
        self.used.add(name)
        return name


# --- URLs and paths ------------------------------------------------------------------------------------------
def plain_url(url: str | None, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """The URL without query, fragment or user:password (they may hold a token); None if not usable."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return None
    return urlunsplit((parts.scheme.lower(), parts.hostname + (f":{port}" if port else ""), parts.path, "", ""))


def _root(path: str | None) -> str | None:
    return path.rstrip("/") or "/" if path and path_problem(path) is None else None


# --- storage servers -----------------------------------------------------------------------------------------
def _encode_profile(server: LegacyStorageServer) -> dict[str, Any] | None:
    if server.preferred_codec not in CODECS and server.max_resolution not in HEIGHTS:
        return None
    codec, crf, preset = CODECS.get(server.preferred_codec or "", CODECS["HEVC"])
    height = HEIGHTS.get(server.max_resolution or "")
    name = f"{codec.removeprefix('lib')}-{(server.max_resolution or '').lower() if height else 'source'}"
    values: dict[str, Any] = {"name": name, "codec": codec, "crf": crf, "preset": preset}
    if height:
        values["max_height"] = height
    return values


def _media_server(server: LegacyStorageServer, name: str) -> Entry | None:
    kind = MEDIA_SERVER_KINDS.get(server.media_server_type or "")
    if kind is None:
        return None
    secret = f"media-server-{name}"
    url = plain_url(server.media_server_url)
    entry = Entry("media_servers", {"name": name, "kind": kind, "url": url or "http://fill-in.invalid:8096",
                                    "token": f"secret:{secret}"},
                  secrets=(secret,) if server.media_server_api_key else ())
    if url is None:
        return entry.disabled(f"Annex's media server URL {server.media_server_url!r} is not an http(s) URL: "
                              "set url")
    if not server.media_server_api_key:
        return entry.disabled(f"Annex had no API key for it: store one with `annexd secret set {secret}`")
    return entry


def _target(server: LegacyStorageServer, name: str) -> Entry:
    movie, tv = _root(server.path_movies), _root(server.path_tv)
    values: dict[str, Any] = {"name": name, "movie_root": movie, "tv_root": tv}
    if not (movie or tv):
        values["movie_root"] = "/fill-in"
    values = {k: v for k, v in values.items() if v}
    proto = server.protocol
    if proto == "LOCAL":
        return _plain_target(server, {**values, "protocol": "local"})
    if proto in ("RSYNC", "SFTP"):
        return _remote_target(server, name, values)
    entry = Entry("targets", {**values, "protocol": "local"})
    where = f"//{server.host or '?'}"
    return entry.disabled(f"Annex delivered over {proto} to {where}; annexd has no {proto} transport: mount the "
                          "share on this machine, point movie_root/tv_root at the mount, then enable")


def _plain_target(server: LegacyStorageServer, values: dict[str, Any]) -> Entry:
    entry = Entry("targets", values)
    if values.get("movie_root") == "/fill-in":
        entry = entry.disabled("Annex had no usable absolute path for movies or TV: set movie_root/tv_root")
    return entry if server.enabled else entry.disabled("disabled in Annex")


def _remote_target(server: LegacyStorageServer, name: str, values: dict[str, Any]) -> Entry:
    host_ok = bool(server.host and _HOST.match(server.host))
    user_ok = bool(server.username and _USER.match(server.username))
    key_secret = f"target-{name}-ssh-key"
    values = {**values, "protocol": server.protocol.lower(), "host": server.host if host_ok else FILL_IN_HOST,
              "port": server.port or 22, "user": server.username if user_ok else "fill-in"}
    if server.encrypted_private_key:
        entry = _plain_target(server, {**values, "key_file": f"secret:{key_secret}"})
        entry = dataclasses.replace(entry, secrets=(key_secret,))
    else:
        entry = Entry("targets", {**values, "key_file": f"/etc/annexd/keys/{name}"}).disabled(
            f"Annex logged in to {server.host} with a password; annexd delivers over SSH with a key only: install "
            f"a key for {server.username or 'the user'} on the host, set key_file, then enable")
    if not (host_ok and user_ok):
        entry = entry.disabled(f"Annex's host {server.host!r} or user {server.username!r} is not valid: set them")
    return entry


def _server_secrets(server: LegacyStorageServer, target: str, media: str | None) -> list[LegacySecret]:
    where = f'StorageServer "{server.name}"'
    found = [(f"target-{target}-password", f"{where}.encryptedPassword", server.encrypted_password),
             (f"target-{target}-ssh-key", f"{where}.encryptedPrivateKey", server.encrypted_private_key),
             (f"media-server-{media}", f"{where}.mediaServerApiKey", server.media_server_api_key if media else None)]
    return [LegacySecret(n, s, v) for n, s, v in found if v]


# --- indexers, download clients, TMDB ------------------------------------------------------------------------
def _indexer(indexer: LegacyIndexer, name: str) -> Entry:
    url = plain_url(indexer.url)
    secret = f"indexer-{name}"
    values: dict[str, Any] = {"name": name, "url": (url or "http://fill-in.invalid").removesuffix("/api")}
    if indexer.api_key:
        values["api_key"] = f"secret:{secret}"
    values.update({k: list(v) for k, v in (("movie_categories", indexer.categories_movies),
                                           ("tv_categories", indexer.categories_tv)) if v})
    entry = Entry("indexers", values, secrets=(secret,) if indexer.api_key else ())
    if indexer.type != "TORZNAB":
        return entry.disabled(f"Annex indexer of type {indexer.type}; annexd speaks Torznab only: put it behind "
                              "Prowlarr or Jackett, set url to its Torznab feed, then enable")
    if url is None:
        return entry.disabled(f"Annex's URL {indexer.url!r} is not an http(s) URL: set url")
    return entry if indexer.enabled else entry.disabled("disabled in Annex")


def _setting_text(settings: LegacySettings, key: str) -> str | None:
    raw = settings.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else None


def _client(name: str, kind: str, url: str | None, username: str | None, secret: str | None,
            enabled: bool) -> Entry:
    values: dict[str, Any] = {"name": name, "url": plain_url(url) or "http://fill-in.invalid:8080"}
    if username:
        values["username"] = username
    if secret:
        values["password"] = f"secret:{secret}"
    entry = Entry("download_clients", values, secrets=(secret,) if secret else ())
    if kind != "QBITTORRENT":
        return entry.disabled(f"Annex download client of type {kind}; annexd drives qBittorrent only")
    if plain_url(url) is None:
        return entry.disabled(f"Annex's URL {url!r} is not an http(s) URL: set url")
    return entry if enabled else entry.disabled("disabled in Annex")


def _clients(clients: Iterable[LegacyDownloadClient], settings: LegacySettings,
             names: _Names) -> tuple[list[Entry], list[LegacySecret]]:
    entries, secrets = [], []
    for c in clients:
        name = names.take(slug(c.name, "download-client"))
        key = f"downloadClient.{c.id}.password"
        secret = f"download-client-{name}" if settings.get(key) else None
        if secret:
            secrets.append(LegacySecret(secret, f'Setting "{key}"', settings.get(key) or ""))
        entries.append(_client(name, c.type, c.url, c.username, secret, c.enabled))
    if entries or not (_setting_text(settings, "qbittorrent.url") or settings.get("qbittorrent.password")):
        return entries, secrets
    name = names.take("qbittorrent")
    secret = f"download-client-{name}" if settings.get("qbittorrent.password") else None
    if secret:
        secrets.append(LegacySecret(secret, 'Setting "qbittorrent.password"', settings.get("qbittorrent.password")
                                    or ""))
    entries.append(_client(name, "QBITTORRENT", _setting_text(settings, "qbittorrent.url"),
                           _setting_text(settings, "qbittorrent.username"), secret, True))
    return entries, secrets


# --- the whole plan ------------------------------------------------------------------------------------------
def plan_config(servers: Iterable[LegacyStorageServer], indexers: Iterable[LegacyIndexer],
                clients: Iterable[LegacyDownloadClient], settings: LegacySettings) -> ConfigPlan:
    names = {s: _Names() for s in ("targets", "media_servers", "indexers", "download_clients")}
    entries: list[Entry] = []
    profiles: dict[str, dict[str, Any]] = {}
    secrets: list[LegacySecret] = []
    target_names: dict[str, str] = {}
    media_by_url: dict[tuple[str, str], str] = {}
    for server in servers:
        name = target_names[server.id] = names["targets"].take(slug(server.name, "target"))
        target = _target(server, name)
        media = _media_server(server, names["media_servers"].take(f"{name}-{slug(server.media_server_type or '')}"))
        if media is not None:
            key = (media.values["kind"], media.values["url"])
            if key in media_by_url:  # two targets on one media server share it
                media = None
            else:
                entries.append(media)
                media_by_url[key] = media.name
            target = dataclasses.replace(target, values={**target.values, "media_server": media_by_url[key]})
        profile = _encode_profile(server)
        if profile is not None:
            profiles[profile["name"]] = profile
            target = dataclasses.replace(target, values={**target.values, "encode_profile": profile["name"]})
        entries.append(target)
        secrets += _server_secrets(server, name, media.name if media is not None else None)
    entries += [Entry("encode_profiles", p) for p in profiles.values()]
    indexer_names: dict[str, str] = {}
    for indexer in indexers:
        name = indexer_names[indexer.id] = names["indexers"].take(slug(indexer.name, "indexer"))
        entries.append(_indexer(indexer, name))
        if indexer.api_key:
            secrets.append(LegacySecret(f"indexer-{name}", f'Indexer "{indexer.name}".apiKey', indexer.api_key))
    client_entries, client_secrets = _clients(clients, settings, names["download_clients"])
    entries += client_entries
    secrets += client_secrets
    tmdb = settings.get("tmdb.apiKey")
    if tmdb:
        secrets.append(LegacySecret("tmdb", 'Setting "tmdb.apiKey"', tmdb))
    return ConfigPlan(tuple(entries), tuple(secrets), "tmdb" if tmdb else None, target_names, indexer_names)
