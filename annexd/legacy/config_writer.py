"""Render a :class:`~annexd.legacy.config_plan.ConfigPlan` as an annexd TOML config file (pure rendering with
tomlkit; :func:`write_config` is the only I/O).

The file is complete for the imported parts: ``state_dir`` and the database URL of the annexd that imported (so
``secret:NAME`` references find the same secret store and master key; a URL holding a password is left to
``ANNEX_DATABASE_URL``), ``[tmdb]``, and every list entry. Secrets appear only as ``secret:NAME``.

Disabled entries are written with ``enabled = false`` and a comment saying what to fill in (``style="flag"``):
annexd's loader checks them and sets them aside. ``style="commented"`` writes them as TOML comments instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomlkit
from tomlkit.items import Table

from annexd.config import Config
from annexd.legacy.config_plan import ConfigPlan, Entry

SECTIONS = ("encode_profiles", "media_servers", "targets", "indexers", "download_clients")
Style = Literal["flag", "commented"]

HEADER = """\
# annexd configuration written by `annexd import-annex` from a legacy Annex database.
# Secrets are references to annexd's encrypted store (secret:NAME); no secret value is in this file.
# Entries written disabled say why and what to fill in; check the file with `annexd --config FILE check-config`.
"""


def _table(entry: Entry, style: Style) -> Table:
    table = tomlkit.table()
    if entry.comment:
        table.add(tomlkit.comment(entry.comment))
    if not entry.enabled and style == "flag":
        table.add("enabled", False)
    for key, value in entry.values.items():
        table.add(key, value)
    return table


def _block(entry: Entry, style: Style) -> str:
    doc = tomlkit.document()
    aot = tomlkit.aot()
    aot.append(_table(entry, style))
    doc.append(entry.section, aot)
    text = tomlkit.dumps(doc)
    if entry.enabled or style == "flag":
        return text
    return "# (disabled)\n" + "".join(f"# {line}\n" if line else "#\n" for line in text.splitlines())


def _head(plan: ConfigPlan, base: Config | None) -> str:
    doc = tomlkit.document()
    if base is not None:
        doc.add("state_dir", str(base.state_path))
        database = tomlkit.table()
        if base.database.url and _has_password(base.database.url):
            database.add(tomlkit.comment("the database URL holds a password: give it as ANNEX_DATABASE_URL"))
        else:
            database.add("url", base.database_url)
        doc.add("database", database)
    if plan.tmdb_secret:
        tmdb = tomlkit.table()
        tmdb.add("api_key", f"secret:{plan.tmdb_secret}")
        doc.add("tmdb", tmdb)
    return tomlkit.dumps(doc)


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return True


def render(plan: ConfigPlan, base: Config | None = None, style: Style = "flag") -> str:
    """The config file's text."""
    blocks: list[str] = [HEADER, _head(plan, base)]
    for section in SECTIONS:
        blocks += [_block(e, style) for e in _ordered(plan.section(section))]
    return "\n".join(b.rstrip("\n") + "\n" for b in blocks if b.strip())


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    """Enabled entries first, so a reader sees what runs before what waits for them."""
    return sorted(entries, key=lambda e: not e.enabled)


def write_config(path: str | Path, text: str) -> None:
    """Write atomically (a temporary file in the same directory, then a rename), mode 0644."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def values_of(text: str) -> dict[str, Any]:
    """The parsed file (for tests and the dry-run summary)."""
    return tomlkit.parse(text).unwrap()
