"""annexd's config from the legacy settings (real PostgreSQL), rendered and checked by annexd's own loader and
`annexd check-config` (with the carried secrets in annexd's store, as the importer leaves them); no secret value in
the file; every carried secret fits annexd's store; disabled entries are accepted as written (`enabled = false`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from annexd.config import load_config
from annexd.legacy.config_plan import ConfigPlan, plan_config
from annexd.legacy.config_writer import render, values_of, write_config
from annexd.legacy.reader import LegacyReader
from annexd.legacy.secrets import SecretOutcome, decrypt_all
from annexd.secrets import FileSecretBackend, MasterKey, SecretStore
from store import migrate
from store.db import open_database
from store.secret_backend import DbSecretBackend
from tests.legacy.conftest import LEGACY_KEY
from tests.legacy.library import PLEX_URL_TOKEN, SECRETS, Library


@pytest.fixture(scope="module")
def planned(legacy: tuple[str, Library]) -> tuple[Library, ConfigPlan, SecretOutcome]:
    url, lib = legacy
    with LegacyReader(url) as reader:
        plan = plan_config(reader.storage_servers(), reader.indexers(), reader.download_clients(), reader.settings())
    outcome = decrypt_all(plan.secrets, LEGACY_KEY)
    return lib, plan.with_secrets(outcome.carried_names), outcome


def _entries(plan: ConfigPlan, section: str) -> dict[str, tuple[bool, dict[str, Any]]]:
    return {e.name: (e.enabled, e.values) for e in plan.section(section)}


def test_storage_servers_become_targets_enabled_only_where_annexd_can_deliver(planned: Any) -> None:
    _, plan, _ = planned
    targets = _entries(plan, "targets")
    assert targets["nas-rsync"] == (True, {
        "name": "nas-rsync", "movie_root": "/volume1/movies", "tv_root": "/volume1/tv", "protocol": "rsync",
        "host": "nas.lan", "port": 22, "user": "media", "key_file": "secret:target-nas-rsync-ssh-key",
        "media_server": "nas-rsync-plex", "encode_profile": "x265-1080p"})
    assert targets["local-disk"][0] and targets["local-disk"][1]["protocol"] == "local"
    assert "media_server" not in targets["local-disk"][1]  # its Emby key did not decrypt: server disabled
    assert not targets["seedbox"][0] and not targets["windows-share"][0]
    reasons = {d["entry"]: d["reason"] for d in plan.disabled()}
    assert "SSH with a key only" in reasons["targets.seedbox"]
    assert "no SMB transport" in reasons["targets.windows-share"]
    assert "annexd secret set media-server-local-disk-emby" in reasons["media_servers.local-disk-emby"]


def test_media_servers_indexers_clients_and_tmdb(planned: Any) -> None:
    lib, plan, _ = planned
    assert _entries(plan, "media_servers")["nas-rsync-plex"] == (True, {
        "name": "nas-rsync-plex", "kind": "plex", "url": "http://nas.lan:32400/",
        "token": "secret:media-server-nas-rsync-plex"})
    indexers = _entries(plan, "indexers")
    assert indexers["prowlarr"] == (True, {"name": "prowlarr", "url": "http://prowlarr.local:9696/1",
                                           "api_key": "secret:indexer-prowlarr", "movie_categories": [2000, 2040],
                                           "tv_categories": [5000]})
    assert not indexers["nzbgeek"][0] and not indexers["old-rss"][0]
    clients = _entries(plan, "download_clients")
    if lib.shape == "dual":
        assert clients == {"qbittorrent": (True, {"name": "qbittorrent", "url": "http://127.0.0.1:8080",
                                                  "username": "admin",
                                                  "password": "secret:download-client-qbittorrent"})}
    else:
        assert clients["main-qbit"][0] and not clients["usenet"][0]
        assert clients["main-qbit"][1]["password"] == "secret:download-client-main-qbit"
    assert plan.tmdb_secret == "tmdb"


def test_every_secret_is_tried_and_the_failures_listed(planned: Any, tmp_path: Path) -> None:
    _, plan, outcome = planned
    assert {s.name for s in outcome.skipped} == {"media-server-local-disk-emby", "target-windows-share-password"}
    carried = dict((n, v.reveal()) for n, v in outcome.carried)
    qbit = next(n for n in carried if n.startswith("download-client-"))
    assert carried == {"target-nas-rsync-ssh-key": SECRETS["nas_key"],
                       "media-server-nas-rsync-plex": SECRETS["plex_token"],
                       "target-seedbox-password": SECRETS["seedbox_password"],
                       "indexer-prowlarr": SECRETS["prowlarr_key"], "indexer-nzbgeek": SECRETS["nzbgeek_key"],
                       qbit: SECRETS["qbit_password"], "tmdb": SECRETS["tmdb_key"]}
    store = SecretStore(FileSecretBackend(tmp_path / "secrets.json"), MasterKey.load_or_create(tmp_path / "mk"))
    for name, value in outcome.carried:  # names and values annexd's store accepts
        store.set(name, value)
    assert store.get("tmdb") is not None and store.get("tmdb").reveal() == SECRETS["tmdb_key"]  # type: ignore[union-attr]


def _written(plan: ConfigPlan, tmp_path: Path, style: Any) -> Path:
    base = load_config(env={"ANNEX_STATE_DIR": str(tmp_path / "state")})
    path = tmp_path / "annexd.toml"
    write_config(path, render(plan, base, style))
    return path


def test_the_written_config_holds_no_secret_value(planned: Any, tmp_path: Path) -> None:
    _, plan, _ = planned
    for style in ("flag", "commented"):
        text = _written(plan, tmp_path, style).read_text()
        leaked = [v for v in (*SECRETS.values(), PLEX_URL_TOKEN) if len(v) >= 4 and v in text]
        assert not leaked and "secret:tmdb" in text


def _store_carried(outcome: SecretOutcome, state: Path) -> None:
    """What the importer leaves behind: annexd's database with the carried secrets in its encrypted store."""
    db = open_database(f"sqlite:///{state / 'annexd.db'}")
    try:
        with db.connection_context():
            migrate.apply_all(db)
            store = SecretStore(DbSecretBackend(), MasterKey.load_or_create(state / "master.key"))
            for name, value in outcome.carried:
                store.set(name, value)
    finally:
        db.close_all()


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "annexd.cli", "--config", str(path), "check-config"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_commented_style_is_accepted_as_written_by_check_config(planned: Any, tmp_path: Path) -> None:
    _, plan, outcome = planned
    path = _written(plan, tmp_path, "commented")
    cfg = load_config(path, env={})
    assert {t.name for t in cfg.targets} == {"nas-rsync", "local-disk"}
    assert cfg.tmdb.api_key == "secret:tmdb" and cfg.state_path == tmp_path / "state"
    assert "# enabled = false" not in path.read_text() and "# [[targets]]" in path.read_text()
    missing = _check_config(path)  # the secrets are not stored yet: every reference is named
    assert missing.returncode == 4 and "annexd migrate" in missing.stderr, missing.stderr
    _store_carried(outcome, tmp_path / "state")
    result = _check_config(path)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_flag_style_is_accepted_as_written_with_its_disabled_entries_set_aside(planned: Any,
                                                                               tmp_path: Path) -> None:
    _, plan, outcome = planned
    path = _written(plan, tmp_path, "flag")
    written = values_of(path.read_text())
    assert [t["name"] for t in written["targets"] if t.get("enabled") is False] == ["seedbox", "windows-share"]
    cfg = load_config(path, env={})
    assert {t.name for t in cfg.targets} == {"nas-rsync", "local-disk"}
    disabled = {(section, entry.name) for section, entry in cfg.disabled}
    assert {(d["entry"].split(".")[0], d["entry"].split(".", 1)[1]) for d in plan.disabled()} == disabled
    _store_carried(outcome, tmp_path / "state")
    result = _check_config(path)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout and '"section": "targets"' in result.stdout
