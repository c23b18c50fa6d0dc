"""The daemon's signal handling, in process: a second SIGTERM exits at once, a duplicate of the first does not."""

import signal
import threading

from annexd.exitcodes import ExitCode


def test_a_second_sigterm_exits_at_once_but_a_simultaneous_duplicate_does_not(monkeypatch, tmp_path):
    from annexd import daemon as daemon_module
    from annexd.config import load_config

    cfg = load_config(env={"ANNEX_STATE_DIR": str(tmp_path)})
    d = daemon_module.Daemon.__new__(daemon_module.Daemon)
    d.cfg, d.exit_code, d._first_signal_at = cfg, ExitCode.OK, None
    d.stop_requested = threading.Event()
    clock = iter([100.0, 100.1, 101.0])
    monkeypatch.setattr(daemon_module.time, "monotonic", lambda: next(clock))
    exits = []
    monkeypatch.setattr(daemon_module.os, "_exit", exits.append)
    d._on_term(signal.SIGTERM, None)
    assert d.stop_requested.is_set() and not exits
    d._on_term(signal.SIGTERM, None)  # 0.1 s later: the same stop request forwarded by a parent
    assert not exits
    d._on_term(signal.SIGTERM, None)  # a deliberate second SIGTERM
    assert exits == [ExitCode.FORCED_EXIT]
