"""Configuration: TOML + environment, every problem listed at once, secrets never shown."""

import pytest

from annexd.config import describe, dumps, load_config, secret_values
from annexd.errors import ConfigError
from tests.util import loaded_after_import


def _write(tmp_path, text):
    path = tmp_path / "annexd.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path):
    cfg = load_config(None, env={"ANNEX_STATE_DIR": str(tmp_path)})
    assert cfg.database_url == f"sqlite:///{tmp_path}/annexd.db"
    assert cfg.database.max_connections == 5 and cfg.http.host == "127.0.0.1"
    assert cfg.worker.download_poll_interval == 5000
    assert cfg.indexers == () and cfg.download_clients == ()


def test_environment_overrides_the_file(tmp_path):
    path = _write(tmp_path, '[database]\nmax_connections = 3\n[worker]\npoll_interval = 1000\n')
    cfg = load_config(path, env={"ANNEX_DATABASE_MAX_CONNECTIONS": "7", "ANNEX_DOWNLOAD_POLL_INTERVAL": "250",
                                 "ANNEX_DATABASE_URL": "postgresql://u:pw@127.0.0.1:5432/annexd",
                                 "ANNEX_ENCODERS_TOKENS": "a-token-1, b-token-2"})
    assert cfg.database.max_connections == 7 and cfg.worker.poll_interval == 1000
    assert cfg.worker.download_poll_interval == 250
    assert cfg.database_url.startswith("postgresql://")
    assert cfg.encoders.tokens == ("a-token-1", "b-token-2")


def test_every_problem_is_listed_with_its_key(tmp_path):
    path = _write(tmp_path, """
[databse]
url = "x"
[http]
port = 99999
[worker]
poll_interval = "fast"
[[indexers]]
name = "one"
[[quality_profiles]]
name = "q"
allowed = ["1080p webdl"]
cutoff = "2160p remux"
""")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"ANNEX_WRITER_MAX_BATCH": "-1"})
    problems = "\n".join(err.value.problems)
    for needle in ("databse: unknown key (did you mean database?)", "http.port: 99999 is not a TCP port",
                   "worker.poll_interval: expected int", "indexers[0].url: required",
                   "quality_profiles[0]", "writer.max_batch: must be > 0"):
        assert needle in problems, needle


def test_list_sections_from_the_environment_as_json(tmp_path):
    env = {"ANNEX_INDEXERS": '[{"name": "a", "url": "http://127.0.0.1:9", "api_key": "env:IDX"}]'}
    cfg = load_config(None, env=env)
    assert cfg.indexers[0].name == "a" and cfg.indexers[0].api_key == "env:IDX"


def test_secrets_are_masked_in_the_description(tmp_path):
    path = _write(tmp_path, '[[indexers]]\nname = "a"\nurl = "http://127.0.0.1:9"\napi_key = "literal-s3cret"\n'
                            '[[download_clients]]\nname = "q"\npassword = "env:QBT_PW"\n')
    cfg = load_config(path, env={"ANNEX_API_KEY": "the-api-key-123"})
    text = dumps(describe(cfg))
    assert "literal-s3cret" not in text and "the-api-key-123" not in text
    assert "env:QBT_PW" in text  # a reference is not a secret: it says where the secret is
    assert {"literal-s3cret", "the-api-key-123"} <= set(secret_values(cfg))


def test_config_composes_client_settings_without_loading_the_clients() -> None:
    assert loaded_after_import("annexd.config", ("requests", "urllib3", "qbittorrentapi")) == []


def test_each_stage_has_its_retry_policy_and_a_partial_table_keeps_the_stage_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, "[encoders.retry]\nmax_attempts = 4\n"),
                      env={"ANNEX_DELIVERY_RETRY_CAP_SECONDS": "900"})
    assert (cfg.encoders.retry.max_attempts, cfg.encoders.retry.cap_seconds) == (4, 300.0)  # encode's own cap
    assert (cfg.delivery.retry.cap_seconds, cfg.delivery.retry.max_attempts) == (900.0, 5)
    assert cfg.search.retry.base_seconds == 6 * 3600 and cfg.notices == ()


def test_todays_retry_keys_keep_working_with_a_notice(tmp_path):
    text = ("[download]\nmax_attempts = 2\nretry_delays_minutes = [1.0, 4.0, 20.0]\n"
            "[delivery]\nretry_minutes = 2.0\n[encoders]\nmax_attempts = 9\n[encoders.retry]\nmax_attempts = 4\n")
    cfg = load_config(_write(tmp_path, text), env={"ANNEX_SEARCH_MAX_RETRY_HOURS": "12"})
    assert cfg.download.retry.max_attempts == 2
    assert (cfg.download.retry.base_seconds, cfg.download.retry.factor, cfg.download.retry.cap_seconds) == (
        60.0, 4.0, 1200.0)
    assert cfg.delivery.retry.base_seconds == 120.0 and cfg.search.retry.cap_seconds == 12 * 3600
    assert cfg.encoders.retry.max_attempts == 4  # the new table wins over the deprecated key
    notices = "\n".join(cfg.notices)
    assert "download.retry_delays_minutes is deprecated: read as [download.retry]" in notices
    assert "encoders.max_attempts is deprecated and ignored: [encoders.retry] is set" in notices
    assert len(cfg.notices) == 5


def test_bad_retry_parameters_are_listed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "[delivery.retry]\nfactor = 0.5\nmax_attempts = -1\n"), env={})
    assert "delivery.retry: factor must be >= 1" in str(err.value)
    assert "delivery.retry: max_attempts must be >= 0" in str(err.value)


# --- the one validation (check-config and run) ---------------------------------------------------------------

def _check(path, env, stored=()):
    """annexd.config_check with a fake store holding ``stored`` names (the real store is tested in test_cli)."""
    from annexd.config_check import check_config

    def store_check(cfg, wanted):
        return [f"{key}: {ref} is not in the secret store" for key, ref in wanted
                if ref.removeprefix("secret:") not in stored]

    return check_config(path, env, store_check)


ISSUE_CONFIG = """
[[indexers]]
name = "idx"
url = "notaurl"
api_key = "env:ANNEX_TEST_UNSET_VARIABLE"
[[download_clients]]
name = "qbt"
url = "ftp://x"
password = "file:/nonexistent/qbt-password"
[[media_servers]]
name = "plex"
kind = "plex"
url = "http://127.0.0.1:32400"
token = "secret:plex"
"""


def test_every_problem_of_the_config_and_what_it_points_at_is_listed_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        _check(_write(tmp_path, ISSUE_CONFIG), env={"ANNEX_STATE_DIR": str(tmp_path)})
    problems = "\n".join(err.value.problems)
    for needle in ("indexers[idx]: indexers.idx.url: 'notaurl' is not an http(s) URL",
                   "download_clients[qbt]: download_clients.qbt.url: 'ftp://x' is not an http(s) URL (scheme 'ftp')",
                   "indexers[idx].api_key: env:ANNEX_TEST_UNSET_VARIABLE: environment variable is not set",
                   "download_clients[qbt].password: file:/nonexistent/qbt-password: cannot be read",
                   "media_servers[plex].token: secret:plex is not in the secret store"):
        assert needle in problems, (needle, problems)
    assert len(err.value.problems) == 5, problems


def test_a_config_whose_references_resolve_passes(tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("qbt-password-1\n")
    text = ISSUE_CONFIG.replace("notaurl", "http://127.0.0.1:9696/1").replace("ftp://x", "http://127.0.0.1:8080")
    text = text.replace("/nonexistent/qbt-password", str(secret_file))
    cfg = _check(_write(tmp_path, text), {"ANNEX_TEST_UNSET_VARIABLE": "idx-key-123"}, stored={"plex"})
    assert [i.name for i in cfg.indexers] == ["idx"]


def test_key_files_must_be_readable_and_private(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("key material")
    key.chmod(0o644)
    text = f"""
[[targets]]
name = "nas"
protocol = "rsync"
host = "nas.lan"
user = "media"
key_file = "{key}"
tv_root = "/tv"
[[targets]]
name = "box"
protocol = "sftp"
host = "box.lan"
user = "media"
key_file = "{tmp_path}/missing_key"
tv_root = "/tv"
[[targets]]
name = "vault"
protocol = "sftp"
host = "vault.lan"
user = "media"
key_file = "secret:vault-ssh-key"
tv_root = "/tv"
"""
    with pytest.raises(ConfigError) as err:
        _check(_write(tmp_path, text), {})
    problems = "\n".join(err.value.problems)
    assert "targets[nas].key_file" in problems and "chmod 600" in problems
    assert f"targets[box].key_file: {tmp_path}/missing_key cannot be read" in problems
    assert "targets[vault].key_file: secret:vault-ssh-key is not in the secret store" in problems
    key.chmod(0o600)
    (tmp_path / "missing_key").write_text("k")
    (tmp_path / "missing_key").chmod(0o600)
    assert len(_check(_write(tmp_path, text), {}, stored={"vault-ssh-key"}).targets) == 3


DISABLED = """
[[indexers]]
name = "later"
enabled = false
url = "http://fill-in.invalid"
api_key = "secret:not-stored-yet"
[[download_clients]]
name = "usenet"
enabled = false
url = "http://127.0.0.1:6789"
password = "env:UNSET_FOR_A_DISABLED_CLIENT"
[[targets]]
name = "seedbox"
enabled = false
protocol = "rsync"
host = "seedbox.lan"
user = "me"
key_file = "/etc/annexd/keys/seedbox"
tv_root = "/tv"
media_server = "emby"
[[targets]]
name = "library"
tv_root = "/srv/tv"
[[media_servers]]
name = "emby"
kind = "emby"
enabled = false
url = "http://127.0.0.1:8096"
token = "secret:emby"
"""


def test_every_list_entry_takes_enabled_false_and_is_checked_but_not_started(tmp_path):
    cfg = _check(_write(tmp_path, DISABLED), {})
    assert cfg.indexers == () and cfg.download_clients == () and cfg.media_servers == ()
    assert [t.name for t in cfg.targets] == ["library"]
    assert sorted((section, e.name) for section, e in cfg.disabled) == [
        ("download_clients", "usenet"), ("indexers", "later"), ("media_servers", "emby"), ("targets", "seedbox")]
    assert "seedbox" in dumps(describe(cfg))
    # A disabled entry's own settings are still checked; so is the switch itself.
    bad = DISABLED.replace('url = "http://127.0.0.1:6789"', 'url = "ftp://x"').replace(
        'name = "later"\nenabled = false', 'name = "later"\nenabled = "no"')
    with pytest.raises(ConfigError) as err:
        _check(_write(tmp_path, bad), {})
    problems = "\n".join(err.value.problems)
    assert "download_clients.usenet.url: 'ftp://x' is not an http(s) URL" in problems
    assert "indexers[0].enabled: expected bool, got str 'no'" in problems
    # An enabled target may not point at a disabled media server.
    with pytest.raises(ConfigError, match="no enabled media server named 'emby'"):
        _check(_write(tmp_path, DISABLED.replace('name = "seedbox"\nenabled = false', 'name = "seedbox"')), {})


def test_encoder_agents_path_maps(tmp_path):
    text = '[[encoders.agents]]\nid = "gpu"\npath_map = [["/srv/media", "/mnt/media"], ["/var/lib/annexd", "/state"]]\n'
    cfg = load_config(_write(tmp_path, text), env={})
    assert cfg.encoders.agents[0].path_map == (("/srv/media", "/mnt/media"), ("/var/lib/annexd", "/state"))
    with pytest.raises(ConfigError, match=r"encoders.agents\[gpu\].path_map: \['relative', '/x'\]"):
        load_config(_write(tmp_path, text.replace('"/srv/media", "/mnt/media"', '"relative", "/x"')), env={})


def test_the_example_config_is_complete_valid_and_uses_the_commands_defaults():
    """etc/annexd.toml names every key (commented or not), loads as it is, and keeps the database where the
    `annexd` command looks without --config: `make run` (which uses the file) and the CLI share one database."""
    import dataclasses
    import re
    from pathlib import Path

    from annexd.config import _LEGACY_RETRY_KEYS, Config

    example = Path(__file__).resolve().parents[1] / "etc" / "annexd.toml"
    text = example.read_text()
    missing = []
    for f in dataclasses.fields(Config):
        section = getattr(Config(), f.name)
        if f.metadata.get("internal") or not dataclasses.is_dataclass(section):
            continue
        missing += [f"{f.name}.{g.name}" for g in dataclasses.fields(section)
                    if (f.name, g.name) not in _LEGACY_RETRY_KEYS  # deprecated: named in a comment only
                    and not re.search(rf"^#? ?({g.name} =|\[\[?{f.name}\.{g.name}\]\]?)", text, re.M)]
    assert not missing, missing
    for env in ({}, {"XDG_STATE_HOME": "/srv/state"}, {"ANNEX_STATE_DIR": "/var/lib/annexd"}):
        assert load_config(example, env=env).database_url == load_config(None, env=env).database_url
    assert load_config(None, env={"XDG_STATE_HOME": "/srv/state"}).state_path == Path("/srv/state/annexd")


def test_the_api_key_is_a_reference_checked_like_the_others(tmp_path):
    with pytest.raises(ConfigError, match=r"http.api_key: env:ANNEX_TEST_NO_SUCH_KEY: environment variable is not set"):
        _check(None, {"ANNEX_API_KEY": "env:ANNEX_TEST_NO_SUCH_KEY"})
    assert _check(None, {"ANNEX_API_KEY": "a-literal-key-is-fine-too"}).http.api_key == "a-literal-key-is-fine-too"
