"""Fixture DDL for legacy Annex databases of both shapes, written from the schema description in
shared/reference/legacy-annex-schema.md (not the legacy project's code): quoted identifiers, text cuid ids,
``timestamp(3) without time zone``, PostgreSQL enum types."""

from __future__ import annotations

from typing import Literal

Shape = Literal["dual", "later"]

PROCESSING_STATUS = ["PENDING", "SEARCHING", "FOUND", "DOWNLOADING", "DOWNLOADED", "ENCODING", "ENCODED",
                     "DELIVERING", "COMPLETED", "FAILED", "CANCELLED"]
TV_EPISODE_STATUS = ["PENDING", "AWAITING", "SEARCHING", "DOWNLOADING", "DOWNLOADED", "ENCODING", "ENCODED",
                     "DELIVERING", "COMPLETED", "FAILED", "SKIPPED", "QUALITY_UNAVAILABLE"]
REQUEST_STATUS = ["PENDING", "PROCESSING", "SEARCHING", "FOUND", "DISCOVERED", "AWAITING", "QUALITY_UNAVAILABLE",
                  "DOWNLOADING", "DOWNLOADED", "ENCODING", "ENCODED", "DELIVERING", "COMPLETED", "PARTIAL", "FAILED",
                  "CANCELLED"]
DOWNLOAD_STATUS = ["PENDING", "DOWNLOADING", "COMPLETED", "IMPORTING", "PROCESSED", "CLEANED", "FAILED", "CANCELLED",
                   "STALLED"]


def _enum(name: str, labels: list[str]) -> str:
    return f'CREATE TYPE "{name}" AS ENUM (' + ", ".join(f"'{label}'" for label in labels) + ");\n"


def _enums(shape: Shape) -> str:
    statuses = PROCESSING_STATUS[:3] + ["DISCOVERED"] + PROCESSING_STATUS[3:] if shape == "later" else PROCESSING_STATUS
    enums = [
        _enum("MediaType", ["MOVIE", "TV"]), _enum("ProcessingType", ["MOVIE", "EPISODE"]),
        _enum("ProcessingStatus", statuses), _enum("RequestStatus", REQUEST_STATUS),
        _enum("DownloadStatus", DOWNLOAD_STATUS), _enum("Protocol", ["SFTP", "RSYNC", "SMB", "LOCAL"]),
        _enum("MediaServerType", ["PLEX", "EMBY", "NONE"]),
        _enum("Resolution", ["4K", "2K", "1080p", "720p", "480p"]), _enum("Codec", ["AV1", "HEVC", "H264"]),
        _enum("IndexerType", ["TORZNAB", "NEWZNAB", "RSS", "TORRENTLEECH", "UNIT3D", "CARDIGANN"]),
        _enum("ApprovalStatus", ["PENDING", "APPROVED", "REJECTED", "SKIPPED", "TIMEOUT"]),
    ]
    if shape == "dual":
        enums.append(_enum("TvEpisodeStatus", TV_EPISODE_STATUS))
    else:
        enums += [_enum("DownloadClientType", ["QBITTORRENT", "SABNZBD", "NZBGET"]),
                  _enum("DownloadFileKind", ["VIDEO_MAIN", "VIDEO_SAMPLE", "SUBTITLE", "EXTRA", "UNKNOWN"])]
    return "".join(enums)


COMMON = """
CREATE TABLE "User" (
    "id" text PRIMARY KEY, "email" text NOT NULL UNIQUE, "username" text NOT NULL,
    "isAdmin" boolean NOT NULL DEFAULT false, "enabled" boolean NOT NULL DEFAULT true,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "MediaRequest" (
    "id" text PRIMARY KEY, "type" "MediaType" NOT NULL, "tmdbId" integer, "title" text NOT NULL, "year" integer,
    "requestedSeasons" integer[], "requestedEpisodes" jsonb, "targets" jsonb NOT NULL DEFAULT '[]',
    "status" "RequestStatus" NOT NULL DEFAULT 'PENDING', "progress" double precision NOT NULL DEFAULT 0,
    "error" text, "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL,
    "completedAt" timestamp(3), "userId" text REFERENCES "User"("id") ON DELETE SET NULL,
    "selectedRelease" jsonb, "torrentHash" text, "availableReleases" jsonb, "requiredResolution" text,
    "posterPath" text, "monitoring" boolean NOT NULL DEFAULT false, "subscribe" boolean NOT NULL DEFAULT false,
    "releaseName" text, "releaseResolution" text, "releaseSource" text, "releaseCodec" text,
    "releaseFileSize" bigint, "releaseIndexerName" text, "releaseSeeders" integer, "releaseLeechers" integer,
    "releasePublishDate" timestamp(3), "releaseScore" double precision
);
CREATE TABLE "Download" (
    "id" text PRIMARY KEY, "requestId" text REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "torrentHash" text NOT NULL UNIQUE, "torrentName" text NOT NULL, "magnetUri" text, "savePath" text,
    "contentPath" text, "status" "DownloadStatus" NOT NULL DEFAULT 'PENDING',
    "progress" double precision NOT NULL DEFAULT 0, "size" bigint, "error" text, "failureReason" text,
    "mediaType" "MediaType", "isSeasonPack" boolean NOT NULL DEFAULT false, "season" integer,
    "attemptCount" integer NOT NULL DEFAULT 0, "alternativeReleases" jsonb, "lastProgressAt" timestamp(3),
    "seedCount" integer, "peerCount" integer, "startedAt" timestamp(3), "completedAt" timestamp(3),
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL
);
CREATE TABLE "ProcessingItem" (
    "id" text PRIMARY KEY, "requestId" text NOT NULL REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "type" "ProcessingType" NOT NULL, "tmdbId" integer, "title" text NOT NULL, "year" integer,
    "season" integer, "episode" integer, "status" "ProcessingStatus" NOT NULL DEFAULT 'PENDING',
    "currentStep" text, "stepContext" jsonb, "attempts" integer NOT NULL DEFAULT 0,
    "maxAttempts" integer NOT NULL DEFAULT 5, "lastError" text, "nextRetryAt" timestamp(3),
    "progress" integer NOT NULL DEFAULT 0, "startedAt" timestamp(3), "completedAt" timestamp(3),
    "downloadId" text REFERENCES "Download"("id") ON DELETE SET NULL, "encodingJobId" text,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL,
    "sourceFilePath" text, "airDate" timestamp(3), "downloadedAt" timestamp(3), "encodedAt" timestamp(3),
    "deliveredAt" timestamp(3), "qualityMet" boolean, "availableReleases" jsonb
);
CREATE INDEX "ProcessingItem_requestId_idx" ON "ProcessingItem"("requestId");
CREATE TABLE "StorageServer" (
    "id" text PRIMARY KEY, "name" text NOT NULL, "host" text, "port" integer, "protocol" "Protocol" NOT NULL,
    "username" text, "encryptedPassword" text, "encryptedPrivateKey" text, "pathMovies" text, "pathTv" text,
    "maxResolution" "Resolution", "maxFileSize" bigint, "preferredCodec" "Codec", "maxBitrate" integer,
    "mediaServerType" "MediaServerType" NOT NULL DEFAULT 'NONE', "mediaServerUrl" text, "mediaServerApiKey" text,
    "mediaServerLibraryMovies" text[], "mediaServerLibraryTv" text[], "enabled" boolean NOT NULL DEFAULT true
);
CREATE TABLE "Indexer" (
    "id" text PRIMARY KEY, "name" text NOT NULL, "type" "IndexerType" NOT NULL, "url" text NOT NULL,
    "apiKey" text, "categoriesMovies" integer[], "categoriesTv" integer[], "priority" integer NOT NULL DEFAULT 25,
    "enabled" boolean NOT NULL DEFAULT true, "rateLimitEnabled" boolean NOT NULL DEFAULT false,
    "rateLimitMax" integer, "rateLimitWindowSecs" integer
);
CREATE TABLE "Setting" ("key" text PRIMARY KEY, "value" text NOT NULL, "updatedAt" timestamp(3) NOT NULL);
CREATE TABLE "ApprovalQueue" (
    "id" text PRIMARY KEY, "requestId" text NOT NULL REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "status" "ApprovalStatus" NOT NULL DEFAULT 'PENDING', "reason" text, "requiredRole" text,
    "processedBy" text, "processedAt" timestamp(3), "comment" text
);
"""

DUAL = """
CREATE TABLE "TvEpisode" (
    "id" text PRIMARY KEY, "requestId" text NOT NULL REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "season" integer NOT NULL, "episode" integer NOT NULL, "title" text, "airDate" timestamp(3),
    "downloadId" text REFERENCES "Download"("id") ON DELETE SET NULL, "sourceFilePath" text,
    "status" "TvEpisodeStatus" NOT NULL DEFAULT 'PENDING', "error" text, "downloadedAt" timestamp(3),
    "encodedAt" timestamp(3), "deliveredAt" timestamp(3),
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL,
    "progress" double precision NOT NULL DEFAULT 0, "availableReleases" jsonb, "qualityMet" boolean,
    UNIQUE ("requestId", "season", "episode")
);
"""

LATER = """
ALTER TABLE "ProcessingItem" ADD COLUMN "checkpoint" jsonb, ADD COLUMN "errorHistory" jsonb,
    ADD COLUMN "lastProgressUpdate" timestamp(3), ADD COLUMN "lastProgressValue" double precision,
    ADD COLUMN "skipUntil" timestamp(3), ADD COLUMN "allSearchResults" jsonb, ADD COLUMN "cooldownEndsAt" timestamp(3),
    ADD COLUMN "discoveredAt" timestamp(3), ADD COLUMN "lastSearchedAt" timestamp(3);
CREATE TABLE "download_clients" (
    "id" text PRIMARY KEY, "name" text NOT NULL UNIQUE, "type" "DownloadClientType" NOT NULL, "url" text NOT NULL,
    "username" text, "priority" integer NOT NULL DEFAULT 1, "enabled" boolean NOT NULL DEFAULT true,
    "supportedTypes" text[], "base_dir" text, "is_healthy" boolean NOT NULL DEFAULT true,
    "last_health_check" timestamp(3), "last_error" text, "total_downloads" integer NOT NULL DEFAULT 0,
    "active_downloads" integer NOT NULL DEFAULT 0, "created_at" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" timestamp(3) NOT NULL
);
ALTER TABLE "Download" ADD COLUMN "codec" text, ADD COLUMN "indexerName" text, ADD COLUMN "publishDate" timestamp(3),
    ADD COLUMN "qualityScore" integer, ADD COLUMN "resolution" text, ADD COLUMN "source" text,
    ADD COLUMN "fileMapStatus" text, ADD COLUMN "mapAttempts" integer NOT NULL DEFAULT 0, ADD COLUMN "client_hash" text,
    ADD COLUMN "download_client_id" text REFERENCES "download_clients"("id") ON DELETE SET NULL;
CREATE TABLE "DownloadFile" (
    "id" text PRIMARY KEY, "downloadId" text NOT NULL REFERENCES "Download"("id") ON DELETE CASCADE,
    "relativePath" text NOT NULL, "absolutePath" text, "sizeBytes" bigint, "kind" "DownloadFileKind" NOT NULL,
    "season" integer, "episode" integer, "episodeEnd" integer, "airDate" timestamp(3), "absoluteNumber" integer,
    "parserVersion" text, "confidence" double precision, "rejected" boolean NOT NULL DEFAULT false,
    "rejectReason" text, "processingItemId" text UNIQUE REFERENCES "ProcessingItem"("id") ON DELETE SET NULL
);
CREATE TABLE "RequestTarget" (
    "id" text PRIMARY KEY, "requestId" text NOT NULL REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "serverId" text NOT NULL REFERENCES "StorageServer"("id") ON DELETE CASCADE, "encodingProfileId" text,
    "order" integer NOT NULL DEFAULT 0, "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "RequestedEpisode" (
    "id" text PRIMARY KEY, "requestId" text NOT NULL REFERENCES "MediaRequest"("id") ON DELETE CASCADE,
    "season" integer NOT NULL, "episode" integer NOT NULL, "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "Settings" (
    "id" text PRIMARY KEY DEFAULT 'default', "discoveryCooldownMinutes" integer NOT NULL DEFAULT 5,
    "searchRetryIntervalHours" integer NOT NULL DEFAULT 6
);
"""


def ddl(shape: Shape) -> str:
    """The whole schema of one shape."""
    return _enums(shape) + COMMON + (DUAL if shape == "dual" else LATER)
