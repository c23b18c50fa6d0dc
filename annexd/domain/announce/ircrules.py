"""The rules an IRC announce client follows, apart from the socket. Pure.

Which lines are announces (configured channel and announcer nick, case ignored), how an autobrr invite
command becomes messages, and which server replies are fatal: retrying them would not help and may get the
account banned (a wrong server, SASL or NickServ password; a ban from the server or the announce channel).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Numerics: 464 ERR_PASSWDMISMATCH, 465 ERR_YOUREBANNEDCREEP, 466 ERR_YOUWILLBEBANNED, 474 ERR_BANNEDFROMCHAN,
# 902 ERR_NICKLOCKED, 904 ERR_SASLFAIL.
FATAL_NUMERICS = {
    "464": "the server refused the password",
    "465": "banned from the server",
    "466": "banned from the server",
    "474": "banned from channel",
    "902": "the account is locked",
    "904": "SASL authentication failed (wrong account or password)",
}
_BANNED_ERROR = re.compile(r"\b(?:banned|[kgzd]-?lined?|akill)\b", re.IGNORECASE)
_NICKSERV_BAD_PASSWORD = re.compile(r"\b(?:invalid|incorrect|wrong|bad)\b.*\bpassword\b|\bpassword\b.*\b(?:"
                                    r"invalid|incorrect|wrong)\b", re.IGNORECASE)
_NICKSERV_ACCEPTED = re.compile(r"password accepted|you are now (?:identified|logged in)", re.IGNORECASE)


def accepts(channel: str, nick: str, channels: Iterable[str], announcers: Iterable[str]) -> bool:
    """A line counts only from a configured channel and an announcer's nick (both ignoring case)."""
    return channel.lower() in {c.lower() for c in channels} and nick.lower() in {a.lower() for a in announcers}


def invite_messages(command: str) -> list[tuple[str, str]]:
    """autobrr's invite command (``"Bot invite KEY"``, ``/msg`` optional, several separated by ``,``) as
    (target, text) private messages."""
    out = []
    for part in command.replace("/msg", "").split(","):
        words = part.strip().split(" ", 1)
        if len(words) == 2 and words[0] and words[1].strip():
            out.append((words[0], words[1].strip()))
    return out


def fatal_numeric(numeric: str, arguments: Sequence[str]) -> str | None:
    reason = FATAL_NUMERICS.get(numeric)
    if reason is None:
        return None
    detail = " ".join(a for a in arguments if a)
    return f"{reason} ({numeric}: {detail})" if detail else f"{reason} ({numeric})"


def fatal_error_message(message: str) -> str | None:
    """An ERROR line before the server closes the link: fatal when it says we are banned."""
    return f"banned from the server: {message}" if _BANNED_ERROR.search(message) else None


def nickserv_verdict(notice: str) -> bool | None:
    """True when NickServ accepted our password, False when it refused it, None for anything else."""
    if _NICKSERV_ACCEPTED.search(notice):
        return True
    if _NICKSERV_BAD_PASSWORD.search(notice):
        return False
    return None
