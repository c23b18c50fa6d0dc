"""The store: the database from a URL (db), the peewee models, migrations applied (migrate) and the named
queries every other layer goes through (queries)."""
