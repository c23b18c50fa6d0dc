"""Named exit codes of the `annexd` command (documented in the README)."""

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1          # an unexpected error
    USAGE = 2            # bad command line (argparse's own code)
    CONFIG = 3           # the configuration is invalid; every problem was listed
    PENDING_MIGRATIONS = 4  # run `annexd migrate` first
    DATABASE_UNAVAILABLE = 5
    SUPERVISOR_GAVE_UP = 6  # a worker kept failing past its restart budget; let systemd restart us
    NOT_FOUND = 7        # `request show/cancel` of an unknown id
    HTTP_PORT_UNAVAILABLE = 8  # `run`: the HTTP address cannot be bound (the port is taken); restarting cannot help
    LEGACY_DATABASE = 9  # import-annex: the legacy database is unreachable or not an Annex database
    LEGACY_KEY = 10      # import-annex: the key file is unreadable, not 32 bytes, or decrypts no legacy secret
    ANNOUNCE_TESTS_FAILED = 11  # `announce test`: a definition's embedded test line did not give its expected vars
    QUOTA_EXCEEDED = 12  # `request add` as a requester past its quota (the reset time is printed)
    FORBIDDEN = 13       # the CLI's --user may not do this (a requester approving), or is disabled
    FORCED_EXIT = 130    # a second SIGTERM/SIGINT during shutdown
