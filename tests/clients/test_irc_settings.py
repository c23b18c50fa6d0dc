"""[announce] and [[irc]]: networks completed from their definitions and checked by the one config validation
(check-config and run), every problem named with its key; the settings are secrets in every description."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from annexd.config import describe, dumps, load_config, secret_values
from annexd.errors import ConfigError
from tests.domain.announce.corpus import CORPUS
from tests.util import loaded_after_import


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    folder = tmp_path / "definitions"
    folder.mkdir()
    for name in ("btn.yaml", "iptorrents.yaml"):  # copied for the test's run only, never into the repository
        shutil.copy(CORPUS / name, folder / name)
    return folder


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "annexd.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    return "\n".join(err.value.problems)


BTN = """
[announce]
definitions_dir = "{dir}"

[[irc]]
name = "btn"
definition = "btn"
nick = "annexd_bot"
password = "secret:btn_nickserv"
settings = {{ authkey = "secret:btn_authkey", torrent_pass = "literal-pass-0123" }}
"""


def test_a_network_takes_what_it_leaves_out_from_its_definition(tmp_path: Path, definitions: Path) -> None:
    cfg = load_config(config(tmp_path, BTN.format(dir=definitions)), env={})
    [btn] = cfg.irc
    assert (btn.server, btn.port, btn.tls, btn.channels) == ("irc.broadcasthe.net", 6697, True, ("#BTN-Announce",))
    assert btn.settings == {"authkey": "secret:btn_authkey", "torrent_pass": "literal-pass-0123"}
    shown = dumps(describe(cfg))
    assert "literal-pass-0123" not in shown and "secret:btn_authkey" in shown  # a reference says where, not what
    assert "literal-pass-0123" in secret_values(cfg)  # masked in the logs too


def test_the_person_overrides_server_port_tls_and_channels(tmp_path: Path, definitions: Path) -> None:
    text = BTN.format(dir=definitions) + 'server = "127.0.0.1"\nport = 6667\ntls = false\nchannels = ["#test"]\n'
    [btn] = load_config(config(tmp_path, text), env={}).irc
    assert (btn.server, btn.port, btn.tls, btn.channels) == ("127.0.0.1", 6667, False, ("#test",))


def test_every_problem_of_a_network_is_named(tmp_path: Path, definitions: Path) -> None:
    text = BTN.format(dir=definitions).replace('torrent_pass = "literal-pass-0123"', 'torrentpass = "x"') + """
port = 70000
keepalive = 1

[[irc]]
name = "ipt"
definition = "iptorrents"
nick = "bot"
"""
    found = problems(config(tmp_path, text))
    for needle in ("irc[btn].port: 70000 is not a TCP port",
                   "irc[btn].settings.torrentpass: btn has no such setting (its settings: authkey, torrent_pass, "
                   "api_key)",
                   "irc[btn].settings: btn's download links need torrent_pass",
                   "irc[btn].keepalive: must be at least 10 seconds",
                   "irc[ipt].definition: no definition 'iptorrents' in", "(found: btn, ipt)"):
        assert needle in found, needle


def test_a_definition_that_fails_to_load_is_a_config_error_naming_it(tmp_path: Path, definitions: Path) -> None:
    (definitions / "broken.yml").write_text("identifier: broken\nirc:\n  parse:\n    lines:\n"
                                            "      - pattern: '(?<!x)y'\n        vars: [torrentName]\n")
    (definitions / "notes.txt").write_text("not a definition: ignored, as by autobrr")
    found = problems(config(tmp_path, BTN.format(dir=definitions)))
    assert "announce.definitions_dir: definition " in found and "broken.yml: lines[0]" in found
    assert "notes.txt" not in found


def test_the_definitions_folder_is_required_and_must_exist(tmp_path: Path, definitions: Path) -> None:
    no_dir = BTN.format(dir=definitions).replace(f'[announce]\ndefinitions_dir = "{definitions}"\n', "")
    assert "announce.definitions_dir: required when [[irc]] networks are configured" in problems(
        config(tmp_path, no_dir))
    missing = problems(config(tmp_path, BTN.format(dir=tmp_path / "nowhere")))
    assert f"announce.definitions_dir: {tmp_path / 'nowhere'} is not a directory" in missing
    assert "irc[btn].definition" not in missing  # one problem, not one per network


def test_a_disabled_network_is_checked_and_kept(tmp_path: Path, definitions: Path) -> None:
    cfg = load_config(config(tmp_path, BTN.format(dir=definitions) + "enabled = false\n"), env={})
    assert cfg.irc == () and [(section, n.name) for section, n in cfg.disabled] == [("irc", "btn")]


def test_config_builds_irc_settings_without_loading_the_irc_library() -> None:
    assert loaded_after_import("annexd.config", ("irc", "irc.client", "jaraco.stream")) == []
