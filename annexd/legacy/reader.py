"""Read a legacy Annex PostgreSQL database (I/O: the only module that talks to it).

One connection, one read-only REPEATABLE READ transaction for everything read (Annex may still be running; a
consistent snapshot, and the legacy database is never written). The shape (``dual``: TvEpisode and
ProcessingItem; ``later``: no TvEpisode) is detected from the catalog, as is "not an Annex database" (a table
or column the importer needs is missing). Work rows stream through a server-side cursor in batches, ordered
for :func:`annexd.legacy.plan.plan_items`.

The DSN is a libpq URL or connection string; a password may also come from ``PGPASSWORD`` or ``~/.pgpass``
(libpq reads both). The password never appears in an error message: :func:`display_dsn` shows the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Literal

import psycopg2
import psycopg2.extensions
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

from annexd.errors import AnnexdError
from annexd.legacy.rows import (
    LegacyDownload,
    LegacyDownloadClient,
    LegacyIndexer,
    LegacyRequest,
    LegacySettings,
    LegacyStorageServer,
    LegacyWorkRow,
)
from annexd.redaction import MASK, redact_url

Shape = Literal["dual", "later"]

# Tables and columns the importer reads; a database lacking one is not an Annex database it can import.
REQUIRED: dict[str, tuple[str, ...]] = {
    "MediaRequest": ("id", "type", "tmdbId", "title", "year", "requestedSeasons", "targets", "userId", "createdAt"),
    "ProcessingItem": ("id", "requestId", "type", "season", "episode", "title", "status", "currentStep",
                       "stepContext", "lastError", "nextRetryAt", "downloadId", "sourceFilePath", "airDate",
                       "downloadedAt", "encodedAt", "deliveredAt", "createdAt", "updatedAt", "qualityMet",
                       "availableReleases"),
    "Download": ("id", "torrentHash", "torrentName", "savePath", "contentPath", "status", "isSeasonPack",
                 "season", "size"),
    "User": ("id", "username"),
}
TV_EPISODE: tuple[str, ...] = ("id", "requestId", "season", "episode", "title", "airDate", "downloadId",
                               "sourceFilePath", "status", "error", "downloadedAt", "encodedAt", "deliveredAt",
                               "createdAt", "updatedAt", "availableReleases", "qualityMet")

# The title a request is for: kind + TMDB id, else kind + lower-cased title + year.
_GROUP_KEY = """CASE WHEN r."tmdbId" IS NOT NULL THEN r.type::text || ':tmdb:' || r."tmdbId"::text
    ELSE r.type::text || ':title:' || lower(r.title) || ':' || coalesce(r.year::text, '') END"""

_DOWNLOAD_COLUMNS = ('id', 'torrentHash', 'torrentName', 'savePath', 'contentPath', 'status', 'isSeasonPack',
                     'season', 'size', 'createdAt')


class LegacyDatabaseError(AnnexdError):
    """The legacy database cannot be imported (exit code 9)."""


class LegacyUnavailableError(LegacyDatabaseError):
    """Unreachable, refused the login, or failed while being read."""


class NotAnnexDatabaseError(LegacyDatabaseError):
    """Reachable, but lacks tables or columns an Annex database has."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__("not an Annex database: missing " + ", ".join(missing))


def display_dsn(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "(an invalid connection string)"
    params.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def _scrub(text: str, dsn: str) -> str:
    """An error text with the DSN's password (if any) masked."""
    try:
        password = psycopg2.extensions.parse_dsn(dsn).get("password")
    except psycopg2.ProgrammingError:
        password = None
    if password:
        text = text.replace(password, MASK)
    return redact_url(text).strip()


class LegacyReader:
    """A consistent read of one legacy database. Use as a context manager; the transaction ends on close."""

    def __init__(self, dsn: str, *, batch_size: int = 5000, connect_timeout: int = 10, snapshot: str | None = None):
        """``snapshot``: read in the snapshot another reader exported (:meth:`export_snapshot`), so several
        processes read one consistent state."""
        self.batch_size = batch_size
        self._dsn = dsn
        try:
            self._conn = psycopg2.connect(dsn, connect_timeout=connect_timeout,
                                          application_name="annexd import-annex")
        except (psycopg2.Error, UnicodeError) as exc:
            raise LegacyUnavailableError(f"cannot connect to the legacy database ({display_dsn(dsn)}): "
                                         f"{_scrub(str(exc), dsn)}") from None
        self._conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        self._cursors = 0
        try:
            if snapshot is not None:
                self._query("SET TRANSACTION SNAPSHOT %(id)s", {"id": snapshot}, rows=False)
            self.columns = self._catalog()
            self.shape: Shape = "dual" if "TvEpisode" in self.columns else "later"
            self._check()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"LegacyReader({display_dsn(self._dsn)!r})"

    def __enter__(self) -> LegacyReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """End the read-only transaction (a rollback: nothing was written) and the connection."""
        if not self._conn.closed:
            self._conn.rollback()
            self._conn.close()

    # --- catalog -------------------------------------------------------------------------------------------
    def _catalog(self) -> dict[str, frozenset[str]]:
        rows = self._query("""
            SELECT c.relname, a.attname FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p', 'v') AND pg_catalog.pg_table_is_visible(c.oid)""")
        tables: dict[str, set[str]] = {}
        for table, column in rows:
            tables.setdefault(table, set()).add(column)
        return {t: frozenset(c) for t, c in tables.items()}

    def _check(self) -> None:
        wanted = dict(REQUIRED, **({"TvEpisode": TV_EPISODE} if self.shape == "dual" else {}))
        missing = [f'"{t}"' if t not in self.columns else f'"{t}"."{c}"'
                   for t, cols in wanted.items() for c in (cols if t in self.columns else cols[:1])
                   if t not in self.columns or c not in self.columns[t]]
        if missing:
            raise NotAnnexDatabaseError(missing)

    def has(self, table: str, *columns: str) -> bool:
        return table in self.columns and all(c in self.columns[table] for c in columns)

    # --- queries -------------------------------------------------------------------------------------------
    def _query(self, sql: str, params: Mapping[str, Any] | None = None, rows: bool = True
               ) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if rows else []
        except psycopg2.Error as exc:
            raise LegacyUnavailableError(f"reading the legacy database failed: {_scrub(str(exc), self._dsn)}") \
                from None

    def _stream(self, sql: str, params: Mapping[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` through a server-side cursor, ``batch_size`` at a time."""
        self._cursors += 1
        try:
            with self._conn.cursor(name=f"annexd_import_{self._cursors}") as cur:
                cur.itersize = self.batch_size
                cur.execute(sql, params)
                while batch := cur.fetchmany(self.batch_size):
                    yield from batch
        except psycopg2.Error as exc:
            raise LegacyUnavailableError(f"reading the legacy database failed: {_scrub(str(exc), self._dsn)}") \
                from None

    def requests(self) -> Iterator[LegacyRequest]:
        targets = ('rt.server_ids' if self.has("RequestTarget", "requestId", "serverId", "order")
                   else 'NULL::text[]')
        join = ("""LEFT JOIN (SELECT "requestId", array_agg("serverId" ORDER BY "order", id) AS server_ids
                   FROM "RequestTarget" GROUP BY "requestId") rt ON rt."requestId" = r.id"""
                if targets != 'NULL::text[]' else "")
        pending = ("""EXISTS (SELECT 1 FROM "ApprovalQueue" aq WHERE aq."requestId" = r.id
                      AND aq.status::text = 'PENDING')""" if self.has("ApprovalQueue", "requestId", "status")
                   else "false")
        sql = f"""SELECT r.id, {_GROUP_KEY}, r.type::text, r."tmdbId", r.title, r.year, r."requestedSeasons",
                         r.targets, {targets}, u.username, r."createdAt", {pending}
                  FROM "MediaRequest" r LEFT JOIN "User" u ON u.id = r."userId" {join}
                  ORDER BY r."createdAt", r.id"""
        for row in self._stream(sql):
            yield LegacyRequest(
                id=row[0], group_key=row[1], media_type=row[2], tmdb_id=row[3], title=row[4] or "",
                year=row[5], requested_seasons=tuple(row[6]) if row[6] is not None else None,
                server_ids=tuple(dict.fromkeys([*_server_ids(row[7]), *(row[8] or ())])), username=row[9],
                created_at=row[10], pending_approval=bool(row[11]))

    def work_row_count(self) -> int:
        """How many work rows :meth:`work_rows` will yield (ProcessingItems and TvEpisodes), for a progress bar."""
        tables = ["ProcessingItem", *(["TvEpisode"] if self.shape == "dual" else [])]
        return sum(int(self._query(f'SELECT count(*) FROM "{t}"')[0][0]) for t in tables)

    def export_snapshot(self) -> str:
        """This reader's snapshot, for readers in other processes (valid while this reader is open)."""
        return str(self._query("SELECT pg_export_snapshot()")[0][0])

    def work_rows(self, keys: tuple[str | None, str | None] = (None, None)) -> Iterator[LegacyWorkRow]:
        """Every ProcessingItem (and TvEpisode) with its linked Downloads, ordered by (title, season, episode);
        ``keys``: only titles whose group key is in [first, second) (None: unbounded), by byte order."""
        for row in self._stream(self._work_sql(*keys), {"lo": keys[0], "hi": keys[1]}):
            yield _work_row(row)

    def _work_sql(self, lo: str | None = None, hi: str | None = None) -> str:
        episodes = """
            UNION ALL
            SELECT 'TvEpisode', te.id, te."requestId", req.gkey, 'EPISODE', te.season, te.episode, te.title,
                   te.status::text, NULL, NULL, te.error, NULL, te."sourceFilePath", te."airDate",
                   te."downloadedAt", te."encodedAt", te."deliveredAt", te."createdAt", te."updatedAt",
                   te."qualityMet", te."availableReleases", te."downloadId", NULL
            FROM "TvEpisode" te JOIN req ON req.id = te."requestId" """ if self.shape == "dual" else ""
        d1 = ", ".join(f'd1."{c}"' for c in _DOWNLOAD_COLUMNS)
        d2 = ", ".join(f'd2."{c}"' for c in _DOWNLOAD_COLUMNS)
        return f"""
            WITH req AS (SELECT r.id, r.type::text AS media_type, {_GROUP_KEY} AS gkey FROM "MediaRequest" r),
            work AS (
                SELECT 'ProcessingItem' AS source, pi.id, pi."requestId", req.gkey, pi.type::text,
                       CASE WHEN req.media_type = 'MOVIE' THEN 0 ELSE coalesce(pi.season, 0) END AS season,
                       CASE WHEN req.media_type = 'MOVIE' THEN 0 ELSE coalesce(pi.episode, 0) END AS episode,
                       pi.title, pi.status::text, pi."currentStep", pi."stepContext", pi."lastError",
                       pi."nextRetryAt", pi."sourceFilePath", pi."airDate", pi."downloadedAt", pi."encodedAt",
                       pi."deliveredAt", pi."createdAt", pi."updatedAt", pi."qualityMet", pi."availableReleases",
                       pi."downloadId", pi."stepContext" -> 'download' ->> 'torrentHash' AS context_hash
                FROM "ProcessingItem" pi JOIN req ON req.id = pi."requestId"
                {episodes})
            SELECT work.*, {d1}, {d2}
            FROM work
            LEFT JOIN "Download" d1 ON d1.id = work."downloadId"
            LEFT JOIN (SELECT DISTINCT ON (lower("torrentHash")) lower("torrentHash") AS lhash, *
                       FROM "Download" ORDER BY lower("torrentHash"), id) d2
                   ON d2.lhash = lower(work.context_hash) AND d2.id IS DISTINCT FROM work."downloadId"
            WHERE {'work.gkey COLLATE "C" >= %(lo)s' if lo is not None else 'true'}
              AND {'work.gkey COLLATE "C" < %(hi)s' if hi is not None else 'true'}
            ORDER BY work.gkey COLLATE "C", work.season, work.episode"""

    def storage_servers(self) -> list[LegacyStorageServer]:
        if not self.has("StorageServer", "id", "name", "protocol"):
            return []
        rows = self._query("""
            SELECT id, name, host, port, protocol::text, username, "encryptedPassword", "encryptedPrivateKey",
                   "pathMovies", "pathTv", "maxResolution"::text, "preferredCodec"::text,
                   "mediaServerType"::text, "mediaServerUrl", "mediaServerApiKey", enabled
            FROM "StorageServer" ORDER BY name, id""")
        return [LegacyStorageServer(*row) for row in rows]

    def indexers(self) -> list[LegacyIndexer]:
        if not self.has("Indexer", "id", "name", "type", "url"):
            return []
        rows = self._query("""
            SELECT id, name, type::text, url, "apiKey", "categoriesMovies", "categoriesTv", priority, enabled
            FROM "Indexer" ORDER BY priority, name, id""")
        return [LegacyIndexer(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), tuple(r[6] or ()), r[7] or 0,
                              bool(r[8])) for r in rows]

    def download_clients(self) -> list[LegacyDownloadClient]:
        if not self.has("download_clients", "id", "name", "type", "url"):
            return []
        rows = self._query("""SELECT id, name, type::text, url, username, priority, enabled
                              FROM download_clients ORDER BY priority, name, id""")
        return [LegacyDownloadClient(r[0], r[1], r[2], r[3], r[4], r[5] or 0, bool(r[6])) for r in rows]

    def settings(self) -> LegacySettings:
        if not self.has("Setting", "key", "value"):
            return LegacySettings()
        return LegacySettings({str(k): str(v) for k, v in self._query('SELECT key, value FROM "Setting"')
                               if v is not None})


def _server_ids(targets: Any) -> list[str]:
    """Server ids from the request's ``targets`` JSON (``[{"serverId": ...}]``), ignoring anything else."""
    if not isinstance(targets, list):
        return []
    return [str(t["serverId"]) for t in targets if isinstance(t, Mapping) and t.get("serverId")]


def _download(values: tuple[Any, ...]) -> LegacyDownload | None:
    if values[0] is None:
        return None
    return LegacyDownload(*values)


def _work_row(row: tuple[Any, ...]) -> LegacyWorkRow:
    n = len(_DOWNLOAD_COLUMNS)
    downloads = tuple(d for d in (_download(row[24:24 + n]), _download(row[24 + n:24 + 2 * n]))
                      if d is not None)
    return LegacyWorkRow(
        source=row[0], id=row[1], request_id=row[2], group_key=row[3], kind=row[4], season=row[5],
        episode=row[6], title=row[7], status=row[8], current_step=row[9], step_context=row[10], error=row[11],
        next_retry_at=row[12], source_file_path=row[13], air_date=row[14], downloaded_at=row[15],
        encoded_at=row[16], delivered_at=row[17], created_at=row[18], updated_at=row[19], quality_met=row[20],
        available_releases=row[21], downloads=downloads)
