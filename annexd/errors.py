"""The one exception tree of annexd. Expected errors are handled where they happen; the rest reach the supervisor."""

from datetime import datetime


class AnnexdError(Exception):
    """Base of every error annexd raises on purpose."""


class ConfigError(AnnexdError):
    """The configuration is invalid; ``problems`` lists every problem, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class StoreError(AnnexdError):
    """The database cannot be used (unreachable, pending migrations, ...)."""


class PendingMigrationsError(StoreError):
    def __init__(self, pending: list[str]):
        self.pending = pending
        super().__init__(f"{len(pending)} pending migration(s): {', '.join(pending)}; run `annexd migrate`")


class MissingDatabaseError(PendingMigrationsError):
    """The SQLite database file does not exist yet: every migration is pending (and nothing was created)."""

    def __init__(self, path: str, pending: list[str]):
        StoreError.__init__(self, f"the database {path} does not exist yet: {len(pending)} pending migration(s): "
                            f"{', '.join(pending)}; run `annexd migrate`")
        self.pending = pending
        self.path = path


class TransitionError(AnnexdError):
    """A status change that the pipeline's transition table does not allow."""


class ProviderError(AnnexdError):
    """An external service (indexer, download client, encoder, media server, target) failed."""

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None):
        self.provider = provider
        self.retry_after = retry_after
        super().__init__(f"{provider}: {message}")


class NotYetError(AnnexdError):
    """Not a failure: a provider may not be called again before a deadline (an indexer's rate limit). The caller
    postpones the work and comes back in ``retry_in`` seconds instead of sleeping in its thread."""

    def __init__(self, provider: str, retry_in: float):
        self.provider = provider
        self.retry_in = retry_in
        super().__init__(f"{provider}: rate limited for {retry_in:.2f} s more")


class PermanentProviderError(ProviderError):
    """A provider answered in a way retrying cannot change (refused credentials, a destination conflict): the
    retry policy (annexd.domain.retry.classify) gives up at once."""


class ProviderAuthError(PermanentProviderError):
    """Credentials were refused; retrying would not help (and may get us banned)."""


class TorrentNotFoundError(ProviderError):
    """The download client does not list this torrent (removed behind annexd's back)."""


class InvalidInputError(AnnexdError):
    """Untrusted input (feed, torrent, XML, path, agent message) was rejected."""


class UnsafePathError(InvalidInputError):
    """A path from a torrent, an agent or a name template would escape its root."""


class NotFoundError(AnnexdError):
    """No request or item has this id (HTTP 404, exit code 7 in the CLI)."""


class StateConflictError(AnnexdError):
    """The row is not in a status that allows this, or it changed meanwhile: reload and try again (HTTP 409)."""


class ForbiddenError(AnnexdError):
    """The caller is known but may not do this (a requester approving: HTTP 403)."""


class QuotaExceededError(AnnexdError):
    """A requester's quota is used up (HTTP 429 with Retry-After); ``resets_at`` is when the request would fit."""

    def __init__(self, message: str, resets_at: datetime | None):
        self.resets_at = resets_at
        super().__init__(message)
