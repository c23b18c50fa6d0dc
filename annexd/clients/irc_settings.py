"""IRC announce settings (``[announce]`` and ``[[irc]]``), apart from the client so ``annexd.config`` builds and
checks them without importing the IRC library. Not pure: checking them reads the definitions folder.

An ``[[irc]]`` entry is one IRC network read with one autobrr definition (by its ``identifier``, from
``[announce] definitions_dir``). What the person leaves out comes from the definition: the server, port and TLS,
the channels; the announcer nicks always do. ``settings`` are the definition's own settings (passkeys and the
like), each a secret reference; they are put into download links only when a release is grabbed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from annexd.domain.announce.definition import Definition, load_folder

LINK_TEMPLATES = ("torrenturl", "magneturi")


@dataclass(frozen=True)
class AnnounceConfig:
    # A folder of autobrr definition files (.yaml/.yml); every file in it must load.
    definitions_dir: str = ""


@dataclass(frozen=True)
class IrcSettings:
    """One IRC network for one definition. Passwords and the definition's settings are secret references
    (``secret:NAME``, ``env:VAR``, ``file:/path`` or a literal); ``server``, ``port``, ``tls`` and ``channels``
    default to the definition's."""

    name: str
    nick: str
    definition: str  # the definition's identifier
    server: str = ""
    port: int = 0
    tls: bool | None = None
    tls_verify: bool = True
    tls_ca_file: str = ""
    channels: tuple[str, ...] = ()
    username: str = ""
    account: str = ""  # NickServ / SASL account; default: the nick
    password: str = field(default="", repr=False, metadata={"secret": True})  # NickServ or SASL password
    sasl: bool = False  # SASL PLAIN instead of a message to NickServ
    server_password: str = field(default="", repr=False, metadata={"secret": True})  # PASS
    invite_command: str = field(default="", repr=False, metadata={"secret": True})  # "Bot invite USER KEY"
    # The definition's settings (authkey, torrent_pass, passkey...): secret references by setting name.
    settings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False,
                                        metadata={"secret": True})
    base_url: str = ""  # default: the definition's first URL
    keepalive: float = 60.0


def with_definition_defaults(network: IrcSettings, definition: Definition) -> IrcSettings:
    """The entry with what it leaves out taken from its definition."""
    irc = definition.irc
    return replace(network, server=network.server or irc.server, port=network.port or irc.port or 6667,
                   tls=irc.tls if network.tls is None else network.tls, channels=network.channels or irc.channels)


def _problems(network: IrcSettings, definition: Definition) -> list[str]:
    problems = []
    if not network.server:
        problems.append("server: required (the definition names no server)")
    if not 0 < network.port <= 65535:
        problems.append(f"port: {network.port} is not a TCP port")
    if not network.channels:
        problems.append("channels: required (the definition names no channel)")
    if not definition.irc.announcers:
        problems.append(f"definition: {definition.identifier} names no announcer, so no line would be read")
    if not any(key in definition.match.templates for key in LINK_TEMPLATES):
        problems.append(f"definition: {definition.identifier} builds no download link (match.torrenturl)")
    known = set(definition.setting_names)
    problems += [f"settings.{name}: {definition.identifier} has no such setting (its settings: "
                 f"{', '.join(definition.setting_names) or 'none'})" for name in sorted(set(network.settings) - known)]
    needed = {f for key in LINK_TEMPLATES if key in definition.match.templates
              for f in definition.match.templates[key].fields()} & known
    missing = sorted(n for n in needed if not network.settings.get(n))
    if missing:
        problems.append(f"settings: {definition.identifier}'s download links need {', '.join(missing)}")
    if network.keepalive < 10:
        problems.append("keepalive: must be at least 10 seconds")
    return problems


def load_definitions(announce: AnnounceConfig, networks: Sequence[IrcSettings]
                     ) -> tuple[dict[str, Definition], list[str]]:
    """The definitions in ``definitions_dir`` by identifier, and every problem: a file that cannot be loaded
    (named, with the reason), a missing folder."""
    if not announce.definitions_dir:
        return {}, (["announce.definitions_dir: required when [[irc]] networks are configured"] if networks else [])
    folder = Path(announce.definitions_dir).expanduser()
    if not folder.is_dir():
        return {}, [f"announce.definitions_dir: {folder} is not a directory"]
    found, errors = load_folder(folder)
    return found, [f"announce.definitions_dir: definition {exc}" for exc in errors]


def complete_networks(announce: AnnounceConfig, networks: Sequence[IrcSettings]
                      ) -> tuple[tuple[IrcSettings, ...], list[str]]:
    """Each ``[[irc]]`` entry completed from its definition, and every problem with the key it concerns."""
    definitions, problems = load_definitions(announce, networks)
    completed = []
    for network in networks:
        definition = definitions.get(network.definition)
        if definition is None:
            if definitions or not problems:
                problems.append(f"irc[{network.name}].definition: no definition {network.definition!r} in "
                                f"{announce.definitions_dir} (found: {', '.join(sorted(definitions)) or 'none'})")
            completed.append(network)
            continue
        network = with_definition_defaults(network, definition)
        problems += [f"irc[{network.name}].{p}" for p in _problems(network, definition)]
        completed.append(network)
    return tuple(completed), problems
