"""Which IRC lines count, invite commands, and which replies are fatal."""

from __future__ import annotations

import pytest

from annexd.domain.announce import ircrules


def test_only_configured_channels_and_announcers_ignoring_case() -> None:
    assert ircrules.accepts("#btn-announce", "BARNEY", ["#BTN-Announce"], ["Barney"])
    assert not ircrules.accepts("#other", "Barney", ["#BTN-Announce"], ["Barney"])
    assert not ircrules.accepts("#BTN-Announce", "Mallory", ["#BTN-Announce"], ["Barney"])


def test_invite_commands() -> None:
    assert ircrules.invite_messages("Satsuki enter #announce me KEY") == [("Satsuki", "enter #announce me KEY")]
    assert ircrules.invite_messages("/msg A invite x, B invite y,") == [("A", "invite x"), ("B", "invite y")]
    assert ircrules.invite_messages("") == []


@pytest.mark.parametrize(("numeric", "fragment"), [("464", "password"), ("465", "banned"), ("474", "channel"),
                                                   ("904", "SASL")])
def test_fatal_numerics(numeric: str, fragment: str) -> None:
    reason = ircrules.fatal_numeric(numeric, ["nick", "reason text"])
    assert reason is not None and fragment in reason and "reason text" in reason
    assert ircrules.fatal_numeric("433", ["nick"]) is None


def test_error_lines_and_nickserv_notices() -> None:
    assert ircrules.fatal_error_message("Closing link: (K-Lined: spam)") is not None
    assert ircrules.fatal_error_message("Closing link: (Ping timeout: 120 seconds)") is None
    assert ircrules.nickserv_verdict("Password incorrect.") is False
    assert ircrules.nickserv_verdict("Invalid password for annex.") is False
    assert ircrules.nickserv_verdict("Password accepted - you are now recognized.") is True
    assert ircrules.nickserv_verdict("This nickname is registered.") is None
