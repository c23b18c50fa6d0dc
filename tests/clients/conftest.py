"""Fixtures of the client tests: the real IRC network (InspIRCd + Anope)."""

from tests.servers.ircd import irc_network, irc_network_server  # noqa: F401 - fixtures
