"""Add media_request.title_key: what makes two requests one title (kind + TMDB id, or kind + normalised title +
year), indexed, so a new request for a title already requested is found and merged into it. Existing rows are
filled in with a frozen copy of the key function (annexd.domain.request_specs.title_key as of this migration)."""

import unicodedata

import peewee as pw
from peewee_migrate import Migrator


def _normalise(title: str) -> str:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def _key(kind: str, tmdb_id: int | None, title: str, year: int | None) -> str:
    if tmdb_id is not None:
        return f"{kind}:tmdb:{tmdb_id}"
    return f"{kind}:title:{_normalise(title)}:{year if year is not None else ''}"


def _fill(database: pw.Database) -> None:
    rows = database.execute_sql("SELECT id, kind, tmdb_id, title, year FROM media_request").fetchall()
    for row_id, kind, tmdb_id, title, year in rows:
        database.execute_sql("UPDATE media_request SET title_key = %s WHERE id = %s".replace(
            "%s", database.param), (_key(kind, tmdb_id, title or "", year)[:600], row_id))


def migrate(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.add_fields("media_request", title_key=pw.CharField(max_length=600, null=True, index=True))
    migrator.run(_fill, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake: bool = False) -> None:
    migrator.drop_index("media_request", "title_key")
    migrator.remove_fields("media_request", "title_key")
