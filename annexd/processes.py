"""Process helpers shared by the daemon, the encoder agent and the tests (not pure: processes and signals)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn``: in the forked child, ask Linux to send ``sig`` when the thread that started it dies,
    even by SIGKILL, so no child outlives its parent (an agent its daemon, ffmpeg its agent). If the parent
    already died before the request took effect, the child exits at once."""
    parent = os.getpid()

    def arm() -> None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, sig)
        except (OSError, AttributeError):
            return  # not Linux: the parent's own clean-up (process groups, closed pipes) is all there is
        if os.getppid() != parent:
            os._exit(1)

    return arm


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal check above is all we know
