"""What annexd grabs from an IRC announce (pure: no I/O; the release name parser and the time are passed in).

A completed announce becomes a :class:`~annexd.domain.quality.Release`, so it is matched and judged exactly as
a search or feed result (annexd.domain.feed_match). Its download link is built from the definition's ``match``
templates with the network's settings, and those hold secrets (passkeys, auth keys), so the release is stored
*without* it: ``download_url`` and ``magnet`` stay empty and ``announce`` keeps what rebuilds the link -- the
network, the definition and the announce's own vars, which came from a public channel. At grab time
:func:`announce_links` builds the link again with the network's current settings; it lives only in memory.

The release's guid is the torrent's info hash when the announce names one, else the definition and its torrent
id (the same torrent announced twice is one release). An announce is made when a torrent is uploaded, and its
uploader seeds it: the release counts one seeder (``min_seeders`` of a profile is met), its real number is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from annexd.domain.announce.definition import Definition
from annexd.domain.announce.release import ReleaseError, build_release
from annexd.domain.quality import Release, make_guid
from annexd.domain.release_links import secret_free
from annexd.domain.torrents import normalize_info_hash

UPLOADER_SEEDS = 1


@dataclass(frozen=True)
class AnnounceSource:
    """One configured network's way to build links: its definition, the values of the definition's settings
    (secrets, resolved) and the base URL (the person's, else the definition's first URL)."""

    network: str
    definition: Definition
    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    base_url: str = ""

    def build(self, vars: Mapping[str, str]) -> dict[str, Any]:
        """autobrr's release for these vars, links included (raises ReleaseError)."""
        return build_release(vars, self.definition, self.values, self.base_url)


def announce_release(vars: Mapping[str, str], source: AnnounceSource, parse: Callable[[str], Any],
                     now: datetime) -> Release:
    """The release an announce describes, without its download link; ReleaseError when it cannot be one (no
    name, no link the definition can build, a template that fails)."""
    built = source.build(vars)
    if not (built.get("download_url") or built.get("magnet_uri")):
        raise ReleaseError(f"{source.definition.identifier} builds no download link for this announce")
    title = str(built["title"]).strip()
    if not title:
        raise ReleaseError("the announce has an empty torrentName")
    info_hash = normalize_info_hash(built.get("torrent_hash") or None)
    identity = f"{source.definition.identifier}:{built.get('torrent_id') or title}"
    info_url = built.get("info_url")
    reference = {"network": source.network, "definition": source.definition.identifier, "vars": dict(vars),
                 "info_url": info_url if secret_free(info_url, source.values.values()) else None}
    return Release(guid=make_guid(info_hash, identity), title=title, size=int(built.get("size") or 0),
                   indexer=source.network, parsed=parse(title), seeders=UPLOADER_SEEDS, peers=UPLOADER_SEEDS,
                   info_hash=info_hash, published=now, announce=reference)


def announce_links(release: Mapping[str, Any], sources: Mapping[str, AnnounceSource]) -> tuple[str | None, str | None]:
    """The download link and magnet of a stored announce release, built again with its network's settings.
    ReleaseError when the network is no longer configured (or reads another definition now) or the link fails."""
    reference = release.get("announce")
    if not isinstance(reference, Mapping) or not isinstance(reference.get("vars"), Mapping):
        raise ReleaseError("the release holds no announce to build its link from")
    network = str(reference.get("network"))
    source = sources.get(network)
    if source is None:
        raise ReleaseError(f"the IRC network {network!r} that announced it is not configured")
    if source.definition.identifier != reference.get("definition"):
        raise ReleaseError(f"the IRC network {network!r} now reads {source.definition.identifier}, "
                           f"not {reference.get('definition')}")
    built = source.build({str(k): str(v) for k, v in reference["vars"].items()})
    if not (built.get("download_url") or built.get("magnet_uri")):
        raise ReleaseError(f"{source.definition.identifier} builds no download link for this announce")
    return built.get("download_url"), built.get("magnet_uri")
