"""Pure domain logic: pipeline states, releases, quality, search decisions, naming, file mapping, torrent
metadata, download states, coalescing, provider health. No module here does I/O or imports requests, peewee,
pykka, aiohttp, cryptography, prometheus_client or structlog (tests/domain/test_purity.py checks it)."""
