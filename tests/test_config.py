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
