"""The importer of legacy Annex databases (`annexd import-annex`, issue 15).

Read side: :mod:`reader` (the only module that talks to the legacy PostgreSQL), :mod:`rows` (what it yields),
:mod:`plan` and :mod:`releases` (pure: legacy rows to an import plan), :mod:`secrets` (the legacy key file and
AES-256-GCM), :mod:`config_plan` and :mod:`config_writer` (annexd's TOML config from the legacy settings),
:mod:`report` (what a person reads) and :mod:`command` (the dry run that ties them together).
"""
