"""The one validation of a configuration, used by `annexd check-config` and by `annexd run`: the file and the
environment (:mod:`annexd.config`), then what the configuration points at: every secret reference resolves
(``env:`` set, ``file:`` readable, ``secret:`` in the encrypted store) and every SSH key file is readable by
this user and private. Every problem is collected and raised once, as a ConfigError.

Not pure: it reads the environment, files and, for ``secret:`` references, the database (never creating it).
Disabled list entries are checked for their own settings only (annexd.config): what they point at may wait.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from annexd.config import SECRET_FIELDS, Config, load_with_problems
from annexd.errors import ConfigError, StoreError
from annexd.secrets import MasterKey, SecretRef, SecretStore, resolve

REFERENCE_KINDS = ("env", "file", "secret")

# (key in the config, reference): what a lookup in the encrypted store is asked for.
Wanted = list[tuple[str, str]]
StoreCheck = Callable[[Config, Wanted], list[str]]


def check_config(path: Path | str | None, env: Mapping[str, str], store_check: StoreCheck) -> Config:
    """The configuration, or ConfigError listing every problem. ``store_check`` looks up the ``secret:``
    references in the encrypted store; its StoreError (database unavailable, pending migrations) propagates
    when nothing else is wrong, and is listed with the other problems otherwise."""
    cfg, problems = load_with_problems(path, env)
    refs = list(references(cfg)) + [(k, v) for k, v in key_files(cfg) if _is_reference(v)]
    problems += [p for key, ref in refs if (p := local_problem(key, ref, env)) is not None]
    problems += [p for key, value in key_files(cfg) if not _is_reference(value)
                 and (p := key_file_problem(key, value)) is not None]
    stored = [(key, ref) for key, ref in refs if ref.startswith("secret:")]
    if stored:
        try:
            problems += store_check(cfg, stored)
        except StoreError as exc:
            if not problems:
                raise
            problems.append(f"secret: references not checked: {exc}")
    if problems:
        raise ConfigError(problems)
    return cfg


def references(cfg: Config) -> Iterator[tuple[str, str]]:
    """(key, value) of every secret field of the enabled configuration that holds a value."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for entry in value:
                yield from _secret_fields(entry, f"{f.name}[{getattr(entry, 'name', '?')}].")
        elif dataclasses.is_dataclass(value):
            yield from _secret_fields(value, f"{f.name}.")


def _secret_fields(settings: Any, prefix: str) -> Iterator[tuple[str, str]]:
    for f in dataclasses.fields(settings):
        key, value = f"{prefix}{f.name}", getattr(settings, f.name)
        if not (f.name in SECRET_FIELDS or f.metadata.get("secret")) or not value:
            continue
        if isinstance(value, tuple):
            yield from ((f"{key}[{i}]", str(v)) for i, v in enumerate(value) if v)
        else:
            yield key, str(value)


def key_files(cfg: Config) -> Iterator[tuple[str, str]]:
    """(key, value) of the SSH key file of every enabled remote target: a path, or a secret reference."""
    for target in cfg.targets:
        if target.protocol != "local" and target.key_file:
            yield f"targets[{target.name}].key_file", target.key_file


def _is_reference(value: str) -> bool:
    kind, sep, target = value.partition(":")
    return bool(sep and target) and kind in REFERENCE_KINDS


def local_problem(key: str, ref: str, env: Mapping[str, str]) -> str | None:
    """What is wrong with an ``env:`` or ``file:`` reference (secret: ones are for the store; a literal is fine)."""
    if ref.startswith("secret:"):
        return None
    try:
        resolve(SecretRef.parse(ref), environ=env)
    except ConfigError as exc:
        return f"{key}: {'; '.join(exc.problems)}"
    return None


def key_file_problem(key: str, path: str) -> str | None:
    """Why ssh could not use the private key at ``path`` (missing, unreadable, readable by others), or None."""
    try:
        st = os.stat(path)
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"{key}: {path} cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{key}: {path} is not a regular file"
    if st.st_mode & 0o077:
        return f"{key}: {path} is readable by group or others and ssh refuses it (run: chmod 600 {path})"
    return None


def store_problems(cfg: Config, wanted: Wanted, open_db: Callable[[Config], Any]) -> list[str]:
    """What is wrong with each ``secret:`` reference, looked up in the database ``open_db`` opens (StoreError
    when it cannot; it must not create a database) with the master key in the state directory."""
    from store.secret_backend import DbSecretBackend

    db = open_db(cfg)
    try:
        with db.connection_context():
            backend = DbSecretBackend()
            names = set(backend.names())
            store, key_problem = _store(cfg, backend) if names else (None, None)
            return [p for key, ref in wanted if (p := _stored_problem(key, ref, names, store, key_problem))]
    finally:
        close_all = getattr(db, "close_all", None)
        if close_all is not None:
            close_all()


def _store(cfg: Config, backend: Any) -> tuple[SecretStore | None, str | None]:
    """The store with the existing master key (never creating one), or why there is none."""
    try:
        return SecretStore(backend, MasterKey.load_existing(cfg.master_key_path)), None
    except ConfigError as exc:
        return None, "; ".join(exc.problems)


def _stored_problem(key: str, ref: str, names: set[str], store: SecretStore | None, key_problem: str | None
                    ) -> str | None:
    name = ref.removeprefix("secret:")
    if name not in names:
        return f"{key}: secret:{name} is not in the secret store (run `annexd secret set {name}`)"
    if store is None:
        return f"{key}: secret:{name} is stored but cannot be read: {key_problem}"
    try:
        resolve(ref, store=store)
    except ConfigError as exc:
        return f"{key}: {'; '.join(exc.problems)}"
    return None
